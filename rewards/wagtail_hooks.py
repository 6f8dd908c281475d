"""Admin registration for the rewards app: program snippets, the grant ledger, redemptions,
grant approval/revocation. (The dashboards are cms/dashboard.py.)"""

from typing import Any

import django_filters
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse, reverse_lazy
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.panels import ObjectList
from wagtail.admin.ui.tables import Column
from wagtail.models import TaskState
from wagtail.snippets.action_menu import UnpublishMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import (
    CreateView,
    EditView,
    RevisionsCompareView,
    SnippetViewSetGroup,
    UnpublishView,
    WorkflowActionView,
)

from advocates.admin.advocate_list import AdvocateListExtension
from advocates.admin.menu import PermissionMenuItem
from advocates.admin.snippets import KanshaIndexView, KanshaSnippetViewSet
from advocates.models import Advocate
from advocates.spreadsheets import Formatted, amount_format
from rewards import (
    report_hooks,  # noqa: F401  (reports: admin URLs and Reports menu items)
    selectors,
    services,
)
from rewards.admin import profile, till
from rewards.forms import PerkForm, RewardRuleForm
from rewards.models import (
    ChangeStatus,
    DiscountCode,
    DiscountType,
    FraudFlag,
    GrantStatus,
    Perk,
    PerkFulfilment,
    PointsAdjustment,
    PointsEntry,
    PointsSettingsChange,
    Redemption,
    RedemptionReversal,
    RewardGrant,
    RewardKind,
    RewardRule,
    RewardsSettings,
    StripeEvent,
    Tier,
    TriggerKind,
)
from rewards.money import currency_exponent, money_display, money_to_units
from rewards.services.perks import NEXT


class RefusedFormMixin:
    """A money form that does not validate answers 400 (with the form and its messages), so
    a script posting it learns that nothing was stored, as the API and commands say."""

    def form_invalid(self, form):
        response = super().form_invalid(form)  # type: ignore[misc]
        response.status_code = 400
        return response


class FinanceApprovedMixin:
    """Rules, tiers and perks go live only through the "Money change approval" workflow, by
    a finance approver who did not make the change (rewards.models.FinanceApprovalTask).

    Nobody publishes them from the editor, superusers and Finance included (publishing is
    Finance's permission only because Wagtail publishes an approval as the approver). An
    approver approving from the editor approves what was submitted: edits made on the way are
    refused instead of being published under the approval."""

    def get_available_actions(self):
        actions = super().get_available_actions()  # type: ignore[misc]
        return [a for a in actions if a != "publish"]

    def save_instance(self):
        if getattr(self, "action", None) == "workflow-action":
            if self.form.has_changed():  # type: ignore[attr-defined]
                raise PermissionDenied(_("Approve what was submitted, or request changes: "
                                         "edits cannot be approved by their own author."))
            return self.object  # type: ignore[attr-defined]
        return super().save_instance()  # type: ignore[misc]

    def get_success_message(self, instance=None):
        if getattr(self, "action", None) == "workflow-action" and \
                getattr(self, "workflow_action", "") == "approve":
            return approved_message(instance or self.object)  # type: ignore[attr-defined]
        return super().get_success_message(instance)  # type: ignore[misc]


def approved_message(obj) -> str:
    obj.refresh_from_db()
    if obj.live and not obj.workflow_in_progress:
        return _("Approved: “%(object)s” is live.") % {"object": obj}
    return _("Approved: “%(object)s” moves to the next step.") % {"object": obj}


class MoneyCreateView(FinanceApprovedMixin, RefusedFormMixin, CreateView):
    pass


class MoneyEditView(FinanceApprovedMixin, RefusedFormMixin, EditView):
    pass


