"""Validation at every door: ISO 4217 currencies with their exponents, ordered tier thresholds,
bounded amounts, and text without NUL or lone surrogates — in the admin's forms, the
redemption API, the commands and Stripe's webhooks. Each refusal says why and stores nothing."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from advocates.services import ingest_token_issue
from rewards import currencies, services
from rewards.models import DiscountCode, GrantStatus, Perk, Redemption, RewardRule, Tier
from tests.rewards.conftest import make_advocate, make_rule
from tests.rewards.test_rule_workflow import FORM as RULE_FORM
from tests.roles import MARKETING, user_in_role

HUGE = 2**63 - 1


# --- The currency table ----------------------------------------------------------------------


@pytest.mark.parametrize(("code", "exponent", "shown"), [
    ("jpy", 0, "4,500 JPY"), ("USD", 2, "45.00 USD"), ("kwd", 3, "4.500 KWD"),
    ("krw", 0, "4,500 KRW"), ("clf", 4, "0.4500 CLF")])
def test_exponents_and_formats_follow_iso_4217(code, exponent, shown):
    assert currencies.currency_exponent(code) == exponent
    assert currencies.money_format(4500, code) == shown


@pytest.mark.parametrize("bad", ["yen", "JP", "xau", "", "usd1", None, 392])
def test_anything_else_is_not_a_currency(bad):
    with pytest.raises(currencies.MoneyError, match="not an ISO 4217 currency code"):
        currencies.currency_clean(bad)


def test_the_amount_bound_follows_the_exponent_and_the_setting(settings):
    settings.KANSHA_MONEY_MAX_MAJOR = 1000
    assert currencies.amount_max_minor("jpy") == 1000
    assert currencies.amount_max_minor("usd") == 100_000
    assert currencies.amount_clean(1000, "jpy", field="x") == 1000
    with pytest.raises(currencies.MoneyError, match=r"above the limit of 1,000 JPY"):
        currencies.amount_clean(1001, "jpy", field="x")


# --- Forms (the admin) -----------------------------------------------------------------------

PERK_FORM = {"name": "Tote bag", "name_ja": "", "description": "", "description_ja": "",
             "image": "", "kind": "swag", "stock": "10", "unit_cost_minor": "900",
             "currency": "jpy", "public": "on"}


@pytest.fixture
def marketing(db) -> Client:
    client = Client()
    client.force_login(user_in_role(MARKETING))
    return client


def _errors(response) -> str:
    return response.content.decode()


def test_a_perk_in_yen_is_refused_with_a_clear_message(marketing):
    response = marketing.post(reverse("wagtailsnippets_rewards_perk:add"),
                              {**PERK_FORM, "currency": "yen"})
    assert response.status_code == 400
    assert "is not an ISO 4217 currency code" in _errors(response)
    assert not Perk.objects.exists()


def test_a_currency_typed_in_capitals_is_stored_in_lower_case(marketing):
    response = marketing.post(reverse("wagtailsnippets_rewards_perk:add"),
                              {**PERK_FORM, "currency": "USD"})
    assert response.status_code == 302, _errors(response)[:3000]
    assert Perk.objects.get().currency == "usd"


def test_a_perk_cost_above_the_bound_is_refused(marketing, settings):
    settings.KANSHA_MONEY_MAX_MAJOR = 100_000
    response = marketing.post(reverse("wagtailsnippets_rewards_perk:add"),
                              {**PERK_FORM, "unit_cost_minor": "100001"})
    assert response.status_code == 400
    assert "above the limit of 100,000 JPY" in _errors(response)
    assert not Perk.objects.exists()


def test_a_nul_in_a_perk_name_is_refused(marketing):
    response = marketing.post(reverse("wagtailsnippets_rewards_perk:add"),
                              {**PERK_FORM, "name": "Tote\x00bag"})
    assert response.status_code == 400
    assert "Null characters are not allowed" in _errors(response)
    assert not Perk.objects.exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("currency", "yen", "is not an ISO 4217 currency code"),
    ("monthly_budget_minor", "2000000000", "above the limit of 10,000,000 JPY"),
])
def test_a_rule_with_bad_money_is_refused(marketing, field, value, message):
    response = marketing.post(reverse("wagtailsnippets_rewards_rewardrule:add"),
                              {**RULE_FORM, field: value})
    assert response.status_code == 400
    assert message in _errors(response)
    assert not RewardRule.objects.exists()


def test_a_usd_amount_discount_is_bounded_in_cents(marketing, settings):
    settings.KANSHA_MONEY_MAX_MAJOR = 100
    form = {**RULE_FORM, "currency": "usd", "discount_type": "amount", "percent_off": "",
            "amount_off_minor": "10001", "monthly_budget_minor": "", "budget_estimate_minor": "0"}
    response = marketing.post(reverse("wagtailsnippets_rewards_rewardrule:add"), form)
    assert response.status_code == 400
    assert "above the limit of 100.00 USD" in _errors(response)
    assert not RewardRule.objects.exists()


TIER_FORM = {"name": "Silver", "name_ja": "", "level": "2", "threshold": "500",
             "window_days": "", "badge": "", "badge_image": "", "description": "",
             "description_ja": ""}


@pytest.fixture
def ladder(db):
    Tier.objects.create(name="Bronze", level=1, threshold=50)
    Tier.objects.create(name="Gold", level=3, threshold=400)


@pytest.mark.parametrize(("form", "message"), [
    ({"threshold": "500"}, "must need fewer points than Gold (level 3, 400 points)"),
    ({"threshold": "400"}, "must need fewer points than Gold"),
    ({"threshold": "40"}, "must need more points than Bronze (level 1, 50 points)"),
    ({"level": "3", "threshold": "200"}, "Gold already has level 3."),
])
def test_tier_thresholds_must_rise_with_their_level(marketing, ladder, form, message):
    response = marketing.post(reverse("wagtailsnippets_rewards_tier:add"), {**TIER_FORM, **form})
    assert response.status_code == 400
    assert message in _errors(response)
    assert not Tier.objects.filter(name="Silver").exists()


def test_silver_between_bronze_and_gold_is_saved(marketing, ladder):
    response = marketing.post(reverse("wagtailsnippets_rewards_tier:add"),
                              {**TIER_FORM, "threshold": "150"})
    assert response.status_code == 302, _errors(response)[:3000]
    assert Tier.objects.filter(name="Silver", level=2, threshold=150).exists()


# --- The redemption API and the redeem_code command ------------------------------------------


@pytest.fixture
def local_code(config):
    rule = make_rule(trigger_count=1)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    grant.status = GrantStatus.DELIVERED
    grant.save()
    return DiscountCode.objects.create(grant=grant, provider="local", code="KAN-TEST-2345",
                                       discount_type="percent", percent_off=10,
                                       currency="jpy", max_redemptions=1)


BAD_REDEMPTIONS = [
    ({"currency": "yen"}, "“yen” is not an ISO 4217 currency code"),
    ({"order_amount_minor": HUGE}, "is above the limit of 10,000,000 JPY"),
    ({"code": "KAN-TEST\x00-2345"}, "The code contains a NUL character"),
    ({"order_ref": "POS-\x00-1"}, "The order reference contains a NUL character"),
    ({"order_ref": "POS-\ud800"}, "The order reference contains a lone surrogate U+D800"),
]
# A lone surrogate never reaches the service through the API: the JSON parser refuses it
# first, naming the field.
API_MESSAGES = {"The order reference contains a lone surrogate U+D800":
                "'loc': ['body', 'body', 'order_ref'], 'msg': 'Input should be a valid string"}


@pytest.mark.parametrize(("change", "message"), BAD_REDEMPTIONS)
def test_the_redemption_api_refuses_bad_money_with_400(client, local_code, change, message):
    _, secret = ingest_token_issue(name="till", scopes=["redeem"])
    body = {"code": "KAN-TEST-2345", "order_amount_minor": 4200, "currency": "jpy",
            "order_ref": "POS-1", **change}
    response = client.post("/api/v1/rewards/redemptions", json.dumps(body),
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 400, response.content
    assert API_MESSAGES.get(message, message) in str(response.json()["detail"])
    assert not Redemption.objects.exists()


@pytest.mark.parametrize(("change", "message"), BAD_REDEMPTIONS)
def test_the_redeem_code_command_refuses_the_same(local_code, change, message):
    args = {"code": "KAN-TEST-2345", "order_amount_minor": 4200, "currency": "jpy",
            "order_ref": "POS-1", **change}
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("redeem_code", args["code"], "--order-amount",
                     str(args["order_amount_minor"]), "--currency", args["currency"],
                     "--order-ref", args["order_ref"])
    assert not Redemption.objects.exists()


# --- Stripe's webhooks -----------------------------------------------------------------------


def test_a_webhook_with_an_absurd_amount_records_nothing(client, local_code, settings,
                                                          django_capture_on_commit_callbacks):
    from rewards.models import StripeEvent
    from rewards.stripe_client import webhook_signature_header

    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    DiscountCode.objects.filter(pk=local_code.pk).update(provider="stripe",
                                                         stripe_promotion_code_id="promo_1")
    body = {"id": "evt_huge", "object": "event", "type": "checkout.session.completed",
            "created": int(time.time()), "data": {"object": {
                "id": "cs_1", "object": "checkout.session", "amount_total": HUGE,
                "currency": "jpy", "payment_status": "paid", "created": int(time.time()),
                "discounts": [{"promotion_code": "promo_1"}],
                "total_details": {"amount_discount": 420}}}}
    payload = json.dumps(body).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/stripe/webhook/", payload, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=webhook_signature_header(
                                   payload=payload, secret="whsec_x",
                                   timestamp=int(time.time())))
    assert response.status_code == 200
    assert not Redemption.objects.exists()
    event = StripeEvent.objects.get()
    assert event.outcome.startswith("refused: amount_total")
    assert "above the limit" in event.outcome
