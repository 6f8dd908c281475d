"""Admin registration for the rewards app: program snippets, the grant ledger, redemptions,
grant approval/revocation. (The dashboards are cms/dashboard.py.)"""

import django_filters
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.panels import ObjectList
from wagtail.admin.ui.tables import Column
from wagtail.snippets.action_menu import UnpublishMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import (
    CreateView,
    EditView,
    SnippetViewSetGroup,
    UnpublishView,
)

from advocates.admin.snippets import KanshaSnippetViewSet
from rewards import (
    report_hooks,  # noqa: F401  (reports: admin URLs and Reports menu items)
    selectors,
    services,
)
from rewards.forms import PerkForm, RewardRuleForm
from rewards.models import (
    DiscountCode,
    DiscountType,
    FraudFlag,
    GrantStatus,
    Perk,
    PerkFulfilment,
    PointsEntry,
    Redemption,
    RedemptionReversal,
    RewardGrant,
    RewardKind,
    RewardRule,
    StripeEvent,
    Tier,
    TriggerKind,
)
from rewards.money import money_display


class RefusedFormMixin:
    """A money form that does not validate answers 400 (with the form and its messages), so
    a script posting it learns that nothing was stored, as the API and commands say."""

    def form_invalid(self, form):
        response = super().form_invalid(form)  # type: ignore[misc]
        response.status_code = 400
        return response


class MoneyCreateView(RefusedFormMixin, CreateView):
    pass


class MoneyEditView(RefusedFormMixin, EditView):
    pass


class RewardRuleUnpublishView(UnpublishView):
    # Publishing a rule waits for finance (the "Reward rule approval" workflow, from
    # cms/migrations/0006_reward_rule_workflow.py); stopping one stops spending, so whoever
    # may change rules may unpublish them at once.
    permission_required = "change"


class RewardRuleUnpublishMenuItem(UnpublishMenuItem):
    """Unpublish for those who may change rules but not publish them (Wagtail's own item
    shows for those who may publish)."""

    def is_shown(self, context):
        user = context["request"].user
        if context.get("locked_for_user") or context["view"] != "edit":
            return False
        return (context["instance"].live and user.has_perm("rewards.change_rewardrule")
                and not user.has_perm("rewards.publish_rewardrule"))


@hooks.register("register_snippet_action_menu_item")
def reward_rule_unpublish_menu_item(model):
    return RewardRuleUnpublishMenuItem(order=20) if model is RewardRule else None


def _status_label(text, tone: str = "") -> str:
    return format_html('<span class="w-status{}">{}</span>',
                       f" w-status--{tone}" if tone else "", text)


def _rule_state(rule: RewardRule) -> str:
    """Where a rule stands, in words: draft, awaiting finance, live (with draft changes)."""
    in_review = getattr(rule, "in_review", False)
    if rule.live and in_review:
        return _status_label(_("Live · changes awaiting finance"), "primary")
    if in_review:
        return _status_label(_("Awaiting finance"), "label")
    if rule.live and rule.has_unpublished_changes:
        return _status_label(_("Live · draft changes"), "primary")
    if rule.live:
        return _status_label(_("Live"), "primary")
    return _status_label(_("Draft"), "label")


def _published_state(obj) -> str:
    if obj.live and obj.has_unpublished_changes:
        return _status_label(_("Live · draft changes"), "primary")
    return _status_label(_("Live"), "primary") if obj.live else _status_label(_("Draft"),
                                                                               "label")


def _rule_trigger(rule: RewardRule) -> str:
    if rule.trigger == TriggerKind.EVENTS_IN_DAYS:
        return _("%(n)s acts of advocacy in %(d)s days") % {"n": rule.trigger_count,
                                                            "d": rule.trigger_days}
    if rule.trigger == TriggerKind.TIER_REACHED:
        return _("Reaching %(tier)s") % {"tier": rule.trigger_tier}
    if rule.trigger == TriggerKind.REVIEW:
        return _("A review of %(n)s★ or more") % {"n": rule.trigger_min_rating}
    return str(rule.get_trigger_display())


def _rule_reward(rule: RewardRule) -> str:
    if rule.reward_kind == RewardKind.PERK:
        return str(rule.perk) if rule.perk_id else "—"
    if rule.discount_type == DiscountType.PERCENT:
        return _("%(percent)s%% off") % {"percent": rule.percent_off}
    return _("%(amount)s off") % {"amount": money_display(rule.amount_off_minor or 0,
                                                         rule.currency)}


