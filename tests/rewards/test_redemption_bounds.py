"""Money a till cannot send: amounts out of bounds are refused with a 400 and change nothing,
and a discount never exceeds the order it is taken from (issue 16: an order of 2^63 once put
a discount of 9.2 × 10^17 into the redemption report)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from advocates.services import ingest_token_issue
from rewards import services
from rewards.models import DiscountCode, GrantStatus, Redemption, RewardGrant, Tier
from tests.rewards.conftest import make_advocate, make_rule
from tests.roles import MARKETING, user_in_role

URL = "/api/v1/rewards/redemptions"


def _code(*, discount_type="percent", percent_off=10, amount_off_minor=None) -> DiscountCode:
    grant = services.grant_create(rule=make_rule(trigger_count=1),
                                  advocate_id=make_advocate().pk)
    RewardGrant.objects.filter(pk=grant.pk).update(status=GrantStatus.DELIVERED)
    return DiscountCode.objects.create(
        grant=grant, provider="local", code="KAN-TEST-2345", discount_type=discount_type,
        percent_off=percent_off, amount_off_minor=amount_off_minor, currency="jpy",
        max_redemptions=1)


def _redeem(client, amount, *, currency="jpy"):
    _, secret = ingest_token_issue(name="till", scopes=["redeem"])
    return client.post(URL, json.dumps({"code": "KAN-TEST-2345", "order_amount_minor": amount,
                                        "currency": currency, "order_ref": "POS-1"}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.parametrize("amount", [-4200, 0, 10**10, 2**63, 2**64])
def test_an_order_amount_out_of_bounds_is_refused_and_stores_nothing(client, config, amount):
    code = _code()
    response = _redeem(client, amount)
    assert response.status_code == 400, response.content
    assert "order_amount_minor" in str(response.json()["detail"]) or \
        "The order amount" in response.json()["detail"]
    assert not Redemption.objects.exists()
    code.refresh_from_db()
    assert code.times_redeemed == 0
    assert RewardGrant.objects.get(pk=code.grant_id).status == GrantStatus.DELIVERED


def test_the_bound_is_the_largest_amount_accepted(client, config, settings):
    settings.KANSHA_MONEY_MAX_MAJOR = 100_000
    _code()
    assert _redeem(client, 100_001).status_code == 400
    response = _redeem(client, 100_000)
    assert response.status_code == 200, response.content
    assert response.json()["discount_minor"] == 10_000


@pytest.mark.parametrize(("kind", "percent", "amount_off", "order", "discount"), [
    ("amount", None, 500, 300, 300),  # 500 off an order of 300 takes the order, no more
    ("amount", None, 500, 4200, 500),
    ("percent", 10, None, 4200, 420),
    ("percent", 150, None, 4200, 4200),  # a percentage above 100 never pays out
])
def test_the_discount_never_exceeds_the_order(client, config, kind, percent, amount_off, order,
                                              discount):
    _code(discount_type=kind, percent_off=percent, amount_off_minor=amount_off)
    response = _redeem(client, order)
    assert response.status_code == 200, response.content
    assert response.json()["discount_minor"] == discount
    assert response.json()["paid_minor"] == order - discount
    row = Redemption.objects.get()
    assert (row.discount_minor, row.order_amount_minor) == (discount, order - discount)


def test_silver_above_gold_is_refused_with_both_tiers_named(db):
    Tier.objects.create(name="Gold", level=3, threshold=400)
    client = Client()
    client.force_login(user_in_role(MARKETING))
    response = client.post(reverse("wagtailsnippets_rewards_tier:add"), {
        "name": "Silver", "name_ja": "", "level": "2", "threshold": "500", "window_days": "",
        "badge": "", "badge_image": "", "description": "", "description_ja": ""})
    assert response.status_code == 400
    assert ("Silver (level 2, 500 points) must need fewer points than Gold (level 3, 400 "
            "points).") in response.content.decode()
    assert list(Tier.objects.values_list("name", flat=True)) == ["Gold"]
