"""Reward rules go live through the "Money change approval" workflow: marketing submits,
finance signs off (cms/migrations/0006_reward_rule_workflow.py, renamed and given a task that
refuses the change's makers by cms/migrations/0009_money_changes_need_another_approver.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from wagtail.models import TaskState, WorkflowState

from rewards.models import FinanceApprovalTask, RewardRule
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

FORM = {
    "name": "Three thank-yous", "trigger": "events_in_days", "trigger_count": "3",
    "trigger_days": "30", "trigger_event_kind": "", "trigger_tier": "",
    "trigger_min_rating": "4", "min_account_age_days": "0", "min_followers": "0",
    "reward_kind": "discount", "discount_type": "percent", "percent_off": "10",
    "amount_off_minor": "", "currency": "jpy", "code_expiry_days": "30",
    "minimum_order_minor": "", "single_use": "on", "perk": "", "message_template": "",
    "period": "month", "monthly_budget_minor": "50000", "budget_estimate_minor": "500",
    "finance_approval_above_minor": "",
}


def _client(role, username=None) -> Client:
    client = Client()
    client.force_login(user_in_role(role, username))
    return client


def _url(name, *args):
    return reverse(f"wagtailsnippets_rewards_rewardrule:{name}", args=args)


@pytest.fixture
def submitted(db):
    """Marketing creates a rule and submits it (the editor's "Submit to …" action)."""
    marketing = _client(MARKETING)
    response = marketing.post(_url("add"), {**FORM, "action-submit": "Submit"})
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = RewardRule.objects.get(name="Three thank-yous")
    return marketing, rule


def test_reward_rules_have_the_finance_approval_workflow(db):
    workflow = RewardRule().get_workflow()
    assert workflow is not None
    assert workflow.name == "Money change approval"
    (task,) = [t.specific for t in workflow.tasks]
    assert isinstance(task, FinanceApprovalTask)
    assert [g.name for g in task.groups.all()] == [FINANCE]


def test_submitting_a_rule_starts_the_workflow_and_does_not_publish_it(submitted):
    _, rule = submitted
    assert not rule.live
    state = rule.current_workflow_state
    assert state is not None
    assert state.status == WorkflowState.STATUS_IN_PROGRESS
    assert state.workflow.name == "Money change approval"
    assert state.current_task_state.task.name == "Finance sign-off"


def test_marketing_cannot_publish_a_rule_directly(db):
    marketing = _client(MARKETING)
    marketing.post(_url("add"), {**FORM, "action-publish": "Publish"})
    rule = RewardRule.objects.get(name="Three thank-yous")
    assert not rule.live
    assert rule.live_revision is None


def test_finance_approval_publishes_the_submitted_revision(submitted):
    _, rule = submitted
    finance = _client(FINANCE)
    task_state = rule.current_workflow_state.current_task_state
    # The approver opens the editor (the task gives access while it is in progress) ...
    assert finance.get(_url("edit", rule.pk)).status_code == 200
    # ... and approves from the dashboard's "Awaiting your review" or the editor's menu.
    response = finance.post(_url("workflow_action", rule.pk, "approve", task_state.pk))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.live
    assert rule.live_revision_id == task_state.revision_id
    assert TaskState.objects.get(pk=task_state.pk).status == TaskState.STATUS_APPROVED
    assert rule.monthly_budget_minor == 50000


def test_finance_can_request_changes_and_the_rule_stays_offline(submitted):
    _, rule = submitted
    finance = _client(FINANCE)
    task_state = rule.current_workflow_state.current_task_state
    finance.post(_url("workflow_action", rule.pk, "reject", task_state.pk),
                 {"comment": "The budget is twice what we agreed."})
    rule.refresh_from_db()
    assert not rule.live
    assert rule.current_workflow_state.status == WorkflowState.STATUS_NEEDS_CHANGES


@pytest.mark.parametrize("role", [MARKETING, SOCIAL_STAFF])
def test_only_finance_can_approve(submitted, role):
    _, rule = submitted
    task_state = rule.current_workflow_state.current_task_state
    client = _client(role, username=f"{role.split()[0].lower()}-2")
    client.post(_url("workflow_action", rule.pk, "approve", task_state.pk))
    rule.refresh_from_db()
    assert not rule.live


def test_marketing_can_stop_a_live_rule_without_approval(db):
    rule = RewardRule.objects.create(name="Live rule", percent_off=10, live=False)
    rule.save_revision().publish()
    marketing = _client(MARKETING)
    editor = marketing.get(_url("edit", rule.pk)).content.decode()
    assert _url("unpublish", rule.pk) in editor
    assert marketing.post(_url("unpublish", rule.pk)).status_code == 302
    rule.refresh_from_db()
    assert not rule.live
    # Finance signs rules off but does not run them.
    assert _client(FINANCE).post(_url("unpublish", rule.pk)).status_code != 200