def _money_column(name: str, label, amount: str, currency: str = "currency") -> Column:
    def show(obj) -> str:
        value = getattr(obj, amount)
        return "—" if value is None else money_display(value, getattr(obj, currency) or "")
    return Column(name, label=label, accessor=show, classname="kansha-num")


class RuleStateFilterSet(WagtailFilterSet):
    state = django_filters.ChoiceFilter(
        label=_("State"), method="filter_state",
        choices=[("in_review", _("Awaiting finance")), ("live", _("Live")),
                 ("draft", _("Draft"))])

    class Meta:
        model = RewardRule
        fields = ["trigger", "reward_kind"]

    def filter_state(self, queryset, name, value):
        if value == "in_review":
            return queryset.filter(in_review=True)
        if value == "live":
            return queryset.filter(live=True)
        if value == "draft":
            return queryset.filter(live=False, in_review=False)
        return queryset


class RewardRuleViewSet(KanshaSnippetViewSet):
    model = RewardRule
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "pick"
    menu_label = _("Reward rules")
    unpublish_view_class = RewardRuleUnpublishView
    edit_handler = ObjectList(RewardRule.panels, base_form_class=RewardRuleForm)
    list_display = ["name", Column("when", label=_("When"), accessor=_rule_trigger),
                    Column("gives", label=_("Gives"), accessor=_rule_reward),
                    "period", _money_column("budget", _("Monthly budget"),
                                            "monthly_budget_minor"),
                    Column("state", label=_("State"), accessor=_rule_state)]
    filterset_class = RuleStateFilterSet
    search_fields = ["name"]
    empty_message = _("No reward rules yet. Add one: it goes live once finance approves it.")

    def get_queryset(self, request):
        return RewardRule.objects.select_related("trigger_tier", "perk").annotate(
            in_review=selectors.rule_in_review_expression())


class TierViewSet(KanshaSnippetViewSet):
    model = Tier
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "crosshairs"
    menu_label = _("Tiers")
    list_display = ["__str__", "level", "threshold", "window_days"]
    empty_message = _("No tiers yet. Add Bronze, Silver, Gold… with the points each needs.")


class PerkViewSet(KanshaSnippetViewSet):
    model = Perk
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "pick"
    menu_label = _("Perks")
    edit_handler = ObjectList(Perk.panels, base_form_class=PerkForm)
    list_display = ["name", "kind", "stock",
                    _money_column("unit_cost", _("Unit cost"), "unit_cost_minor"),
                    Column("state", label=_("State"), accessor=_published_state)]
    list_filter = ["kind", "live"]
    search_fields = ["name"]
    empty_message = _("No perks yet. Add one (with its stock) and a rule or tier that gives "
                      "it.")


def _grant_actions(grant: RewardGrant) -> str:
    """Approve / revoke buttons for the grant list (POST forms to the views below)."""
    parts = []
    if grant.status == GrantStatus.PENDING_APPROVAL:
        parts.append(format_html(
            '<a class="button button-small" href="{}">{}</a>',
            reverse("kansha_rewards_grant_confirm", args=[grant.pk, "approve"]),
            _("Approve…")))
    if grant.status in services.grants.REVOCABLE:
        parts.append(format_html(
            '<a class="button button-small button-secondary no" href="{}">{}</a>',
            reverse("kansha_rewards_grant_confirm", args=[grant.pk, "revoke"]),
            _("Revoke…")))
    return format_html(" ".join(["{}"] * len(parts)), *parts) if parts else ""


def _grant_delivery(grant: RewardGrant) -> str:
    """Where the reward message stands, for the grant list."""
    if grant.private_channel_wait_since is not None and grant.outreach_id is None:
        return format_html('<span class="w-status w-status--label">{}</span>',
                           _("awaiting a private channel since %(day)s") % {
                               "day": f"{grant.private_channel_wait_since:%Y-%m-%d}"})
    return ""


