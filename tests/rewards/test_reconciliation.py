"""Reconciliation with Stripe: the real SDK reads the fake server's list endpoints (paginated)
and every planted mismatch is found; a clean range finds nothing."""

from __future__ import annotations

import html
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import load_workbook

from rewards import services
from rewards.models import DiscountCode, GrantStatus, ReconciliationRun
from rewards.services.redemptions import redemption_record
from tests.rewards.conftest import make_advocate, make_rule
from tests.roles import FINANCE, MARKETING, user_in_role

# One clock for the whole module: the range, Stripe's objects and our redemptions all use it,
# so a run that crosses midnight (UTC) still finds its rows inside the range.
NOW = int(time.time())
AT = datetime.fromtimestamp(NOW, UTC)
TODAY = AT.date()
RANGE = {"date_from": TODAY - timedelta(days=1), "date_to": TODAY}


def _stripe_code(fake, rule, n: int, *, used: int = 0) -> DiscountCode:
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    grant.status = GrantStatus.DELIVERED
    grant.save()
    promo_id = f"promo_{n:03d}"
    code = DiscountCode.objects.create(
        grant=grant, provider="stripe", code=f"KAN-RECO-{n:04d}", discount_type="percent",
        percent_off=10, currency="jpy", max_redemptions=1, stripe_promotion_code_id=promo_id)
    fake.promotion_codes[promo_id] = {
        "id": promo_id, "object": "promotion_code", "active": True, "code": code.code,
        "created": NOW - n, "times_redeemed": used, "expires_at": None,
        "metadata": {"kansha_grant": str(grant.pk)}}
    return code


def _checkout(fake, code: DiscountCode, session_id: str, *, total=3780, discount=420,
              record=True):
    fake.checkout_sessions[session_id] = {
        "id": session_id, "object": "checkout.session", "status": "complete",
        "created": NOW - 60, "amount_total": total, "currency": "jpy",
        "payment_intent": f"pi_{session_id}", "payment_status": "paid",
        "discounts": [{"coupon": "co_1", "promotion_code": code.stripe_promotion_code_id}],
        "total_details": {"amount_discount": discount}}
    if record:
        redemption_record(code=code, source="stripe_checkout",
                          source_id=f"{session_id}:{code.stripe_promotion_code_id}",
                          order_amount_minor=3780, discount_minor=420, currency="jpy",
                          at=AT)


def _invoice(fake, code: DiscountCode, invoice_id: str, *, paid=5000, record=True):
    fake.discounts[f"di_{invoice_id}"] = {"id": f"di_{invoice_id}", "object": "discount",
                                          "promotion_code": code.stripe_promotion_code_id}
    fake.invoices[invoice_id] = {
        "id": invoice_id, "object": "invoice", "status": "paid", "created": NOW - 30,
        "amount_paid": paid, "currency": "jpy", "discounts": [f"di_{invoice_id}"],
        "total_discount_amounts": [{"amount": 500, "discount": f"di_{invoice_id}"}]}
    if record:
        redemption_record(code=code, source="stripe_invoice",
                          source_id=f"{invoice_id}:{code.stripe_promotion_code_id}",
                          order_amount_minor=5000, discount_minor=500, currency="jpy",
                          at=AT)


@pytest.fixture
def clean_month(config, stripe_on, settings):
    """Seven Stripe codes, three of them used on a Checkout session and two on an invoice,
    all agreeing with Stripe; Stripe answers lists two objects a page."""
    settings.STRIPE_LIST_PAGE_SIZE = 2
    rule = make_rule(trigger_count=1)
    codes = [_stripe_code(stripe_on, rule, n, used=1 if n < 5 else 0) for n in range(7)]
    for n in range(3):
        _checkout(stripe_on, codes[n], f"cs_{n}")
    for n in (3, 4):
        _invoice(stripe_on, codes[n], f"in_{n}")
    # Someone else's order (no Kansha code) is not Kansha's business.
    stripe_on.checkout_sessions["cs_other"] = {
        "id": "cs_other", "object": "checkout.session", "status": "complete",
        "created": NOW, "amount_total": 999, "currency": "jpy", "discounts": [],
        "total_details": {"amount_discount": 0}}
    return rule, codes