class MoneyWorkflowActionView(WorkflowActionView):
    """Approving from the dashboard or the editor's menu says what happened."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if self.action_name == "approve":
            self.task_state.refresh_from_db()
            if self.task_state.status == TaskState.STATUS_APPROVED:
                messages.success(request, approved_message(self.object))
        return response


class MoneyCompareView(RevisionsCompareView):
    """"Compare with previous version" for whoever may decide the change waiting on it (a
    finance approver has no `change` permission on rules, tiers or perks)."""

    def user_has_permission(self, permission):
        if super().user_has_permission(permission):
            return True
        task = self.object.current_workflow_task
        return bool(task and task.specific.get_actions(self.object, self.request.user))


@hooks.register("construct_snippet_action_menu")
def money_models_have_no_publish_button(menu_items, request, context):
    if context.get("model") in (RewardRule, Tier, Perk):
        menu_items[:] = [item for item in menu_items if item.name != "action-publish"]


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
    if obj.workflow_in_progress:
        return _status_label(_("Live · changes awaiting finance") if obj.live
                             else _("Awaiting finance"), "primary" if obj.live else "label")
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
    revisions_compare_view_class = MoneyCompareView
    workflow_action_view_class = MoneyWorkflowActionView
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
    revisions_compare_view_class = MoneyCompareView
    workflow_action_view_class = MoneyWorkflowActionView
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "crosshairs"
    menu_label = _("Tiers")
    list_display = ["__str__", "level", "threshold", "window_days",
                    Column("state", label=_("State"), accessor=_published_state)]
    empty_message = _("No tiers yet. Add Bronze, Silver, Gold… with the points each needs.")


class PerkViewSet(KanshaSnippetViewSet):
    model = Perk
    revisions_compare_view_class = MoneyCompareView
    workflow_action_view_class = MoneyWorkflowActionView
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


class MoneyIndexView(KanshaIndexView):
    """A listing of rows with amounts (`*_minor` beside the row's `currency`): its XLSX holds
    each amount in the currency's units with its ISO 4217 decimals (¥4,500, $25.00), and the
    heading drops "minor". The CSV keeps minor units, as stored."""

    def xlsx_value(self, field, value, item):
        currency = getattr(item, "currency", "")
        if field.endswith("_minor") and isinstance(value, int) and currency:
            return Formatted(money_to_units(value, currency),
                             amount_format(currency_exponent(currency)))
        return value

    def xlsx_heading(self, field, heading):
        return heading.removesuffix(" minor") if field.endswith("_minor") else heading


class RewardGrantViewSet(KanshaSnippetViewSet):
    """List, inspect and history only. A grant is money: it moves only through
    `grant_approve` and `grant_revoke` (the Review column, `grant_confirm` below), which check
    `rewards.change_rewardgrant` themselves; its fields (status, cost, reward) are the ledger
    finance reconciles against, so no form edits them, superusers' included."""

    model = RewardGrant
    icon = "tag"
    menu_label = _("Grants")
    index_view_class = MoneyIndexView
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
    index_view_class = MoneyIndexView
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
    index_view_class = MoneyIndexView
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
    # A manual adjustment's line says who asked for it and which other person approved it.
    list_export = ["id", "advocate_id", "advocate", "points", "reason", "kind", "platform",
                   "event_id", "adjustment_id", "adjustment_made_by", "adjustment_approved_by",
                   "occurred_at", "expires_at"]
    export_headings = {"adjustment_made_by": _("Adjustment asked for by"),
                       "adjustment_approved_by": _("Adjustment approved by")}
    inspect_view_enabled = True

    def get_queryset(self, request):
        return PointsEntry.objects.select_related("advocate").annotate(
            adjustment_made_by=F("adjustment__made_by__username"),
            adjustment_approved_by=F("adjustment__decided_by__username"))


class StripeEventViewSet(KanshaSnippetViewSet):
    model = StripeEvent
    icon = "link"
    menu_label = _("Stripe events")
    refused = frozenset({"add", "change", "delete"})
    empty_message = _("No Stripe events yet. Stripe's webhook stores each one here.")
    list_display = ["event_id", "type", "received_at", "processed_at", "outcome"]
    list_filter = ["type"]
    inspect_view_enabled = True


# --- Points settings changes and manual adjustments: made by one person, decided by another --


def _change_review(kind: str):
    def show(change) -> str:
        if change.status != ChangeStatus.PENDING:
            return ""
        return format_html(
            '<a class="button button-small" href="{}">{}</a> '
            '<a class="button button-small button-secondary no" href="{}">{}</a>',
            reverse("kansha_rewards_change_confirm", args=[kind, change.pk, "approve"]),
            _("Approve…"),
            reverse("kansha_rewards_change_confirm", args=[kind, change.pk, "reject"]),
            _("Reject…"))
    return show


def _settings_change_summary(change: PointsSettingsChange) -> str:
    return format_html_join(
        ", ", "{}: {} → {}",
        ((RewardsSettings._meta.get_field(name).verbose_name, change.before.get(name),
          change.after.get(name)) for name in change.changed_fields()))


class PointsSettingsChangeViewSet(KanshaSnippetViewSet):
    """Made by saving Settings › Rewards settings with new points values; decided here."""

    model = PointsSettingsChange
    icon = "cog"
    menu_label = _("Points settings changes")
    refused = frozenset({"add", "change", "delete"})
    list_display = [Column("changes", label=_("Change"), accessor=_settings_change_summary),
                    "made_by", "made_at", "status", "decided_by", "decided_at",
                    Column("review", label=_("Review"), accessor=_change_review("settings"))]
    list_filter = ["status"]
    inspect_view_enabled = True
    empty_message = _("No points settings changes. Saving new points values in Settings › "
                      "Rewards settings asks finance here.")


class PointsAdjustmentCreateView(RefusedFormMixin, CreateView):
    def get_initial_form_instance(self):
        # "Propose a points adjustment…" on a profile links here with ?advocate=<id>.
        advocate = self.request.GET.get("advocate", "")
        if advocate.isdigit() and Advocate.objects.filter(pk=advocate).exists():
            return PointsAdjustment(advocate_id=int(advocate))
        return super().get_initial_form_instance()

    def save_instance(self):
        data = self.form.cleaned_data
        return services.points_adjustment_create(
            advocate_id=data["advocate"].pk, points=data["points"], reason=data["reason"],
            user=self.request.user)

    def get_success_message(self, instance=None):
        return _("Adjustment asked for: it reaches the ledger once another person in finance "
                 "approves it.")

    def get_success_buttons(self):
        return []  # it is never edited


class PointsAdjustmentViewSet(KanshaSnippetViewSet):
    model = PointsAdjustment
    add_view_class = PointsAdjustmentCreateView
    icon = "plus"
    menu_label = _("Points adjustments")
    refused = frozenset({"change", "delete"})
    list_display = ["advocate", "points", "reason", "made_by", "made_at", "status",
                    "decided_by",
                    Column("review", label=_("Review"), accessor=_change_review("adjustment"))]
    list_filter = ["status"]
    inspect_view_enabled = True
    empty_message = _("No points adjustments. Add one to give or take back points by hand; "
                      "finance approves it.")

    def get_queryset(self, request):
        return PointsAdjustment.objects.select_related("advocate", "made_by", "decided_by")


class RewardsGroup(SnippetViewSetGroup):
    menu_label = _("Rewards")
    menu_icon = "pick"
    menu_order = 250
    items = (RewardRuleViewSet, TierViewSet, PerkViewSet, RewardGrantViewSet,
             DiscountCodeViewSet, RedemptionViewSet, RedemptionReversalViewSet,
             PerkFulfilmentViewSet, FraudFlagViewSet,
             PointsEntryViewSet, PointsAdjustmentViewSet, PointsSettingsChangeViewSet,
             StripeEventViewSet)


register_snippet(RewardsGroup)


# --- Grant approval and revocation ---------------------------------------------------------


def grant_confirm(request, grant_id: int, action: str):
    """GET: a confirmation page; POST: approve or revoke (with a reason)."""
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


CHANGE_KINDS: dict[str, tuple[Any, Any, str, str]] = {
    "settings": (PointsSettingsChange, services.points_settings_change_decide, "change_id",
                 "wagtailsnippets_rewards_pointssettingschange:list"),
    "adjustment": (PointsAdjustment, services.points_adjustment_decide, "adjustment_id",
                   "wagtailsnippets_rewards_pointsadjustment:list"),
}


def change_confirm(request, kind: str, change_id: int, action: str):
    """GET: what would change (before and after), for the approver; POST: approve or reject.
    The service refuses the person who made the change, superusers too."""
    if kind not in CHANGE_KINDS or action not in ("approve", "reject"):
        raise PermissionDenied
    model, decide, id_name, list_url = CHANGE_KINDS[kind]
    if not request.user.has_perm(f"rewards.change_{model._meta.model_name}"):
        raise PermissionDenied
    change = get_object_or_404(model, pk=change_id)
    if request.method == "POST":
        try:
            decide(**{id_name: change.pk}, user=request.user, approve=action == "approve",
                   note=request.POST.get("note", "").strip())
        except services.ApprovalError as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
        messages.success(request, _("Approved: the change is live.") if action == "approve"
                         else _("Rejected: nothing changed."))
        return redirect(reverse(list_url))
    rows = []
    if kind == "settings":
        rows = [(RewardsSettings._meta.get_field(name).verbose_name, change.before.get(name),
                 change.after.get(name)) for name in change.changed_fields()]
    return TemplateResponse(request, "rewards/admin/change_confirm.html", {
        "change": change, "kind": kind, "action": action, "rows": rows,
        "own": change.made_by_id == request.user.pk})


@hooks.register("register_admin_urls")
def register_rewards_urls():
    return [path("kansha-rewards/grants/<int:grant_id>/<str:action>/",
                 grant_confirm,
                 name="kansha_rewards_grant_confirm"),
            path("kansha-rewards/changes/<str:kind>/<int:change_id>/<str:action>/",
                 change_confirm, name="kansha_rewards_change_confirm")]


@hooks.register("after_edit_setting")
def points_settings_wait_for_finance(request, instance):
    """New points values typed in Rewards settings were held back by RewardsSettingsForm;
    record them for a finance approver."""
    proposal = getattr(instance, "points_proposal", None)
    if not proposal:
        return
    change = services.points_settings_change_propose(values=proposal, user=request.user)
    if change is not None:
        messages.warning(request, _("The new points values wait for a finance approver who "
                                    "is not you (Rewards › Points settings changes); the "
                                    "other settings are saved."))


@hooks.register("register_log_actions")
def register_rewards_log_actions(actions):
    actions.register_action("kansha.perk.fulfilment", _("Perk fulfilment"),
                            _("Changed a perk's fulfilment"))


# --- People: rewards' columns on the advocates list, the profile (rewards/admin/profile.py) ---


@hooks.register("kansha_advocate_list")
def advocate_list_standing() -> AdvocateListExtension:
    return AdvocateListExtension(
        annotate=selectors.advocates_with_standing,
        columns=[Column("tier", label=_("Tier"), accessor=lambda a: a.tier_name or "—"),
                 Column("points", label=_("Points"), accessor="points_balance",
                        classname="kansha-num")],
        filters={"tier": django_filters.ModelChoiceFilter(
            label=_("Tier"), field_name="reward_tier__tier",
            queryset=Tier.objects.filter(live=True).order_by("threshold"))})


@hooks.register("kansha_merge_clues")
def merge_clues_stripe_customer():
    return selectors.merge_clues_stripe_customer()


@hooks.register("register_admin_urls")
def register_profile_urls():
    return profile.admin_urls()


# --- The till (rewards/admin/till.py): store staff and finance --------------------------------


@hooks.register("register_admin_urls")
def register_till_urls():
    return till.admin_urls()


@hooks.register("register_admin_menu_item")
def register_till_menu_item():
    return PermissionMenuItem(_("Till"), reverse_lazy("kansha_till"), name="till",
                              icon_name="tag", order=170, permission=till.TILL_PERMISSION)
