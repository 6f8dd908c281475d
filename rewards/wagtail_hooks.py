"""Admin registration for the rewards app: program snippets, the grant ledger, redemptions,
grant approval/revocation. (The dashboards are cms/dashboard.py.)"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from wagtail import hooks
from wagtail.admin.ui.tables import Column
from wagtail.permission_policies import ModelPermissionPolicy
from wagtail.permissions import register_permission_policy
from wagtail.snippets.action_menu import UnpublishMenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import (
    CreateView,
    EditView,
    SnippetViewSet,
    SnippetViewSetGroup,
    UnpublishView,
)

from rewards import (
    report_hooks,  # noqa: F401  (reports: admin URLs and Reports menu items)
    services,
)
from rewards.models import (
    DiscountCode,
    FraudFlag,
    GrantStatus,
    Perk,
    PerkFulfilment,
    PointsEntry,
    Redemption,
    RedemptionReversal,
    RewardGrant,
    RewardRule,
    StripeEvent,
    Tier,
)


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


class RewardRuleViewSet(SnippetViewSet):
    model = RewardRule
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "pick"
    menu_label = "Reward rules"
    unpublish_view_class = RewardRuleUnpublishView
    list_display = ["name", "trigger", "reward_kind", "period", "monthly_budget_minor",
                    "currency", "live"]
    list_filter = ["trigger", "reward_kind", "live"]
    search_fields = ["name"]


class TierViewSet(SnippetViewSet):
    model = Tier
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "crosshairs"
    menu_label = "Tiers"
    list_display = ["__str__", "level", "threshold", "window_days"]


class PerkViewSet(SnippetViewSet):
    model = Perk
    add_view_class = MoneyCreateView
    edit_view_class = MoneyEditView
    icon = "pick"
    menu_label = "Perks"
    list_display = ["name", "kind", "stock", "unit_cost_minor", "currency", "live"]
    list_filter = ["kind", "live"]
    search_fields = ["name"]


def _grant_actions(grant: RewardGrant) -> str:
    """Approve / revoke buttons for the grant list (POST forms to the views below)."""
    parts = []
    if grant.status == GrantStatus.PENDING_APPROVAL:
        parts.append(format_html(
            '<a class="button button-small" href="{}">Approve…</a>',
            reverse("kansha_rewards_grant_confirm", args=[grant.pk, "approve"])))
    if grant.status in services.grants.REVOCABLE:
        parts.append(format_html(
            '<a class="button button-small button-secondary no" href="{}">Revoke…</a>',
            reverse("kansha_rewards_grant_confirm", args=[grant.pk, "revoke"])))
    return format_html(" ".join(["{}"] * len(parts)), *parts) if parts else ""


def _grant_delivery(grant: RewardGrant) -> str:
    """Where the reward message stands, for the grant list."""
    if grant.private_channel_wait_since is not None and grant.outreach_id is None:
        return format_html('<span class="w-status w-status--label">{}</span>',
                           f"awaiting a private channel since "
                           f"{grant.private_channel_wait_since:%Y-%m-%d}")
    return ""


class ReadOnlyPermissionPolicy(ModelPermissionPolicy):
    """Ledger rows are read in the admin, never edited: viewing as usual; add, change and
    delete refused to everyone, superusers too, so no form, button or link offers them.

    A grant is money: it moves only through `grant_approve` and `grant_revoke` (the Review
    column, `grant_confirm` below), which check `rewards.change_rewardgrant` themselves. A
    reversal is appended by the Stripe event that caused it and never changes.
    """

    WRITES = frozenset({"add", "change", "delete"})

    def user_has_permission(self, user, action):
        return action not in self.WRITES and super().user_has_permission(user, action)

    def users_with_any_permission(self, actions):
        actions = [a for a in actions if a not in self.WRITES]
        if not actions:
            return get_user_model().objects.none()
        return super().users_with_any_permission(actions)


register_permission_policy(RewardGrant, ReadOnlyPermissionPolicy(RewardGrant), exact_class=True)
register_permission_policy(RedemptionReversal, ReadOnlyPermissionPolicy(RedemptionReversal),
                           exact_class=True)


class RewardGrantViewSet(SnippetViewSet):
    """List, inspect and history only (see ReadOnlyPermissionPolicy)."""

    model = RewardGrant
    icon = "tag"
    menu_label = "Grants"
    list_display = ["__str__", "rule", "advocate", "status", "cost_minor", "currency",
                    "created_at", "expires_at",
                    Column("delivery", label="Message", accessor=_grant_delivery),
                    Column("actions", label="Review", accessor=_grant_actions)]
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

    copy_view_enabled = False

    def get_queryset(self, request):
        return RewardGrant.objects.select_related("rule", "advocate")

    def get_urlpatterns(self):
        # The generic create, edit and delete views are not even routed: a grant's fields
        # (status, cost, reward) are the ledger finance reconciles against.
        return [p for p in super().get_urlpatterns()
                if getattr(p, "name", None) not in {"add", "edit", "delete"}]


class DiscountCodeViewSet(SnippetViewSet):
    model = DiscountCode
    icon = "key"
    menu_label = "Codes"
    list_display = ["code", "provider", "grant", "times_redeemed", "expires_at",
                    "stripe_promotion_code_id"]
    list_filter = ["provider", "currency"]
    search_fields = ["code"]
    inspect_view_enabled = True


class RedemptionViewSet(SnippetViewSet):
    model = Redemption
    icon = "tick"
    menu_label = "Redemptions"
    list_display = ["code", "rule", "source", "order_amount_minor", "discount_minor",
                    "currency", "redeemed_at"]
    list_filter = ["source", "currency", "rule"]
    list_export = ["id", "grant_id", "rule", "code", "source", "source_id",
                   "order_amount_minor", "discount_minor", "currency", "redeemed_at"]
    inspect_view_enabled = True


class RedemptionReversalViewSet(SnippetViewSet):
    """Refunds and disputes (and their put-backs), read-only (ReadOnlyPermissionPolicy)."""

    model = RedemptionReversal
    icon = "undo"
    menu_label = "Refunds and disputes"
    list_display = ["redemption", "kind", "source_id", "order_amount_minor", "discount_minor",
                    "currency", "reversed_at"]
    list_filter = ["kind", "currency"]
    list_export = ["id", "redemption_id", "kind", "source_id", "order_amount_minor",
                   "discount_minor", "currency", "reversed_at", "created_at"]
    inspect_view_enabled = True
    copy_view_enabled = False

    def get_urlpatterns(self):
        return [p for p in super().get_urlpatterns()
                if getattr(p, "name", None) not in {"add", "edit", "delete"}]


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


class PerkFulfilmentViewSet(SnippetViewSet):
    model = PerkFulfilment
    edit_view_class = PerkFulfilmentEditView
    icon = "doc-full"
    menu_label = "Perk fulfilment"
    list_display = ["perk", "grant", "status", "updated_at"]
    list_filter = ["status", "perk"]


class FraudFlagViewSet(SnippetViewSet):
    model = FraudFlag
    icon = "warning"
    menu_label = "Fraud flags"
    list_display = ["advocate", "reason", "created_at", "cleared_at"]
    list_filter = ["reason"]
    inspect_view_enabled = True


class PointsEntryViewSet(SnippetViewSet):
    model = PointsEntry
    icon = "plus"
    menu_label = "Points ledger"
    list_display = ["advocate", "points", "reason", "occurred_at", "expires_at"]
    list_filter = ["kind", "platform"]
    inspect_view_enabled = True


class StripeEventViewSet(SnippetViewSet):
    model = StripeEvent
    icon = "link"
    menu_label = "Stripe events"
    list_display = ["event_id", "type", "received_at", "processed_at", "outcome"]
    list_filter = ["type"]
    inspect_view_enabled = True


class RewardsGroup(SnippetViewSetGroup):
    menu_label = "Rewards"
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
                messages.success(request, f"Grant #{grant.pk} approved; its code is being "
                                          "issued and its message queued.")
            else:
                reason = request.POST.get("reason", "").strip()
                if not reason:
                    messages.error(request, "Say why the grant is revoked.")
                    return redirect(request.path)
                services.grant_revoke(grant_id=grant.pk, reason=reason, user=request.user)
                messages.success(request, f"Grant #{grant.pk} revoked.")
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
    actions.register_action("kansha.perk.fulfilment", "Perk fulfilment",
                            "Changed a perk's fulfilment")