class RewardGrantViewSet(KanshaSnippetViewSet):
    """List, inspect and history only. A grant is money: it moves only through
    `grant_approve` and `grant_revoke` (the Review column, `grant_confirm` below), which check
    `rewards.change_rewardgrant` themselves; its fields (status, cost, reward) are the ledger
    finance reconciles against, so no form edits them, superusers' included."""

    model = RewardGrant
    icon = "tag"
    menu_label = _("Grants")
    refused = frozenset({"add", "change", "delete"})
    list_display = ["__str__", "rule", "advocate", "status",
                    _money_column("cost", _("Cost"), "cost_minor"),
                    "created_at", "expires_at",
                    Column("delivery", label=_("Message"), accessor=_grant_delivery),
                    Column("actions", label=_("Review"), accessor=_grant_actions)]
    list_filter = ["status", "rule", "reward_kind", "currency"]
    list_export = ["id", "rule", "advocate", "status", "period_key", "reward_kind", "cost_minor",
                   "currency", "created_at", "issued_at", "delivered_at", "redeemed_at",
                   "expires_at"]
    ordering = ["-created_at"]
    inspect_view_enabled = True
    inspect_view_fields = ["rule", "advocate", "status", "period_key", "review_reasons",
                           "reward", "cost_minor", "currency", "tier", "outreach",
                           "created_at", "approved_at", "issued_at", "delivered_at",
                           "redeemed_at", "expires_at", "private_channel_wait_since",
                           "last_error"]
    empty_message = _("No grants yet. Live reward rules make them as advocates qualify.")

    def get_queryset(self, request):
        return RewardGrant.objects.select_related("rule", "advocate")


class DiscountCodeViewSet(KanshaSnippetViewSet):
    """Codes are made by issuing a grant (locally or as a Stripe promotion code)."""

    model = DiscountCode
    icon = "key"
    menu_label = _("Codes")
    refused = frozenset({"add", "change", "delete"})
    list_display = ["code", "provider", "grant", "times_redeemed", "expires_at"]
    list_filter = ["provider", "currency"]
    search_fields = ["code"]
    inspect_view_enabled = True
    empty_message = _("No codes yet. Each discount grant gets one when it is issued.")


class RedemptionViewSet(KanshaSnippetViewSet):
    """Redemptions are recorded by the till (`redeem_code`, the API) and by Stripe's
    webhooks, never typed in."""

    model = Redemption
    icon = "tick"
    menu_label = _("Redemptions")
    refused = frozenset({"add", "change", "delete"})
    list_display = ["code", "rule", "source",
                    _money_column("order", _("Order (paid)"), "order_amount_minor"),
                    _money_column("discount", _("Discount"), "discount_minor"),
                    "redeemed_at"]
    list_filter = ["source", "currency", "rule"]
    list_export = ["id", "grant_id", "rule", "code", "source", "source_id",
                   "order_amount_minor", "discount_minor", "currency", "redeemed_at"]
    inspect_view_enabled = True
    empty_message = _("No redemptions yet. The till and Stripe record one each time a code "
                      "is used.")


class RedemptionReversalViewSet(KanshaSnippetViewSet):
    """Refunds and disputes (and their put-backs): appended by the Stripe event that caused
    them, never changed, so read-only to everyone."""

    model = RedemptionReversal
    icon = "undo"
    menu_label = _("Refunds and disputes")
    refused = frozenset({"add", "change", "delete"})
    list_display = ["redemption", "kind", "source_id",
                    _money_column("order", _("Order (paid)"), "order_amount_minor"),
                    _money_column("discount", _("Discount"), "discount_minor"),
                    "reversed_at"]
    list_filter = ["kind", "currency"]
    list_export = ["id", "redemption_id", "kind", "source_id", "order_amount_minor",
                   "discount_minor", "currency", "reversed_at", "created_at"]
    inspect_view_enabled = True
    empty_message = _("No refunds or disputes. Stripe's webhook records each one here.")


class PerkFulfilmentEditView(EditView):
    """Status changes go through the service: allowed moves only, stock released on cancel."""

    def is_valid(self, form):
        from rewards.services.perks import NEXT

        if not super().is_valid(form):
            return False
        current = PerkFulfilment.objects.get(pk=self.object.pk).status
        status = form.cleaned_data["status"]
        if status != current and status not in NEXT.get(current, set()):
            form.add_error("status", f"A perk that is {current} cannot become {status}.")
            self.produced_error_code = "validation_error"
            self.produced_error_message = self.get_error_message()
            return False
        return True

    def save_instance(self):
        services.perk_fulfilment_update(fulfilment_id=self.object.pk,
                                        status=self.form.cleaned_data["status"],
                                        user=self.request.user)
        PerkFulfilment.objects.filter(pk=self.object.pk).update(
            notes=self.form.cleaned_data["notes"])
        return PerkFulfilment.objects.get(pk=self.object.pk)