def _by_kind(run) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for item in run.items.all():
        out.setdefault(item.kind, set()).add((item.object_type, item.stripe_id))
    return out


def test_a_clean_range_finds_nothing_and_pages_through_stripe(clean_month, stripe_on):
    run = services.stripe_reconcile(**RANGE)

    assert run.status == "done"
    assert run.counts == {"matched": 12, "missing_ours": 0, "missing_stripe": 0,
                          "amount_diff": 0}
    assert run.mismatches == 0
    # Seven promotion codes two a page: four pages, each asked with starting_after.
    assert stripe_on.list_pages["/v1/promotion_codes"] == 4
    starts = [c.params.get("starting_after") for c in stripe_on.calls("/v1/promotion_codes")]
    assert starts[0] is None
    assert starts[1:] == ["promo_001", "promo_003", "promo_005"]
    assert stripe_on.list_pages["/v1/checkout/sessions"] == 2
    assert stripe_on.list_pages["/v1/invoices"] == 1
    # Reads only: nothing was written at Stripe.
    assert not [r for r in stripe_on.requests if r.method == "POST"]


def test_each_planted_mismatch_is_found(clean_month, stripe_on):
    rule, codes = clean_month
    # Missing on our side: a Checkout order used our code, its webhook never arrived; and a
    # promotion code Stripe made for one of our grants that we never heard back about.
    _checkout(stripe_on, codes[5], "cs_lost", record=False)
    stripe_on.promotion_codes["promo_orphan"] = {
        "id": "promo_orphan", "object": "promotion_code", "active": True, "code": "KAN-ORPH",
        "created": NOW, "times_redeemed": 0, "metadata": {"kansha_grant": str(codes[6].grant_id)}}
    # Missing at Stripe: a redemption of a session Stripe does not have, and a code whose
    # promotion code Stripe does not have.
    redemption_record(code=codes[6], source="stripe_checkout", source_id="cs_gone:promo_006",
                      order_amount_minor=1000, discount_minor=100, currency="jpy",
                      at=AT)
    stripe_on.promotion_codes["promo_006"]["times_redeemed"] = 1
    ghost = _stripe_code(stripe_on, rule, 7)
    del stripe_on.promotion_codes[ghost.stripe_promotion_code_id]
    # Amount differences: a session's total, an invoice's amount, a use count, the active flag.
    stripe_on.checkout_sessions["cs_1"]["amount_total"] = 4000
    stripe_on.invoices["in_3"]["amount_paid"] = 4999
    stripe_on.promotion_codes["promo_002"]["times_redeemed"] = 2
    services.grant_revoke(grant_id=codes[5].grant_id, reason="test")  # Stripe still active

    run = services.stripe_reconcile(**RANGE)

    found = _by_kind(run)
    assert found["missing_ours"] == {("checkout_session", "cs_lost"),
                                     ("promotion_code", "promo_orphan")}
    assert found["missing_stripe"] == {("checkout_session", "cs_gone"),
                                       ("promotion_code", "promo_007")}
    assert found["amount_diff"] == {("checkout_session", "cs_1"), ("invoice", "in_3"),
                                    ("promotion_code", "promo_002"),
                                    ("promotion_code", "promo_005")}
    details = {i.stripe_id: i.detail for i in run.items.exclude(kind="matched")}
    assert details["cs_1"] == "order amount: Stripe 4000, Kansha 3780"
    assert details["in_3"] == "order amount: Stripe 4999, Kansha 5000"
    assert details["promo_002"] == "times_redeemed: Stripe 2, Kansha 1 redemption(s)"
    assert details["promo_005"].startswith("active: Stripe True, Kansha expects False")
    assert run.mismatches == 8


