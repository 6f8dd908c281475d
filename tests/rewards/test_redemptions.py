"""Redemptions: Stripe webhooks (signed, stored, processed once) and local codes at the till."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from advocates.services import ingest_token_issue
from rewards import services
from rewards.models import DiscountCode, GrantStatus, Redemption, RewardGrant, StripeEvent
from rewards.stripe_client import webhook_signature_header
from tests.rewards.conftest import make_advocate, make_rule

SECRET = "whsec_kansha_test"
URL = "/stripe/webhook/"


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _grant_with_code(*, provider="stripe", promo="promo_abc123", code="KAN-TEST-2345",
                     **rule):
    rule = make_rule(trigger_count=1, **rule)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    grant.status = GrantStatus.DELIVERED
    grant.save()
    r = grant.reward
    DiscountCode.objects.create(
        grant=grant, provider=provider, code=code, discount_type=r["discount_type"],
        percent_off=r["percent_off"], amount_off_minor=r["amount_off_minor"],
        currency=grant.currency, max_redemptions=1, minimum_order_minor=r["minimum_order_minor"],
        stripe_promotion_code_id=promo if provider == "stripe" else None)
    return grant


def _event(event_type, obj, event_id="evt_1"):
    return {"id": event_id, "object": "event", "type": event_type, "api_version": "2026-10-28",
            "created": int(time.time()), "livemode": False, "data": {"object": obj}}


def _checkout(session_id="cs_test_1", promo="promo_abc123", total=3780, discount=420):
    return {"id": session_id, "object": "checkout.session", "amount_total": total,
            "amount_subtotal": total + discount, "currency": "jpy", "payment_status": "paid",
            "created": int(time.time()),
            "discounts": [{"coupon": "co_1", "promotion_code": promo}],
            "total_details": {"amount_discount": discount, "amount_shipping": 0,
                              "amount_tax": 0}}


def _post(client, body: dict, *, secret=SECRET, timestamp=None, header=None):
    payload = json.dumps(body).encode()
    sig = header if header is not None else webhook_signature_header(
        payload=payload, secret=secret, timestamp=timestamp or int(time.time()))
    return client.post(URL, data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sig)


def test_checkout_completed_records_a_redemption_linked_to_the_grant(
        client, config, webhook_secret, django_capture_on_commit_callbacks):
    grant = _grant_with_code()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, _event("checkout.session.completed", _checkout()))

    assert response.status_code == 200
    r = Redemption.objects.get()
    assert (r.grant, r.source, r.order_amount_minor, r.discount_minor, r.currency) == (
        grant, "stripe_checkout", 3780, 420, "jpy")
    grant.refresh_from_db()
    assert grant.status == GrantStatus.REDEEMED
    event = StripeEvent.objects.get()
    assert event.processed_at is not None
    assert event.outcome == "redemptions: 1 new of 1"


def test_invalid_signature_gets_400_and_stores_nothing(client, config, webhook_secret):
    _grant_with_code()
    response = _post(client, _event("checkout.session.completed", _checkout()),
                     secret="whsec_wrong")
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert not Redemption.objects.exists()


def test_missing_signature_gets_400(client, config, webhook_secret):
    assert _post(client, _event("ping", {}), header="").status_code == 400
    assert not StripeEvent.objects.exists()


def test_stale_timestamp_gets_400(client, config, webhook_secret):
    response = _post(client, _event("checkout.session.completed", _checkout()),
                     timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


def test_replayed_event_adds_no_second_redemption(client, config, webhook_secret,
                                                   django_capture_on_commit_callbacks):
    _grant_with_code()
    body = _event("checkout.session.completed", _checkout())
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, body)
        again = _post(client, body)
        # Stripe can also send the same session in a different event.
        other = _post(client, {**body, "id": "evt_2"})
    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    assert again.json()["duplicate"] is True
    assert StripeEvent.objects.count() == 2
    assert Redemption.objects.count() == 1


def test_invoice_paid_with_expanded_discounts(client, config, webhook_secret,
                                              django_capture_on_commit_callbacks):
    grant = _grant_with_code()
    invoice = {"id": "in_1", "object": "invoice", "amount_paid": 9000, "total": 9000,
               "currency": "jpy", "created": int(time.time()),
               "discounts": [{"id": "di_1", "object": "discount",
                              "promotion_code": "promo_abc123",
                              "source": {"type": "coupon", "coupon": "co_1"}}],
               "total_discount_amounts": [{"amount": 1000, "discount": "di_1"}]}
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, _event("invoice.paid", invoice)).status_code == 200
    r = Redemption.objects.get()
    assert (r.grant, r.source, r.order_amount_minor, r.discount_minor) == (
        grant, "stripe_invoice", 9000, 1000)


def _invoice(discounts, invoice_id="in_1"):
    """An invoice.paid payload as Stripe sends it: discounts as ids (not expanded)."""
    return {"id": invoice_id, "object": "invoice", "amount_paid": 9000, "total": 9000,
            "currency": "jpy", "customer": "cus_1", "created": int(time.time()),
            "status": "paid", "discounts": discounts,
            "total_discount_amounts": [{"amount": 1000, "discount": "di_1"}]}


@pytest.fixture
def stripe_invoice(stripe_on):
    """The invoice and its discount as Stripe holds them (read back with expand[]=discounts)."""
    stripe_on.invoices["in_1"] = _invoice(["di_1"])
    stripe_on.discounts["di_1"] = {
        "id": "di_1", "object": "discount", "customer": "cus_1", "invoice": "in_1",
        "promotion_code": "promo_abc123", "start": int(time.time()),
        "source": {"type": "coupon", "coupon": "co_1"}}
    return stripe_on


def test_invoice_paid_with_discount_ids_reads_the_discounts_from_stripe(
        client, config, webhook_secret, stripe_invoice, django_capture_on_commit_callbacks):
    grant = _grant_with_code()
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, _event("invoice.paid", _invoice(["di_1"]))).status_code == 200

    r = Redemption.objects.get()
    assert (r.grant, r.source, r.source_id, r.order_amount_minor, r.discount_minor) == (
        grant, "stripe_invoice", "in_1:promo_abc123", 9000, 1000)
    (read,) = stripe_invoice.calls("/v1/invoices/in_1")
    assert read.method == "GET"
    assert list(read.params["expand"].values()) == ["discounts"]
    assert StripeEvent.objects.get().outcome == "redemptions: 1 new of 1"


def test_invoice_paid_retries_when_stripe_fails_then_records_once(
        client, config, webhook_secret, stripe_invoice, django_capture_on_commit_callbacks):
    from cms.celery import app

    _grant_with_code()
    stripe_invoice.fail("/v1/invoices/in_1", times=2, status=503)
    previous, app.conf.task_eager_propagates = app.conf.task_eager_propagates, False
    try:  # eager Celery runs a task's retries inline only when it does not propagate
        with django_capture_on_commit_callbacks(execute=True):
            _post(client, _event("invoice.paid", _invoice(["di_1"])))
    finally:
        app.conf.task_eager_propagates = previous

    assert [c.status for c in stripe_invoice.calls("/v1/invoices/in_1")] == [503, 503, 200]
    event = StripeEvent.objects.get()
    assert (event.attempts, event.error, event.processed_at is not None) == (3, "", True)
    assert Redemption.objects.count() == 1


def test_invoice_paid_with_a_discount_that_is_not_ours_records_nothing(
        client, config, webhook_secret, stripe_invoice, django_capture_on_commit_callbacks):
    _grant_with_code(promo="promo_other")
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, _event("invoice.paid", _invoice(["di_1"])))
    assert not Redemption.objects.exists()
    assert StripeEvent.objects.get().outcome == "no Kansha promotion code"


def test_promotion_code_count_then_order_is_one_redemption(client, config, webhook_secret,
                                                            django_capture_on_commit_callbacks):
    grant = _grant_with_code()
    promo = {"id": "promo_abc123", "object": "promotion_code", "code": "KAN-TEST-2345",
             "times_redeemed": 1, "active": False}
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, _event("promotion_code.updated", promo, "evt_p"))
    placeholder = Redemption.objects.get()
    assert placeholder.order_amount_minor is None
    assert grant.code.__class__.objects.get(grant=grant).times_redeemed == 1

    with django_capture_on_commit_callbacks(execute=True):
        _post(client, _event("checkout.session.completed", _checkout(), "evt_c"))
    r = Redemption.objects.get()  # still one: the order filled the placeholder in
    assert (r.pk, r.source, r.order_amount_minor) == (placeholder.pk, "stripe_checkout", 3780)


def test_other_event_types_are_acknowledged_and_ignored(client, config, webhook_secret,
                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, _event("customer.created", {"id": "cus_1"})).status_code == 200
    assert StripeEvent.objects.get().outcome == "ignored: customer.created"


# --- local codes ---------------------------------------------------------------------------


def test_redeem_local_code_through_the_api(client, config):
    grant = _grant_with_code(provider="local", percent_off=10)
    _, secret = ingest_token_issue(name="till", scopes=["redeem"])
    payload = {"code": "kan-test-2345", "order_amount_minor": 4200, "currency": "JPY",
               "order_ref": "POS-1"}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    ok = client.post("/api/v1/rewards/redemptions", payload, content_type="application/json",
                     **auth)
    assert ok.status_code == 200, ok.content
    assert ok.json() | {"redemption_id": 0} == {
        "redemption_id": 0, "grant_id": grant.pk, "code": "KAN-TEST-2345",
        "discount_minor": 420, "paid_minor": 3780, "currency": "jpy", "created": True}
    retried = client.post("/api/v1/rewards/redemptions", payload,
                          content_type="application/json", **auth)
    assert retried.json()["created"] is False
    used = client.post("/api/v1/rewards/redemptions", {**payload, "order_ref": "POS-2"},
                       content_type="application/json", **auth)
    assert used.status_code == 400
    assert used.json() == {"detail": "This code was already used."}
    assert Redemption.objects.count() == 1


def test_redeem_api_needs_a_token(client, config):
    response = client.post("/api/v1/rewards/redemptions",
                           {"code": "KAN-XXXX", "order_amount_minor": 1, "currency": "jpy"},
                           content_type="application/json")
    assert response.status_code == 401


@pytest.mark.parametrize("scopes", [["ingest"], ["read-reports"], ["ingest", "read-reports"]])
def test_redeem_api_refuses_a_token_without_the_redeem_scope(client, config, scopes):
    _grant_with_code(provider="local", percent_off=10)
    _, secret = ingest_token_issue(name="listening tool", scopes=scopes)
    response = client.post("/api/v1/rewards/redemptions",
                           {"code": "KAN-TEST-2345", "order_amount_minor": 4200,
                            "currency": "jpy", "order_ref": "POS-1"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403
    assert "'redeem' scope" in response.json()["detail"]
    assert not Redemption.objects.exists()


def test_redeem_code_command(config):
    grant = _grant_with_code(provider="local", discount_type="amount", percent_off=None,
                             amount_off_minor=500, minimum_order_minor=2000)
    out = StringIO()
    call_command("redeem_code", "KAN-TEST-2345", "--order-amount", "4200", "--currency", "jpy",
                 stdout=out)
    assert "discount 500, paid 3700 JPY" in out.getvalue()
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REDEEMED


@pytest.mark.parametrize(("amount", "currency", "message"), [
    (1500, "jpy", "minimum order is 2000"),
    (4200, "usd", "This code is in JPY, the order in USD."),
])
def test_bad_redemptions_change_nothing(config, amount, currency, message):
    _grant_with_code(provider="local", discount_type="amount", percent_off=None,
                     amount_off_minor=500, minimum_order_minor=2000)
    with pytest.raises(CommandError, match=message):
        call_command("redeem_code", "KAN-TEST-2345", "--order-amount", str(amount),
                     "--currency", currency)
    assert not Redemption.objects.exists()


def test_unknown_code(config):
    with pytest.raises(CommandError, match="Unknown code"):
        call_command("redeem_code", "NOPE-NOPE", "--order-amount", "100", "--currency", "jpy")


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_order_all_get_the_first_redemption(config, monkeypatch):
    """Retries of one order that arrive together (a till that times out and retries) are all
    answered with the first redemption, and only one row is written. Each call is held just
    after the unlocked "seen this order?" check until all have passed it, so they overlap
    whatever the machine's speed."""
    import threading

    from django.db import connection, transaction
    from django.test import Client

    from rewards.services import redemptions as module

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    # Outside a test transaction the grant's issue task would run at once and make its own code.
    monkeypatch.setattr("rewards.services.grants.grants_enqueue_issue", lambda *a, **k: None)
    grant = _grant_with_code(provider="local", percent_off=10)  # max_redemptions=1
    _, secret = ingest_token_issue(name="till", scopes=["redeem"])
    calls = 6
    passed_check = threading.Barrier(calls)
    local = threading.local()

    class HeldTransaction:
        def __getattr__(self, name):
            return getattr(transaction, name)

        def atomic(self, *args, **kwargs):
            if not getattr(local, "held", False):
                local.held = True
                passed_check.wait(timeout=60)
            return transaction.atomic(*args, **kwargs)

    monkeypatch.setattr(module, "transaction", HeldTransaction())
    payload = {"code": "KAN-TEST-2345", "order_amount_minor": 4200, "currency": "JPY",
               "order_ref": "POS-RETRY"}
    answers: list = []
    errors: list[BaseException] = []

    def redeem():
        try:
            response = Client().post("/api/v1/rewards/redemptions", payload,
                                     content_type="application/json",
                                     HTTP_AUTHORIZATION=f"Bearer {secret}")
            answers.append((response.status_code, response.json()))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert [status for status, _ in answers] == [200] * calls, answers
    assert Redemption.objects.count() == 1
    first = Redemption.objects.get()
    assert {body["redemption_id"] for _, body in answers} == {first.pk}
    assert sorted(body["created"] for _, body in answers) == [False] * (calls - 1) + [True]
    assert {body["grant_id"] for _, body in answers} == {grant.pk}
