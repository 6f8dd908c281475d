"""Refunds and disputes append reversals (never edits); reports show gross, reversed and net;
the clawback policy takes an advocate's points back (rewards/services/reversals.py)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from rewards.models import (
    PointsEntry,
    Redemption,
    RedemptionReversal,
    RewardsSettings,
    StripeEvent,
)
from rewards.reports import ReportParams, report_build
from tests.rewards.conftest import make_event
from tests.rewards.test_redemptions import _checkout, _event, _grant_with_code, _post


@pytest.fixture
def paid(client, config, settings, django_capture_on_commit_callbacks):
    """A Checkout order of ¥3,780 (after a ¥420 discount) paid with a Kansha code, through
    its webhook, with the PaymentIntent that refunds and disputes will name."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_kansha_test"
    grant = _grant_with_code()
    session = {**_checkout(), "payment_intent": "pi_order1"}

    def send(event_type, obj, event_id):
        with django_capture_on_commit_callbacks(execute=True):
            response = _post(client, _event(event_type, obj, event_id=event_id))
        assert response.status_code == 200
        return StripeEvent.objects.get(event_id=event_id)

    send("checkout.session.completed", session, "evt_paid")
    redemption = Redemption.objects.get()
    assert redemption.stripe_payment_intent_id == "pi_order1"
    return grant, redemption, send


def _refund(refund_id="re_1", amount=3780, status="succeeded", **extra):
    return {"id": refund_id, "object": "refund", "amount": amount, "currency": "jpy",
            "charge": "ch_1", "payment_intent": "pi_order1", "status": status,
            "created": int(time.time()), **extra}


def _charge(refunds, amount_refunded):
    return {"id": "ch_1", "object": "charge", "amount": 3780, "amount_refunded": amount_refunded,
            "currency": "jpy", "payment_intent": "pi_order1", "refunded": True,
            "refunds": {"object": "list", "data": refunds, "has_more": False,
                        "url": "/v1/charges/ch_1/refunds"}}


def _dispute(status="needs_response", amount=3780, dispute_id="dp_1"):
    return {"id": dispute_id, "object": "dispute", "amount": amount, "currency": "jpy",
            "charge": "ch_1", "payment_intent": "pi_order1", "status": status,
            "reason": "fraudulent", "created": int(time.time())}


def _totals(currency="jpy"):
    today = datetime.now(UTC).date()
    report = report_build(name="redemptions",
                          params=ReportParams(date(today.year, today.month, 1), today))
    rows = report.sections["totals"].frame
    return rows[rows["currency"] == currency].iloc[0].to_dict()


def test_a_refunded_order_gets_a_reversal_and_net_figures(paid):
    _, redemption, send = paid
    before = Redemption.objects.values().get()

    event = send("charge.refunded", _charge([_refund()], 3780), "evt_refund")

    (reversal,) = RedemptionReversal.objects.all()
    assert (reversal.kind, reversal.source_id, reversal.order_amount_minor,
            reversal.discount_minor, reversal.currency) == ("refund", "re_1", 3780, 420, "jpy")
    assert event.outcome == "refunds: 1 new for 1 redemption(s)"
    assert Redemption.objects.values().get() == before  # the redemption is never edited
    totals = _totals()
    assert (totals["discount_minor"], totals["discount_reversed_minor"],
            totals["discount_net_minor"]) == (420, 420, 0)
    assert (totals["order_revenue_minor"], totals["order_revenue_reversed_minor"],
            totals["order_revenue_net_minor"]) == (3780, 3780, 0)
    assert totals["reversals"] == 1


def test_a_partial_refund_takes_back_its_share_and_replays_add_nothing(paid):
    _, _, send = paid
    send("refund.updated", _refund(amount=1890), "evt_r1")
    send("refund.updated", _refund(amount=1890), "evt_r1_again")  # same refund, new event
    send("charge.refunded", _charge([_refund(amount=1890)], 1890), "evt_ch")

    (reversal,) = RedemptionReversal.objects.all()
    assert (reversal.order_amount_minor, reversal.discount_minor) == (1890, 210)
    totals = _totals()
    assert (totals["discount_net_minor"], totals["order_revenue_net_minor"]) == (210, 1890)

    # A second partial refund: the discount is taken back cumulatively, to the last yen.
    send("refund.updated", _refund("re_2", amount=1889), "evt_r2")
    send("refund.updated", _refund("re_3", amount=5), "evt_r3")  # capped at what is left
    assert _totals()["discount_net_minor"] == 0
    assert _totals()["order_revenue_net_minor"] == 0
    assert sum(RedemptionReversal.objects.values_list("order_amount_minor", flat=True)) == 3780


