"""The rewards admin: snippet listings, grant approval, the dashboard's low-stock warning."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from rewards import services
from rewards.models import GrantStatus, Perk, RewardGrant
from tests.rewards.conftest import make_advocate, make_rule


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", ["rewardrule", "tier", "perk", "rewardgrant", "discountcode",
                                   "redemption", "redemptionreversal", "perkfulfilment",
                                   "fraudflag", "pointsentry", "stripeevent"])
def test_rewards_snippet_listings_render(admin_client, model):
    response = admin_client.get(reverse(f"wagtailsnippets_rewards_{model}:list"))
    assert response.status_code == 200


def test_dashboard_warns_about_low_stock_and_pending_grants(admin_client, config):
    Perk.objects.create(name="Enamel pin", stock=2)
    Perk.objects.create(name="Plenty of stickers", stock=500)
    rule = make_rule(trigger_count=1, finance_approval_above_minor=0,
                     discount_type="amount", percent_off=None, amount_off_minor=100)
    services.grant_create(rule=rule, advocate_id=make_advocate().pk)

    html = admin_client.get(reverse("wagtailadmin_home")).content.decode()

    assert "Perks running low" in html
    assert "Enamel pin" in html
    assert "Plenty of stickers" not in html
    assert 'href="/admin/snippets/rewards/rewardgrant/?status=pending_approval"' in html


def test_approving_a_pending_grant_from_the_admin_issues_it(
        admin_client, config, django_capture_on_commit_callbacks):
    rule = make_rule(trigger_count=1, finance_approval_above_minor=0,
                     discount_type="amount", percent_off=None, amount_off_minor=100)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    assert grant.status == GrantStatus.PENDING_APPROVAL
    url = reverse("kansha_rewards_grant_confirm", args=[grant.pk, "approve"])
    assert admin_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url)

    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ISSUED
    assert grant.approved_by.username == "boss"


def test_revoking_needs_a_reason(admin_client, config):
    rule = make_rule(trigger_count=1)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    url = reverse("kansha_rewards_grant_confirm", args=[grant.pk, "revoke"])
    admin_client.post(url, {"reason": ""})
    assert RewardGrant.objects.get(pk=grant.pk).status != GrantStatus.REVOKED
    admin_client.post(url, {"reason": "same person, two accounts"})
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REVOKED


def test_staff_without_grant_permission_cannot_approve(client, config):
    user = get_user_model().objects.create_user("intern", password="pw")
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(user)
    rule = make_rule(trigger_count=1, finance_approval_above_minor=0,
                     discount_type="amount", percent_off=None, amount_off_minor=100)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    response = client.post(reverse("kansha_rewards_grant_confirm", args=[grant.pk, "approve"]))
    assert response.status_code in (302, 403)
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.PENDING_APPROVAL


def test_cancelling_a_perk_in_the_admin_releases_its_stock(admin_client, config):
    from rewards.models import PerkFulfilment

    perk = Perk.objects.create(name="Tote bag", stock=5)
    rule = make_rule(trigger_count=1, reward_kind="perk", perk=perk)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    fulfilment = PerkFulfilment.objects.get(grant=grant)
    url = reverse("wagtailsnippets_rewards_perkfulfilment:edit", args=[fulfilment.pk])

    response = admin_client.post(url, {"status": "cancelled", "notes": "out of size M"})

    assert response.status_code == 302
    perk.refresh_from_db()
    fulfilment.refresh_from_db()
    assert (perk.stock, fulfilment.status, fulfilment.notes) == (5, "cancelled", "out of size M")
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REVOKED
    # A cancelled perk cannot be "delivered" afterwards: the form shows why, nothing changes.
    again = admin_client.post(url, {"status": "delivered", "notes": ""})
    assert again.status_code == 200
    fulfilment.refresh_from_db()
    assert fulfilment.status == "cancelled"


@pytest.mark.parametrize(("role", "permission", "has"), [
    # Rules, tiers and perks go live through finance's sign-off (the "Money change approval"
    # workflow); points settings changes and adjustments are decided by finance too.
    ("Marketing", "rewards.publish_rewardrule", False),
    ("Marketing", "rewards.publish_perk", False),
    ("Marketing", "rewards.publish_tier", False),
    ("Finance", "rewards.publish_perk", True),
    ("Finance", "rewards.publish_tier", True),
    ("Marketing", "rewards.add_pointsadjustment", True),
    ("Marketing", "rewards.change_pointsadjustment", False),
    ("Finance", "rewards.change_pointsadjustment", True),
    ("Finance", "rewards.change_pointssettingschange", True),
    ("Marketing", "rewards.change_rewardrule", True),
    ("Finance", "rewards.publish_rewardrule", True),
    ("Marketing", "rewards.change_perk", True),
    ("Marketing", "rewards.change_rewardgrant", False),
    ("Finance", "rewards.change_rewardgrant", True),
    ("Finance", "rewards.view_redemption", True),
    ("Finance", "rewards.change_rewardrule", False),
    ("Social staff", "rewards.change_rewardgrant", False),
])
def test_roles_get_their_rewards_permissions(db, role, permission, has):
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(f"u-{role}", password="pw")
    user.groups.add(Group.objects.get(name=role))
    assert user.has_perm(permission) is has
