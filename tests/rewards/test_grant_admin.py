"""The grant views are read-only: list and inspect; approve and revoke are the only actions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import NoReverseMatch, reverse

from rewards import services
from rewards.models import GrantStatus, RewardGrant
from tests.rewards.conftest import make_advocate, make_rule
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

ROLES = [FINANCE, MARKETING, SOCIAL_STAFF, "superuser"]


def _client(role) -> Client:
    client = Client()
    if role == "superuser":
        user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    else:
        user = user_in_role(role)
    client.force_login(user)
    return client


def _denied(response) -> bool:
    """403, or Wagtail's way of refusing: back to the dashboard (with a message)."""
    return response.status_code == 403 or (
        response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home"))


@pytest.fixture
def grant(config):
    rule = make_rule(trigger_count=1, finance_approval_above_minor=0,
                     discount_type="amount", percent_off=None, amount_off_minor=100)
    return services.grant_create(rule=rule, advocate_id=make_advocate().pk)


@pytest.mark.parametrize("action", ["add", "edit", "delete", "copy"])
def test_there_is_no_generic_form_for_grants(action):
    with pytest.raises(NoReverseMatch):
        reverse(f"wagtailsnippets_rewards_rewardgrant:{action}", args=[] if action == "add"
                else [1])


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_grants_and_no_one_edits_them(grant, role):
    client = _client(role)
    base = "/admin/snippets/rewards/rewardgrant"
    listing = client.get(f"{base}/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert f"{base}/edit/" not in html
    assert f"{base}/add/" not in html
    inspect = client.get(f"{base}/inspect/{grant.pk}/")
    assert inspect.status_code == 200
    assert f"{base}/edit/" not in inspect.content.decode()
    # The routes of the generic editor are gone, for a form post as much as for a page.
    for url in (f"{base}/edit/{grant.pk}/", f"{base}/add/", f"{base}/delete/{grant.pk}/"):
        assert client.get(url).status_code == 404
        assert client.post(url, {"status": "approved", "cost_minor": "0",
                                 "currency": "usd"}).status_code == 404
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.PENDING_APPROVAL


@pytest.mark.parametrize(("role", "allowed"), [(FINANCE, True), ("superuser", True),
                                               (MARKETING, False), (SOCIAL_STAFF, False)])
def test_only_finance_approves(grant, role, allowed, django_capture_on_commit_callbacks):
    client = _client(role)
    url = reverse("kansha_rewards_grant_confirm", args=[grant.pk, "approve"])
    page = client.get(url)
    assert page.status_code == 200 if allowed else _denied(page)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert _denied(response) is not allowed
    status = RewardGrant.objects.get(pk=grant.pk).status
    assert status == (GrantStatus.ISSUED if allowed else GrantStatus.PENDING_APPROVAL)


@pytest.mark.parametrize(("role", "allowed"), [(FINANCE, True), ("superuser", True),
                                               (MARKETING, False), (SOCIAL_STAFF, False)])
def test_only_finance_revokes(grant, role, allowed):
    client = _client(role)
    url = reverse("kansha_rewards_grant_confirm", args=[grant.pk, "revoke"])
    response = client.post(url, {"reason": "two accounts, one person"})
    assert _denied(response) is not allowed
    status = RewardGrant.objects.get(pk=grant.pk).status
    assert status == (GrantStatus.REVOKED if allowed else GrantStatus.PENDING_APPROVAL)


def test_finance_sees_the_review_buttons_in_the_grant_list(grant):
    html = _client(FINANCE).get("/admin/snippets/rewards/rewardgrant/").content.decode()
    assert reverse("kansha_rewards_grant_confirm", args=[grant.pk, "approve"]) in html
    assert reverse("kansha_rewards_grant_confirm", args=[grant.pk, "revoke"]) in html
