"""Promotion codes are restricted to the advocate's Stripe customer once we know it: learned
from the orders that used their codes, forgotten when they are erased."""

from __future__ import annotations

import json
import time

import pytest

from advocates.services.privacy import advocate_erase, advocate_export
from rewards import selectors, services
from rewards.models import DiscountCode, GrantStatus, StripeCustomer
from rewards.stripe_client import webhook_signature_header
from tests.rewards.conftest import make_advocate, make_rule

SECRET = "whsec_kansha_test"
PROMO = "/v1/promotion_codes"


@pytest.fixture
def webhook(settings, client, django_capture_on_commit_callbacks):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    seq = iter(range(1, 1000))

    def post(event_type, obj):
        body = {"id": f"evt_{next(seq)}", "object": "event", "type": event_type,
                "created": int(time.time()), "livemode": False, "data": {"object": obj}}
        payload = json.dumps(body).encode()
        sig = webhook_signature_header(payload=payload, secret=SECRET,
                                       timestamp=int(time.time()))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/stripe/webhook/", data=payload,
                                   content_type="application/json", HTTP_STRIPE_SIGNATURE=sig)
        assert response.status_code == 200

    return post


def _issue(rule, advocate, period):
    grant = services.grant_create(rule=rule, advocate_id=advocate.pk, period=period)
    services.grant_issue(grant_id=grant.pk)
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ISSUED
    return grant


def _session(promo, customer, session_id="cs_1"):
    return {"id": session_id, "object": "checkout.session", "amount_total": 3600,
            "currency": "jpy", "payment_status": "paid", "customer": customer,
            "created": int(time.time()), "discounts": [{"promotion_code": promo}],
            "total_details": {"amount_discount": 400}}


def test_a_checkout_teaches_the_customer_and_later_codes_are_restricted_to_it(
        config, stripe_on, webhook):
    advocate = make_advocate()
    rule = make_rule(trigger_count=1)
    first = _issue(rule, advocate, "2026-01")
    assert "customer" not in stripe_on.calls(PROMO)[0].params  # nobody known yet

    webhook("checkout.session.completed",
            _session(first.code.stripe_promotion_code_id, "cus_aiko"))

    known = StripeCustomer.objects.get(advocate=advocate)
    assert (known.customer_id, known.learned_from) == (
        "cus_aiko", f"cs_1:{first.code.stripe_promotion_code_id}")
    second = _issue(rule, advocate, "2026-02")
    call = stripe_on.calls(PROMO)[-1]
    assert call.idempotency_key == f"grant-{second.pk}-promo"
    assert call.params["customer"] == "cus_aiko"
    assert stripe_on.promotion_codes[second.code.stripe_promotion_code_id][
        "customer"] == "cus_aiko"
    assert DiscountCode.objects.get(grant=second).stripe_customer_id == "cus_aiko"


def test_an_invoice_teaches_the_customer_too(config, stripe_on, webhook):
    advocate = make_advocate()
    grant = _issue(make_rule(trigger_count=1), advocate, "2026-01")
    promo = grant.code.stripe_promotion_code_id
    stripe_on.invoices["in_9"] = {"id": "in_9", "object": "invoice", "discounts": ["di_9"]}
    stripe_on.discounts["di_9"] = {"id": "di_9", "object": "discount",
                                   "promotion_code": promo}
    webhook("invoice.paid", {"id": "in_9", "object": "invoice", "amount_paid": 900,
                             "currency": "jpy", "customer": "cus_ben", "discounts": ["di_9"],
                             "total_discount_amounts": [{"amount": 100, "discount": "di_9"}]})
    assert StripeCustomer.objects.get(advocate=advocate).customer_id == "cus_ben"


def test_a_code_passed_on_does_not_move_anyone_to_a_strangers_account(
        config, stripe_on, webhook):
    aiko, ben = make_advocate(), make_advocate()
    rule = make_rule(trigger_count=1)
    aikos = _issue(rule, aiko, "2026-01")
    bens = _issue(rule, ben, "2026-01")
    webhook("checkout.session.completed",
            _session(aikos.code.stripe_promotion_code_id, "cus_aiko", "cs_1"))
    # Aiko also used Ben's code (he passed it on), and later paid from a second account.
    webhook("checkout.session.completed",
            _session(bens.code.stripe_promotion_code_id, "cus_aiko", "cs_2"))
    assert not StripeCustomer.objects.filter(advocate=ben).exists()
    assert StripeCustomer.objects.get(advocate=aiko).customer_id == "cus_aiko"
    # A guest checkout names no customer: nothing is learned.
    third = _issue(rule, ben, "2026-02")
    webhook("checkout.session.completed",
            _session(third.code.stripe_promotion_code_id, None, "cs_3"))
    assert not StripeCustomer.objects.filter(advocate=ben).exists()


def test_erasure_forgets_the_customer(config, stripe_on, webhook):
    advocate = make_advocate()
    rule = make_rule(trigger_count=1)
    first = _issue(rule, advocate, "2026-01")
    webhook("checkout.session.completed",
            _session(first.code.stripe_promotion_code_id, "cus_aiko"))
    second = _issue(rule, advocate, "2026-02")
    assert advocate_export(advocate_id=advocate.pk)["stripe_customer"][0][
        "customer_id"] == "cus_aiko"

    advocate_erase(advocate_id=advocate.pk)

    assert not StripeCustomer.objects.exists()
    assert DiscountCode.objects.get(grant=second).stripe_customer_id == ""
    assert selectors.stripe_customer_id(advocate_id=advocate.pk) == ""


def test_one_customer_paying_with_two_advocates_codes_suggests_a_merge(
        config, stripe_on, webhook, client):
    from advocates.selectors import merge_suggestions

    aiko, ben, carl = make_advocate(), make_advocate(), make_advocate()
    rule = make_rule(trigger_count=1)
    aikos, bens, carls = (_issue(rule, a, "2026-01") for a in (aiko, ben, carl))
    webhook("checkout.session.completed",
            _session(aikos.code.stripe_promotion_code_id, "cus_aiko", "cs_1"))
    webhook("checkout.session.completed",
            _session(bens.code.stripe_promotion_code_id, "cus_aiko", "cs_2"))
    webhook("checkout.session.completed",
            _session(carls.code.stripe_promotion_code_id, "cus_carl", "cs_3"))

    assert selectors.merge_clues_stripe_customer() == {
        (aiko.pk, ben.pk): ["Same Stripe customer"]}
    # The suggestions page asks the rewards app through its hook.
    from tests.roles import user_in_role
    client.force_login(user_in_role(None, "lead", is_superuser=True))
    html = client.get("/admin/advocates/people/merge-suggestions/").content.decode()
    assert f"/admin/advocates/people/{aiko.pk}/merge/?absorbed={ben.pk}" in html
    assert "Same Stripe customer" in html
    assert [s.absorbed.pk for s in merge_suggestions(
        clues=[selectors.merge_clues_stripe_customer()])] == [ben.pk]

    advocate_erase(advocate_id=ben.pk)
    assert selectors.merge_clues_stripe_customer() == {}