class PerkFulfilmentViewSet(KanshaSnippetViewSet):
    model = PerkFulfilment
    edit_view_class = PerkFulfilmentEditView
    icon = "doc-full"
    menu_label = _("Perk fulfilment")
    refused = frozenset({"add", "delete"})
    empty_message = _("Nothing to fulfil yet. A perk grant adds a row here to track shipping.")
    list_display = ["perk", "grant", "status", "updated_at"]
    list_filter = ["status", "perk"]


class FraudFlagViewSet(KanshaSnippetViewSet):
    model = FraudFlag
    icon = "warning"
    menu_label = _("Fraud flags")
    refused = frozenset({"add", "delete"})
    empty_message = _("No fraud flags. Kansha's fraud guards raise one when an advocate's "
                      "activity looks wrong (Settings › Rewards settings).")
    list_display = ["advocate", "reason", "created_at", "cleared_at"]
    list_filter = ["reason"]
    inspect_view_enabled = True


class PointsEntryViewSet(KanshaSnippetViewSet):
    model = PointsEntry
    icon = "plus"
    menu_label = _("Points ledger")
    refused = frozenset({"add", "change", "delete"})
    empty_message = _("No points yet. Each confirmed act of advocacy adds a line.")
    list_display = ["advocate", "points", "reason", "occurred_at", "expires_at"]
    list_filter = ["kind", "platform"]
    inspect_view_enabled = True


class StripeEventViewSet(KanshaSnippetViewSet):
    model = StripeEvent
    icon = "link"
    menu_label = _("Stripe events")
    refused = frozenset({"add", "change", "delete"})
    empty_message = _("No Stripe events yet. Stripe's webhook stores each one here.")
    list_display = ["event_id", "type", "received_at", "processed_at", "outcome"]
    list_filter = ["type"]
    inspect_view_enabled = True


class RewardsGroup(SnippetViewSetGroup):
    menu_label = _("Rewards")
    menu_icon = "pick"
    menu_order = 250
    items = (RewardRuleViewSet, TierViewSet, PerkViewSet, RewardGrantViewSet,
             DiscountCodeViewSet, RedemptionViewSet, RedemptionReversalViewSet,
             PerkFulfilmentViewSet, FraudFlagViewSet,
             PointsEntryViewSet, StripeEventViewSet)


register_snippet(RewardsGroup)


# --- Grant approval and revocation ---------------------------------------------------------


def grant_confirm(request, grant_id: int, action: str):
    """GET: a confirmation page; POST: approve or revoke (with a reason)."""
    from django.template.response import TemplateResponse

    if not request.user.has_perm("rewards.change_rewardgrant"):
        raise PermissionDenied
    grant = get_object_or_404(RewardGrant.objects.select_related("rule", "advocate"),
                              pk=grant_id)
    if action not in ("approve", "revoke"):
        raise PermissionDenied
    if request.method == "POST":
        try:
            if action == "approve":
                services.grant_approve(grant_id=grant.pk, user=request.user)
                messages.success(request, _("Grant #%(id)s approved; its code is being issued "
                                            "and its message queued.") % {"id": grant.pk})
            else:
                reason = request.POST.get("reason", "").strip()
                if not reason:
                    messages.error(request, _("Say why the grant is revoked."))
                    return redirect(request.path)
                services.grant_revoke(grant_id=grant.pk, reason=reason, user=request.user)
                messages.success(request, _("Grant #%(id)s revoked.") % {"id": grant.pk})
        except services.GrantError as exc:
            messages.error(request, str(exc))
        return redirect(reverse("wagtailsnippets_rewards_rewardgrant:list"))
    return TemplateResponse(request, "rewards/admin/grant_confirm.html",
                            {"grant": grant, "action": action})


@hooks.register("register_admin_urls")
def register_rewards_urls():
    return [path("kansha-rewards/grants/<int:grant_id>/<str:action>/",
                 grant_confirm,
                 name="kansha_rewards_grant_confirm")]


@hooks.register("register_log_actions")
def register_rewards_log_actions(actions):
    actions.register_action("kansha.perk.fulfilment", _("Perk fulfilment"),
                            _("Changed a perk's fulfilment"))
