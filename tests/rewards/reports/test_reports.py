"""The reports against the database: the known data set of conftest.py, on SQLite and on
PostgreSQL (the same SQL with a dialect switch)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db.models import Sum

from rewards.models import Redemption
from rewards.reports import ReportError, ReportParams, report_build

from .conftest import AS_OF


def test_redemption_totals_reconcile_with_the_ledger_per_currency(program, params):
    report = report_build(name="redemptions", params=params)
    totals = report.sections["totals"].frame.set_index("currency")
    ledger = dict(Redemption.objects.values_list("currency").annotate(Sum("discount_minor")))
    assert ledger == {"jpy": 500, "usd": 500}
    assert totals["discount_minor"].to_dict() == ledger
    assert totals["order_revenue_minor"].to_dict() == {"jpy": 4500, "usd": 2500}
    summary = report.sections["summary"].frame
    assert summary.groupby("currency")["discount_minor"].sum().to_dict() == ledger


def test_currencies_are_never_summed_together(program, params):
    report = report_build(name="redemptions", params=params)
    for key in ("summary", "totals", "aov"):
        frame = report.sections[key].frame
        assert "currency" in frame.columns
        assert frame["currency"].notna().all()
    assert list(report.sections["totals"].frame["currency"]) == ["jpy", "usd"]
    # A currency filter keeps only that currency's rows.
    usd = report_build(name="redemptions", params=ReportParams(
        params.date_from, params.date_to, currency="USD"))
    assert set(usd.sections["summary"].frame["currency"]) == {"usd"}
    assert usd.sections["totals"].frame["discount_minor"].tolist() == [500]


def test_redemption_report_cohort_and_order_values(program, params):
    report = report_build(name="redemptions", params=params)
    totals = report.sections["totals"].frame.set_index("currency")
    assert totals.loc["jpy", "codes_issued"] == 3
    assert totals.loc["jpy", "codes_redeemed"] == 1
    assert totals.loc["usd", "redemption_rate"] == 0.5
    aov = report.sections["aov"].frame.set_index("currency")
    # With a code: the one JPY order paid 4,500; without: (3,000 + 5,000) / 2 from Stripe events.
    assert aov.loc["jpy", "aov_with_code_minor"] == 4500
    assert aov.loc["jpy", "aov_without_code_minor"] == 4000
    assert aov.loc["usd", "orders_without_code"] == 0


def test_ledger_has_one_row_per_grant_with_stripe_ids(program, params):
    ledger = report_build(name="ledger", params=params).main.frame
    assert len(ledger) == 6
    assert ledger["grant_id"].is_unique
    row = ledger.set_index("code").loc["JPYONE"]
    assert row["stripe_promotion_code_id"] == "promo_JPYONE"
    assert row["stripe_coupon_id"] == "co_JPYONE"
    assert row["stripe_sources"] == "cs_jpy:promo_JPYONE"
    assert ledger.groupby("currency")["discount_minor"].sum().to_dict() == {"jpy": 500,
                                                                            "usd": 500}


def test_liability_counts_unredeemed_codes_and_reserved_perks(program, params):
    report = report_build(name="liability", params=params)
    totals = report.sections["totals"].frame.set_index("currency")
    # JPY: 10% code at its 500 estimate + 20% of the 3,000 minimum + a 1,200 tote bag.
    assert totals.loc["jpy", "max_exposure_minor"] == 500 + 600 + 1200
    assert totals.loc["usd", "max_exposure_minor"] == 500
    assert any("Assumption for percent-off codes" in n for n in report.notes)
    points = report.sections["points"].frame
    # Bob's 7 points lapsed on 2 November; Alice's 10 + 20 are outstanding on 1 December.
    assert points["points"].sum() == 30


def test_liability_as_of_after_expiry_drops_the_codes(program, params):
    from datetime import UTC, datetime

    from rewards.reports import liability_report

    later = liability_report(params, as_of=datetime(2027, 1, 1, tzinfo=UTC))
    totals = later.sections["totals"].frame.set_index("currency")
    assert totals.loc["jpy", "codes_outstanding"] == 0
    assert totals.loc["jpy", "perk_cost_minor"] == 1200  # a reserved perk does not expire
    assert AS_OF.year == 2026


def test_ambassador_report_counts_the_program(program, params):
    report = report_build(name="ambassador", params=params)
    trend = report.main.frame.set_index("platform")
    assert trend.loc["sandbox", "mentions"] == 4  # October's mention is outside the range
    assert trend.loc["sandbox", "positive_share"] == 0.75
    assert trend.loc["sandbox", "median_minutes_to_thank"] == 60.0
    assert trend.loc["mastodon", "care_within_sla_share"] == 1.0
    assert report.sections["top"].frame["name"].tolist()[0] == "Alice"
    assert report.sections["rejections"].frame["rejected"].sum() == 1
    balance = report.sections["balance"].frame.iloc[0]
    assert (balance["replies"], balance["conversations"], balance["broadcasts"]) == (2, 1, 1)
    assert len(report.charts) == 2
    assert all(svg.startswith("<svg") for _, svg in report.charts)


def test_weekly_buckets_start_on_monday(program):
    report = report_build(name="ambassador", params=ReportParams(
        date(2026, 11, 1), date(2026, 11, 30), period="week", platform="sandbox"))
    trend = report.main.frame
    assert set(trend["platform"]) == {"sandbox"}
    # 3 Nov (Tue) and 4 Nov → week of Mon 2 Nov; 5 and 6 Nov too.
    assert trend.set_index("period").loc["2026-11-02", "mentions"] == 4


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"date_from": date(2026, 2, 1), "date_to": date(2026, 1, 1)}, "before the start"),
    ({"period": "day"}, "Period must be"),
    ({"currency": "yen!"}, "three-letter"),
])
def test_bad_params_are_refused(kwargs, message):
    base = {"date_from": date(2026, 1, 1), "date_to": date(2026, 1, 31)}
    with pytest.raises(ReportError, match=message):
        ReportParams(**{**base, **kwargs})


def test_unknown_report_is_refused(db):
    with pytest.raises(ReportError, match="Unknown report"):
        report_build(name="nope", params=ReportParams(date(2026, 1, 1), date(2026, 1, 2)))
