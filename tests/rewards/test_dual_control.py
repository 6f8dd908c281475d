"""Dual control by person (issue 16): a money change goes live only after a finance approver
who did not make it approves it, superusers included (rewards.models.FinanceApprovalTask,
rewards/services/approvals.py, cms/migrations/0009_money_changes_need_another_approver.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from wagtail.models import TaskState

from rewards import selectors, services
from rewards.models import (
    ChangeStatus,
    Perk,
    PointsAdjustment,
    PointsEntry,
    PointsSettingsChange,
    RewardRule,
    RewardsSettings,
    Tier,
)
from tests.factories import AdvocateFactory
from tests.rewards.test_money_validation import PERK_FORM, TIER_FORM
from tests.rewards.test_rule_workflow import FORM as RULE_FORM
from tests.roles import FINANCE, MARKETING, user_in_role

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _superuser(name: str = "root"):
    return get_user_model().objects.create_superuser(name, f"{name}@example.com", "pw-tests")


def _url(model: str, name: str, *args) -> str:
    return reverse(f"wagtailsnippets_rewards_{model}:{name}", args=args)


def _submit_rule(client: Client) -> RewardRule:
    response = client.post(_url("rewardrule", "add"), {**RULE_FORM, "action-submit": "Submit"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return RewardRule.objects.get(name=RULE_FORM["name"])


def _approve(client: Client, model: str, obj):
    task_state = obj.current_workflow_state.current_task_state
    return client.post(_url(model, "workflow_action", obj.pk, "approve", task_state.pk))


def _messages(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


# --- Rules, tiers and perks: the workflow refuses the change's makers -------------------------


def test_a_superuser_cannot_approve_a_rule_they_submitted():
    root = _superuser()
    client = _client(root)
    rule = _submit_rule(client)
    task = rule.current_workflow_task.specific
    assert task.get_actions(rule, root) == []
    response = _approve(client, "rewardrule", rule)
    assert response.status_code == 403
    rule.refresh_from_db()
    assert not rule.live
    assert rule.current_workflow_state.current_task_state.status == TaskState.STATUS_IN_PROGRESS
    # Another superuser may: dual control is by person, not by role.
    response = _approve(_client(_superuser("root2")), "rewardrule", rule)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.live


def test_a_person_in_marketing_and_finance_cannot_approve_their_own_rule():
    both = user_in_role(MARKETING, "yui-and-ken")
    both.groups.add(Group.objects.get(name=FINANCE))
    client = _client(both)
    rule = _submit_rule(client)
    assert _approve(client, "rewardrule", rule).status_code == 403
    rule.refresh_from_db()
    assert not rule.live
    # It is not even offered on their dashboard ("Awaiting your review").
    task = rule.current_workflow_task.specific
    assert not task.get_task_states_user_can_moderate(both).exists()
    # Another finance person approves, and is told what happened.
    finance = _client(user_in_role(FINANCE))
    response = _approve(finance, "rewardrule", rule)
    rule.refresh_from_db()
    assert rule.live
    assert f"Approved: “{rule.name}” is live." in _messages(response)


def test_an_approver_who_edited_the_change_becomes_one_of_its_makers():
    marketing = _client(user_in_role(MARKETING))
    rule = _submit_rule(marketing)
    root = _superuser()
    # The superuser edits the submitted rule (a new revision by them) ...
    rule.monthly_budget_minor = 90000
    rule.save_revision(user=root)
    # ... so they cannot approve it; a finance person who did not touch it can.
    assert _approve(_client(root), "rewardrule", rule).status_code == 403
    assert _approve(_client(user_in_role(FINANCE)), "rewardrule", rule).status_code == 302
    rule.refresh_from_db()
    assert rule.live
    assert rule.monthly_budget_minor == 90000


def test_approving_in_the_editor_refuses_edits_made_on_the_way():
    rule = _submit_rule(_client(user_in_role(MARKETING)))
    finance = _client(user_in_role(FINANCE))
    task_state = rule.current_workflow_state.current_task_state
    form = {**RULE_FORM, "monthly_budget_minor": "999999", "action-workflow-action": "on",
            "workflow-action-name": "approve"}
    response = finance.post(_url("rewardrule", "edit", rule.pk), form)
    rule.refresh_from_db()
    assert not rule.live
    assert response.status_code == 400
    # The same approval without edits publishes what marketing submitted.
    response = finance.post(_url("rewardrule", "edit", rule.pk),
                            {**form, "monthly_budget_minor": "50000"})
    rule.refresh_from_db()
    assert rule.live
    assert rule.monthly_budget_minor == 50000
    assert TaskState.objects.get(pk=task_state.pk).status == TaskState.STATUS_APPROVED
    assert f"Approved: “{rule.name}” is live." in _messages(response)


@pytest.mark.parametrize(("model", "form"), [
    ("rewardrule", RULE_FORM), ("tier", TIER_FORM), ("perk", PERK_FORM)])
def test_nobody_publishes_a_money_change_from_the_editor(model, form):
    client = _client(_superuser())
    client.post(_url(model, "add"), {**form, "action-publish": "Publish"})
    obj = {"rewardrule": RewardRule, "tier": Tier, "perk": Perk}[model].objects.get()
    assert not obj.live
    assert obj.live_revision_id is None
    editor = client.get(_url(model, "edit", obj.pk)).content.decode()
    assert 'name="action-publish"' not in editor


def test_a_new_tier_counts_only_once_finance_approves_it():
    marketing = _client(user_in_role(MARKETING))
    response = marketing.post(_url("tier", "add"), {**TIER_FORM, "action-submit": "Submit"})
    assert response.status_code == 302, response.content.decode()[:2000]
    tier = Tier.objects.get(name="Silver")
    assert not tier.live
    assert list(selectors.tiers_public()) == []
    assert _approve(_client(user_in_role(FINANCE)), "tier", tier).status_code == 302
    tier.refresh_from_db()
    assert tier.live
    assert list(selectors.tiers_public()) == [tier]


def test_a_perk_cost_change_waits_for_finance_who_can_compare_it_and_stock_moves_on():
    perk = Perk.objects.create(name="Tote bag", stock=10, unit_cost_minor=900, currency="jpy")
    perk.save_revision().publish()
    marketing = _client(user_in_role(MARKETING))
    response = marketing.post(_url("perk", "edit", perk.pk),
                              {**PERK_FORM, "unit_cost_minor": "1500", "action-submit": "Submit"})
    assert response.status_code == 302, response.content.decode()[:2000]
    perk.refresh_from_db()
    assert (perk.unit_cost_minor, perk.live) == (900, True)
    # Three units are granted while the change waits.
    for _ in range(3):
        assert services.perk_stock_reserve(perk_id=perk.pk)
    finance = _client(user_in_role(FINANCE))
    revision = perk.current_workflow_state.current_task_state.revision
    compare = finance.get(_url("perk", "revisions_compare", perk.pk, perk.live_revision_id,
                               revision.pk))
    assert compare.status_code == 200
    assert "1500" in compare.content.decode() or "1,500" in compare.content.decode()
    assert _approve(finance, "perk", perk).status_code == 302
    perk.refresh_from_db()
    # The cost is what finance approved; the stock is what is left, not the 10 of the draft.
    assert (perk.unit_cost_minor, perk.stock) == (1500, 7)


def test_finance_cannot_compare_revisions_of_what_it_is_not_asked_to_approve():
    perk = Perk.objects.create(name="Mug", stock=5, unit_cost_minor=500, currency="jpy")
    perk.save_revision().publish()
    perk.refresh_from_db()
    first = perk.live_revision_id
    second = perk.save_revision().pk
    finance = _client(user_in_role(FINANCE))
    assert finance.get(_url("perk", "revisions_compare", perk.pk, first, second)
                       ).status_code == 403


MONEY_SNIPPETS = {  # model → (its add form, a field holding money, a changed value)
    "rewardrule": (RULE_FORM, "monthly_budget_minor", "70000"),
    "tier": (TIER_FORM, "threshold", "650"),
    "perk": (PERK_FORM, "unit_cost_minor", "1500"),
}
MODELS = {"rewardrule": RewardRule, "tier": Tier, "perk": Perk}


@pytest.mark.parametrize("model", list(MONEY_SNIPPETS))
def test_a_superuser_cannot_approve_their_own_rule_tier_or_perk(model):
    form = MONEY_SNIPPETS[model][0]
    root = _client(_superuser())
    assert root.post(_url(model, "add"), {**form, "action-submit": "Submit"}).status_code == 302
    obj = MODELS[model].objects.get()
    assert _approve(root, model, obj).status_code == 403
    obj.refresh_from_db()
    assert not obj.live
    response = _approve(_client(_superuser("root2")), model, obj)
    obj.refresh_from_db()
    assert obj.live
    assert f"Approved: “{obj}” is live." in _messages(response)


@pytest.mark.parametrize("model", list(MONEY_SNIPPETS))
def test_finance_compares_a_changed_rule_tier_or_perk_with_the_live_one_then_approves(model):
    form, field, value = MONEY_SNIPPETS[model]
    marketing = _client(user_in_role(MARKETING))
    marketing.post(_url(model, "add"), {**form, "action-submit": "Submit"})
    obj = MODELS[model].objects.get()
    finance = _client(user_in_role(FINANCE))
    assert _approve(finance, model, obj).status_code == 302
    obj.refresh_from_db()
    live = obj.live_revision_id
    # Marketing changes the money field of the live object; it waits for finance.
    response = marketing.post(_url(model, "edit", obj.pk),
                              {**form, field: value, "action-submit": "Submit"})
    assert response.status_code == 302, response.content.decode()[:2000]
    obj.refresh_from_db()
    assert str(getattr(obj, field)) != value
    revision = obj.current_workflow_state.current_task_state.revision
    compare = finance.get(_url(model, "revisions_compare", obj.pk, live, revision.pk))
    assert compare.status_code == 200
    page = compare.content.decode()
    assert value in page or f"{int(value):,}" in page
    response = _approve(finance, model, obj)
    obj.refresh_from_db()
    assert str(getattr(obj, field)) == value
    assert f"Approved: “{obj}” is live." in _messages(response)


# --- Points settings: held back until another person approves ---------------------------------


def _settings_form(**values) -> dict:
    row = RewardsSettings.load()
    form = {f.name: getattr(row, f.name) for f in RewardsSettings._meta.fields
            if f.name not in ("id",)}
    form.update(values)
    return {k: ("" if v is None else v) for k, v in form.items()}


def _post_settings(client: Client, **values):
    url = reverse("wagtailsettings:edit", args=["rewards", "rewardssettings",
                                                RewardsSettings.load().pk])
    return client.post(url, _settings_form(**values))


def test_new_points_values_wait_for_a_finance_approver_who_is_not_their_maker():
    maker = user_in_role(MARKETING)
    response = _post_settings(_client(maker), points_praise=50, low_stock_threshold=9)
    assert response.status_code == 302, response.content.decode()[:2000]
    live = RewardsSettings.load()
    # The fraud/stock settings save at once; the points value does not.
    assert (live.points_praise, live.low_stock_threshold) == (10, 9)
    change = PointsSettingsChange.objects.get()
    assert (change.status, change.changed_fields()) == (ChangeStatus.PENDING, ["points_praise"])
    assert (change.before["points_praise"], change.after["points_praise"]) == (10, 50)
    # Marketing may not decide; finance may (with a message), once.
    with pytest.raises(services.ApprovalError, match="Only finance"):
        services.points_settings_change_decide(change_id=change.pk, user=maker, approve=True)
    finance = _client(user_in_role(FINANCE))
    url = reverse("kansha_rewards_change_confirm", args=["settings", change.pk, "approve"])
    page = finance.get(url).content.decode()
    assert "Live now" in page
    assert "50" in page
    response = finance.post(url)
    assert "Approved: the change is live." in _messages(response)
    assert RewardsSettings.load().points_praise == 50
    with pytest.raises(services.ApprovalError, match="already decided"):
        services.points_settings_change_decide(change_id=change.pk,
                                               user=user_in_role(FINANCE, "ken-2"), approve=True)


def test_a_superuser_cannot_approve_their_own_points_settings_change():
    root = _superuser()
    _post_settings(_client(root), daily_cap=500)
    change = PointsSettingsChange.objects.get()
    response = _client(root).post(reverse("kansha_rewards_change_confirm",
                                          args=["settings", change.pk, "approve"]))
    assert "another finance approver must approve it" in _messages(response)
    assert RewardsSettings.load().daily_cap == 100
    assert PointsSettingsChange.objects.get().status == ChangeStatus.PENDING
    services.points_settings_change_decide(change_id=change.pk, user=_superuser("root2"),
                                           approve=True)
    assert RewardsSettings.load().daily_cap == 500


def test_a_stale_points_settings_change_is_refused():
    maker = user_in_role(MARKETING)
    first = services.points_settings_change_propose(values={"points_praise": 20}, user=maker)
    row = RewardsSettings.load()
    row.points_praise = 30  # someone else's change went live meanwhile
    row.save()
    with pytest.raises(services.ApprovalError, match="changed after this change was made"):
        services.points_settings_change_decide(change_id=first.pk,
                                               user=user_in_role(FINANCE), approve=True)
    assert RewardsSettings.load().points_praise == 30


# --- Manual points adjustments ------------------------------------------------------------------


def test_a_manual_adjustment_reaches_the_ledger_only_when_someone_else_approves_it():
    advocate = AdvocateFactory()
    maker = user_in_role(MARKETING)
    response = _client(maker).post(_url("pointsadjustment", "add"), {
        "advocate": advocate.pk, "points": "40", "reason": "Goodwill after a late parcel"})
    assert response.status_code == 302, response.content.decode()[:2000]
    adjustment = PointsAdjustment.objects.get()
    assert adjustment.made_by == maker
    assert not PointsEntry.objects.filter(advocate=advocate).exists()
    with pytest.raises(services.ApprovalError):
        services.points_adjustment_decide(adjustment_id=adjustment.pk, user=maker, approve=True)
    services.points_adjustment_decide(adjustment_id=adjustment.pk, user=user_in_role(FINANCE),
                                      approve=True)
    entry = PointsEntry.objects.get(advocate=advocate)
    assert (entry.points, entry.adjustment_id) == (40, adjustment.pk)
    assert "Goodwill" in entry.reason


def test_a_superuser_cannot_approve_their_own_adjustment():
    advocate = AdvocateFactory()
    root = _superuser()
    adjustment = services.points_adjustment_create(advocate_id=advocate.pk, points=-15,
                                                   reason="Duplicate check-in", user=root)
    response = _client(root).post(reverse("kansha_rewards_change_confirm",
                                          args=["adjustment", adjustment.pk, "approve"]))
    assert "another finance approver must approve it" in _messages(response)
    assert not PointsEntry.objects.exists()
    adjustment.refresh_from_db()
    assert adjustment.status == ChangeStatus.PENDING


def test_an_adjustment_of_zero_points_is_refused():
    response = _client(user_in_role(MARKETING)).post(_url("pointsadjustment", "add"), {
        "advocate": AdvocateFactory().pk, "points": "0", "reason": "nothing"})
    assert response.status_code == 400
    assert "changes nothing" in response.content.decode()
    assert not PointsAdjustment.objects.exists()


def test_an_approved_adjustment_is_on_the_profile_and_in_the_points_ledger_export():
    import csv
    import io

    advocate = AdvocateFactory()
    maker, approver = user_in_role(MARKETING, "mika"), user_in_role(FINANCE, "fumi")
    adjustment = services.points_adjustment_create(
        advocate_id=advocate.pk, points=25, reason="Goodwill after a late parcel", user=maker)
    services.points_adjustment_decide(adjustment_id=adjustment.pk, user=approver, approve=True)

    profile = _client(maker).get(reverse("kansha_advocate_profile", args=[advocate.pk]))
    page = profile.content.decode()
    assert "Goodwill after a late parcel" in page
    assert "mika" in page
    assert "fumi" in page

    PointsEntry.objects.create(advocate=advocate, points=10, reason="praise",
                               occurred_at=adjustment.made_at, day=adjustment.made_at.date())
    response = _client(approver).get(_url("pointsentry", "list"), {"export": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    (row,) = [r for r in rows if r["Adjustment id"]]
    assert row["Points"] == "25"
    assert "Goodwill after a late parcel" in row["Reason"]
    assert (row["Adjustment asked for by"], row["Adjustment approved by"]) == ("mika", "fumi")