def test_the_command_prints_the_mismatches_and_exits_3(clean_month, stripe_on):
    out = io.StringIO()
    args = ["--from", str(RANGE["date_from"]), "--to", str(RANGE["date_to"])]
    call_command("reconcile_stripe", *args, stdout=out)
    assert "12 matched, 0 missing on our side, 0 missing at Stripe, 0 amount differences" in (
        out.getvalue())

    stripe_on.checkout_sessions["cs_0"]["total_details"]["amount_discount"] = 1
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile_stripe", *args, stdout=out)
    assert exited.value.code == 3
    assert "Amount differences: Checkout session cs_0: discount: Stripe 1, Kansha 420" in (
        out.getvalue())
    assert ReconciliationRun.objects.count() == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-11-31", "--to", "2026-12-01"], "--from must be a date as YYYY-MM-DD"),
    (["--from", "2026-11-01", "--to", "2026-10-01"], "is before the start"),
    (["--from", "2026-11-01\x00", "--to", "2026-11-02"], "--from must be a date"),
    (["--from", "2026-11-01", "--to", "2026-11-\udcff"], "--to must be a date"),
])
def test_the_command_refuses_bad_dates_and_stores_nothing(stripe_on, db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("reconcile_stripe", *args)
    assert not ReconciliationRun.objects.exists()


def test_without_stripe_there_is_nothing_to_reconcile(db, settings):
    settings.STRIPE_API_KEY = ""
    with pytest.raises(CommandError, match="Stripe is not configured"):
        call_command("reconcile_stripe", "--from", "2026-11-01", "--to", "2026-11-30")
    from rewards.tasks import stripe_reconcile_daily

    assert stripe_reconcile_daily.delay().get() == "skipped: Stripe is not configured"


def test_the_daily_beat_task_reconciles_the_last_three_days(clean_month):
    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values()
               if e["task"] == "rewards.tasks.stripe_reconcile_daily"]
    assert len(entries) == 1
    from rewards.tasks import stripe_reconcile_daily

    result = stripe_reconcile_daily.delay().get()
    run = ReconciliationRun.objects.get()
    assert result == f"#{run.pk}: {run.counts}"
    # The task reads the clock itself: its "today" is the day the run started (UTC).
    today = run.started_at.astimezone(UTC).date()
    assert (run.trigger, run.date_from, run.date_to) == (
        "beat", today - timedelta(days=3), today - timedelta(days=1))


def test_a_stripe_failure_marks_the_run_failed(clean_month, stripe_on):
    from rewards.stripe_client import StripeTransientError

    stripe_on.fail("/v1/checkout/sessions", times=1, status=503)
    with pytest.raises(StripeTransientError):
        services.stripe_reconcile(**RANGE)
    run = ReconciliationRun.objects.get()
    assert run.status == "failed"
    assert "503" in run.error
    assert not run.items.exists()


# --- The report in the admin -------------------------------------------------------------------


def test_finance_reads_the_report_drills_down_and_exports(client, clean_month, stripe_on):
    stripe_on.checkout_sessions["cs_1"]["amount_total"] = 4000
    run = services.stripe_reconcile(**RANGE)
    client.force_login(user_in_role(FINANCE))
    url = reverse("kansha_reports:reconciliation")

    page = client.get(url).content.decode()
    assert f"Reconciliation #{run.pk}" in page
    assert "order amount: Stripe 4000, Kansha 3780" in page
    item = run.items.get(kind="amount_diff")
    detail = reverse("kansha_reports:reconciliation_item", args=[item.pk])
    assert detail in page
    mismatches = client.get(url, {"run": run.pk, "kind": "amount_diff"}).content.decode()
    assert "cs_1" in mismatches
    assert "cs_0" not in mismatches

    drill = html.unescape(client.get(detail).content.decode())
    assert '"amount_total": 4000' in drill
    assert '"order_amount_minor": 3780' in drill
    assert reverse("wagtailsnippets_rewards_redemption:inspect",
                   args=[item.redemption_id]) in drill

    response = client.get(url, {"run": run.pk, "export": "xlsx"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="kansha-reconciliation-{RANGE["date_from"]:%Y-%m-%d}-'
        f'{RANGE["date_to"]:%Y-%m-%d}-run{run.pk}.xlsx"')
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook["What differs"].iter_rows(values_only=True))
    assert rows[0][:3] == ("item_id", "kind", "object_type")
    assert rows[1][1:4] == ("amount_diff", "checkout_session", "cs_1")


def test_reconciliation_is_for_finance(client, clean_month):
    run = services.stripe_reconcile(**RANGE)
    client.force_login(user_in_role(MARKETING))
    assert client.get(reverse("kansha_reports:reconciliation")).status_code == 403
    item = run.items.first()
    assert client.get(reverse("kansha_reports:reconciliation_item",
                              args=[item.pk])).status_code == 403