def test_a_refund_that_fails_is_put_back(paid):
    _, _, send = paid
    send("refund.updated", _refund(amount=3780, status="pending"), "evt_pending")
    assert _totals()["order_revenue_net_minor"] == 0
    send("refund.updated", _refund(amount=3780, status="failed"), "evt_failed")
    send("refund.updated", _refund(amount=3780, status="failed"), "evt_failed_again")

    kinds = sorted(RedemptionReversal.objects.values_list("kind", "order_amount_minor",
                                                          "discount_minor"))
    assert kinds == [("refund", 3780, 420), ("refund_failed", -3780, -420)]
    totals = _totals()
    assert (totals["discount_net_minor"], totals["order_revenue_net_minor"]) == (420, 3780)
    assert totals["reversals"] == 0


def test_a_disputed_order_is_reversed_and_a_won_dispute_puts_it_back(paid):
    _, _, send = paid
    send("charge.dispute.created", _dispute(), "evt_dp")
    (reversal,) = RedemptionReversal.objects.all()
    assert (reversal.kind, reversal.order_amount_minor, reversal.discount_minor) == (
        "dispute", 3780, 420)
    assert _totals()["discount_net_minor"] == 0

    send("charge.dispute.closed", _dispute(status="won"), "evt_won")
    assert _totals()["discount_net_minor"] == 420
    assert RedemptionReversal.objects.filter(kind="dispute_won").count() == 1


def test_a_lost_dispute_keeps_the_reversal_and_an_inquiry_reverses_nothing(paid):
    _, _, send = paid
    inquiry = send("charge.dispute.created", _dispute(status="warning_needs_response",
                                                      dispute_id="dp_inq"), "evt_inq")
    assert inquiry.outcome == "ignored: inquiry (warning_needs_response)"
    assert not RedemptionReversal.objects.exists()
    send("charge.dispute.created", _dispute(), "evt_dp")
    send("charge.dispute.closed", _dispute(status="lost"), "evt_lost")
    assert list(RedemptionReversal.objects.values_list("kind", flat=True)) == ["dispute"]
    assert _totals()["order_revenue_net_minor"] == 0


def test_a_refund_of_an_order_kansha_did_not_discount_changes_nothing(paid):
    _, _, send = paid
    event = send("refund.updated", {**_refund(), "payment_intent": "pi_other",
                                    "charge": "ch_other"}, "evt_other")
    assert event.outcome == "no Kansha redemption for this payment"
    assert not RedemptionReversal.objects.exists()


def test_a_refund_in_another_currency_or_absurd_amount_is_refused(paid):
    _, _, send = paid
    event = send("refund.updated", _refund(currency="yen"), "evt_yen")
    assert event.outcome.startswith("refused: “yen” is not an ISO 4217")
    event = send("refund.updated", _refund("re_9", amount=2**63), "evt_big")
    assert "above the limit" in event.outcome
    assert not RedemptionReversal.objects.exists()


# --- Finding the order through Stripe (the Checkout and invoice links) -----------------------


def test_a_refund_finds_a_checkout_order_through_stripe(client, config, stripe_on, settings,
                                                         django_capture_on_commit_callbacks):
    """The order's event did not carry its PaymentIntent: Stripe is asked which Checkout
    session the refunded payment paid (GET /v1/checkout/sessions?payment_intent=…)."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_kansha_test"
    _grant_with_code()
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, _event("checkout.session.completed", _checkout(), event_id="evt_paid"))
    assert Redemption.objects.get().stripe_payment_intent_id == ""
    stripe_on.checkout_sessions["cs_test_1"] = {
        "id": "cs_test_1", "object": "checkout.session", "payment_intent": "pi_order1",
        "status": "complete", "created": int(time.time())}
    # charge.refunded without `refunds` (API 2022-11-15 and later): the SDK lists them.
    stripe_on.refunds.update({f"re_{n}": {**_refund(f"re_{n}", amount=10), "created": n}
                              for n in range(1, 4)})
    charge = {k: v for k, v in _charge([], 30).items() if k != "refunds"}
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, _event("charge.refunded", charge, event_id="evt_refund"))

    assert StripeEvent.objects.get(event_id="evt_refund").outcome == (
        "refunds: 3 new for 1 redemption(s)")
    assert sorted(RedemptionReversal.objects.values_list("source_id", flat=True)) == [
        "re_1", "re_2", "re_3"]
    assert [c.params.get("payment_intent") for c in stripe_on.calls("/v1/checkout/sessions")
            ] == ["pi_order1"]
    assert [c.params.get("charge") for c in stripe_on.calls("/v1/refunds")] == ["ch_1"]


def test_a_dispute_finds_an_invoice_order_through_stripe(client, config, stripe_on, settings,
                                                          django_capture_on_commit_callbacks):
    """An invoice paid with a Kansha code; the dispute names only the charge: its
    PaymentIntent is read from the charge, then the invoice from GET /v1/invoice_payments."""
    from rewards import services

    settings.STRIPE_WEBHOOK_SECRET = "whsec_kansha_test"
    grant = _grant_with_code()
    code = grant.code
    services.redemptions.redemption_record(
        code=code, source="stripe_invoice", source_id="in_1:promo_abc123",
        order_amount_minor=5000, discount_minor=500, currency="jpy",
        at=datetime.now(UTC))
    stripe_on.charges["ch_9"] = {"id": "ch_9", "object": "charge", "payment_intent": "pi_inv"}
    stripe_on.invoice_payments["inpay_1"] = {
        "id": "inpay_1", "object": "invoice_payment", "invoice": "in_1", "status": "paid",
        "payment": {"type": "payment_intent", "payment_intent": "pi_inv"},
        "created": int(time.time())}
    dispute = {**_dispute(amount=5000), "charge": "ch_9", "payment_intent": None}
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, _event("charge.dispute.created", dispute, event_id="evt_dp"))
    (reversal,) = RedemptionReversal.objects.all()
    assert (reversal.kind, reversal.order_amount_minor, reversal.discount_minor) == (
        "dispute", 5000, 500)


# --- Points clawback ---------------------------------------------------------------------------


@pytest.fixture
def earned(paid, process):
    """The grant was earned by an act worth 10 points."""
    grant, redemption, send = paid
    event = make_event(grant.advocate)
    process()
    entry = PointsEntry.objects.get(event=event)
    assert entry.points == 10
    grant.trigger_event = event
    grant.save(update_fields=["trigger_event"])
    return grant, send


def _clawed() -> list[int]:
    return list(PointsEntry.objects.filter(reversal__isnull=False).order_by("id")
                .values_list("points", flat=True))


def test_by_default_a_refund_keeps_the_points(earned):
    _, send = earned
    send("refund.updated", _refund(), "evt_r")
    assert RewardsSettings.load().refund_points_clawback == "none"
    assert _clawed() == []


def test_proportional_clawback_takes_the_refunded_share_and_gives_it_back(earned):
    _, send = earned
    settings = RewardsSettings.load()
    settings.refund_points_clawback = "proportional"
    settings.save()
    send("refund.updated", _refund(amount=1890), "evt_half")
    assert _clawed() == [-5]
    send("refund.updated", _refund("re_2", amount=1890), "evt_rest")
    assert _clawed() == [-5, -5]
    send("refund.updated", _refund("re_2", amount=1890, status="failed"), "evt_failed")
    assert _clawed() == [-5, -5, 5]


def test_full_clawback_waits_for_the_whole_order_and_a_won_dispute_returns_it(earned):
    grant, send = earned
    settings = RewardsSettings.load()
    settings.refund_points_clawback = "full"
    settings.save()
    send("refund.updated", _refund(amount=1000), "evt_part")
    assert _clawed() == []
    send("charge.dispute.created", _dispute(amount=2780), "evt_dp")
    assert _clawed() == [-10]
    send("charge.dispute.closed", _dispute(amount=2780, status="won"), "evt_won")
    assert _clawed() == [-10, 10]
    balance = sum(PointsEntry.objects.filter(advocate=grant.advocate)
                  .values_list("points", flat=True))
    assert balance == 10
