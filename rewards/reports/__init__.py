"""Reports for marketing (the ambassador program) and finance (redemptions, liability).

SQL aggregates (`queries`), pandas shapes the small results (`frames`), `exports` writes CSV
(formula-neutralised), XLSX and JSON, `charts` draws SVG, `views` are the Wagtail report
views. The ambassador report's largest counts come from `rollups` (kept exact and brought up
to date by `report_build` before it reads). This package is the only place in Kansha that
imports pandas.

    report = report_build(name="redemptions", params=ReportParams(date(2026, 1, 1), ...))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from rewards.models import ReconciliationRun, RewardRule

from . import charts, frames, queries, rollups
from .params import (
    FORMATS,
    PERIODS,
    REPORT_FILTERS,
    Report,
    ReportError,
    ReportParams,
    Section,
    parse_date,
)

__all__ = ["FORMATS", "PERIODS", "REPORTS", "REPORT_FILTERS", "Report", "ReportError",
           "ReportParams", "Section", "filters_used", "parse_date", "report_build"]


def filters_used(name: str, params: ReportParams) -> list[tuple[str, Any]]:
    """The filters report `name` was run with, as (label, value) rows for an export's cover;
    only those the report takes, an unset one as "all"."""
    keep = REPORT_FILTERS.get(name, ())
    rows: list[tuple[str, Any]] = []
    if "date_range" in keep:
        rows += [("From", params.date_from), ("To (inclusive)", params.date_to)]
    if "period" in keep:
        rows.append(("Group by", params.period))
    if "platform" in keep:
        rows.append(("Platform", params.platform or "all"))
    if "rule" in keep:
        rule = RewardRule.objects.filter(pk=params.rule_id).first() if params.rule_id else None
        rows.append(("Reward rule", f"#{rule.pk} {rule.name}" if rule else
                     f"#{params.rule_id}" if params.rule_id else "all"))
    if "currency" in keep:
        rows.append(("Currency", params.currency.upper() or "all"))
    return rows


@dataclass(frozen=True, slots=True)
class _Counts:
    """The counts a report may read either way: from the tables (`queries.count_*`) or from
    the rollups (`rollups.rollup_*`, the same frames)."""
    mentions_by_period: Callable[[ReportParams], pd.DataFrame]
    outreach_by_period: Callable[[ReportParams], pd.DataFrame]
    response_times: Callable[[ReportParams], pd.DataFrame]
    advocates_new: Callable[[ReportParams], pd.DataFrame]
    advocates_active: Callable[[ReportParams], pd.DataFrame]
    top_advocates: Callable[[ReportParams], pd.DataFrame]
    points_outstanding: Callable[..., pd.DataFrame]  # (*, as_of)


DIRECT = _Counts(
    mentions_by_period=queries.count_mentions_by_period,
    outreach_by_period=queries.count_outreach_by_period,
    response_times=queries.count_response_times, advocates_new=queries.count_advocates_new,
    advocates_active=queries.count_advocates_active, top_advocates=queries.count_top_advocates,
    points_outstanding=queries.count_points_outstanding)
ROLLED = _Counts(
    mentions_by_period=rollups.rollup_mentions_by_period,
    outreach_by_period=rollups.rollup_outreach_by_period,
    response_times=rollups.rollup_response_times, advocates_new=rollups.rollup_advocates_new,
    advocates_active=rollups.rollup_advocates_active, top_advocates=rollups.rollup_top_advocates,
    points_outstanding=rollups.rollup_points_outstanding)


def _reasons(outreach: pd.DataFrame) -> pd.DataFrame:
    """reason, rejected — from outreach_by_period's rows (one scan serves both tables)."""
    if outreach.empty:
        return outreach
    rejected = outreach[(outreach["kind"] == "reply") & (outreach["status"] == "rejected")]
    return rejected.groupby("reason", as_index=False)["items"].sum().rename(
        columns={"items": "rejected"})


def ambassador_report(params: ReportParams, *, direct: bool = False,
                      refresh: bool = True) -> Report:
    """Marketing's view of the program, by period and platform.

    Reads the rollups, brought up to date first unless `refresh` is False (report_build
    refreshes them before its read-only snapshot); `direct` counts everything from the tables
    instead (the same report, slower).
    """
    if refresh and not direct:
        rollups.rollups_refresh(needed=rollups.needed_periods(params))
    source = DIRECT if direct else ROLLED
    outreach = source.outreach_by_period(params)
    trend = frames.shape_ambassador_trend(
        mentions=source.mentions_by_period(params), outreach=outreach,
        times=source.response_times(params), new=source.advocates_new(params),
        active=source.advocates_active(params), consents=queries.count_consents_granted(params))
    balance = frames.shape_outbound_balance(outreach)
    tiers = frames.shape_tier_distribution(queries.count_tier_distribution())
    care = queries.count_care_conversations(params)
    sections = {
        "trend": Section("trend", "Activity by period and platform", trend),
        "balance": Section("balance", "Outbound balance (sent): replies / conversations / "
                           "broadcasts", balance,
                           note="Rule of thumb: about 50% replies, 30% conversations (care, "
                           "consent requests, DMs), 20% broadcasts (consented reshares)."),
        "care_platform": Section("care_platform", "Care by platform",
                                 frames.shape_care_summary(care, "platform"),
                                 note="Times from the person's first post or message to our "
                                 "first response, and to the resolution. SLA hit: the first "
                                 "response went out by the SLA's due time. Resolution SLA "
                                 "hit: resolved by the resolution due time. Became advocates: "
                                 "an act of advocacy within 90 days of the resolution."),
        "care_staff": Section("care_staff", "Care by staff member",
                              frames.shape_care_summary(care, "staff")),
        "rejections": Section("rejections", "Thank-you replies rejected, by reason",
                              frames.shape_rejection_reasons(_reasons(outreach))),
        "tiers": Section("tiers", "Tier distribution (today)", tiers),
        "movement": Section("movement", "Tier movement",
                            frames.shape_tier_movement(queries.count_tier_movement(params))),
        "top": Section("top", "Top advocates (by confirmed advocacy events)",
                       frames.shape_top_advocates(source.top_advocates(params))),
        # Compliance: rewarded advocates' posts and their disclosure (docs/compliance.md).
        "disclosure": Section("disclosure", "Compliance: rewarded advocates' posts and "
                              "disclosure", frames.shape_disclosure_summary(
                                  queries.count_disclosure_by_period(params))),
        "offenders": Section("offenders", "Compliance: repeat undisclosed posters",
                             frames.shape_repeat_offenders(
                                 queries.count_disclosure_repeat_offenders(params))),
    }
    by_period = trend.groupby("period", as_index=False)[
        ["mentions", "positive", "thanks_sent", "active_advocates"]].sum()
    report = Report(
        name="ambassador", title="Ambassador program", params=params, sections=sections,
        primary="trend", notes=[
            "Mentions count by posting time; outreach by the time it was proposed; active "
            "advocates have at least one confirmed act of advocacy in the period.",
            "Time to thank: from the mention reaching Kansha to the reply being sent (median). "
            "Care: median time to the first response, and the share sent within the SLA.",
        ])
    report.charts = [
        ("Mentions and thank-yous", charts.line_chart(
            "Mentions and thank-yous", list(by_period["period"]),
            {_("mentions"): list(by_period["mentions"]), _("positive"): list(by_period["positive"]),
             _("thanks sent"): list(by_period["thanks_sent"])})),
        ("Tier distribution", charts.bar_chart(
            "Tier distribution", list(tiers["tier"]), {_("advocates"): list(tiers["advocates"])})),
    ]
    return report


def redemption_report(params: ReportParams, *, as_of: datetime | None = None) -> Report:
    """Finance: codes, redemptions, discount cost and revenue per rule, tier, month, currency."""
    as_of = as_of or min(params.end, datetime.now(UTC))
    redemptions = queries.count_redemptions_by_month(params)
    summary = frames.shape_redemption_summary(
        cohort=queries.count_codes_by_cohort(params, as_of=as_of), redemptions=redemptions,
        reversals=queries.count_reversals_by_month(params))
    totals = frames.shape_redemption_totals(summary)
    money = {c: "currency" for c in frames.MONEY_COLUMNS if c.endswith("_minor")}
    aov = frames.shape_order_values(with_code=redemptions,
                              without_code=queries.count_orders_without_code(params))
    sections = {
        "summary": Section("summary", "By month, rule, tier and currency", summary, money),
        "totals": Section("totals", "Totals per currency", totals, money),
        "aov": Section("aov", "Average order value with and without a code", aov,
                       {"aov_with_code_minor": "currency", "aov_without_code_minor": "currency"},
                       note="Orders without a code are the completed Stripe Checkout sessions "
                       "with no discount among the stored Stripe webhook events; orders paid "
                       "elsewhere are not in Kansha and are not shown."),
    }
    report = Report(
        name="redemptions", title="Redemptions", params=params, sections=sections,
        primary="summary", notes=[
            "Codes issued, redeemed, expired and the redemption rate are by the month a code "
            "was issued; redemptions, discount cost and attributed order revenue are by the "
            "month of the redemption. Amounts are in minor units of their currency and are "
            "never added across currencies.",
            "Gross is what was redeemed; reversed is what refunds and disputes took back (net "
            "of refunds that failed and disputes that were won), by the month they happened "
            "at Stripe; net = gross − reversed. Redemptions are never edited: reversals are "
            "rows of their own (docs/finance.md).",
            "The per-grant ledger with Stripe ids is the 'Ledger' export.",
        ])
    months = sorted(set(summary["month"]))
    for currency in sorted(set(summary["currency"])):
        rows = summary[summary["currency"] == currency].groupby("month")["discount_minor"].sum()
        title = f"Discount cost by month ({currency.upper()}, minor units)"
        report.charts.append((title, charts.bar_chart(
            title, months, {_("discount"): [float(rows.get(m, 0)) for m in months]})))
    return report


def ledger_report(params: ReportParams) -> Report:
    """Finance: one row per grant and its Stripe ids (the redemption report's ledger)."""
    ledger = frames.shape_grant_ledger(queries.count_grant_ledger(params))
    return Report(name="ledger", title="Grant ledger", params=params, primary="ledger",
                  sections={"ledger": Section("ledger", "One row per grant", ledger,
                                              {"cost_minor": "currency",
                                               "discount_minor": "currency",
                                               "order_minor": "currency",
                                               "discount_reversed_minor": "currency",
                                               "order_reversed_minor": "currency"})})


def liability_report(params: ReportParams, *, as_of: datetime | None = None,
                     direct: bool = False, refresh: bool = True) -> Report:
    """Finance: what unexpired, unredeemed codes and committed perks could still cost.

    Points outstanding come from the rollups (brought up to date first unless `refresh` is
    False, as for ambassador_report); `direct` counts the points ledger itself instead.
    """
    if refresh and not direct:
        rollups.rollups_refresh(needed=ROLLUP_REPORTS["liability"](params))
    as_of = as_of or min(params.end, datetime.now(UTC))
    table = frames.shape_liability(codes=queries.count_codes_outstanding(params, as_of=as_of),
                             perks=queries.count_perks_committed(params, as_of=as_of))
    money = {c: "currency" for c in ("amount_codes_minor", "percent_codes_minor",
                                     "perk_cost_minor", "max_exposure_minor")}
    source = DIRECT if direct else ROLLED
    points = frames.shape_points_outstanding(source.points_outstanding(as_of=as_of))
    sections = {
        "liability": Section("liability", "Maximum exposure by month of expiry", table, money),
        "totals": Section("totals", "Totals per currency", frames.shape_liability_totals(table),
                          money),
        "points": Section("points", "Points outstanding (unexpired) by month of expiry",
                          points),
    }
    report = Report(
        name="liability", title="Liability", params=params, sections=sections,
        primary="liability", notes=[
            f"As of {as_of:%Y-%m-%d %H:%M} UTC: codes issued and delivered, not expired, "
            "revoked or used up; perks granted but not yet delivered.",
            "Assumption for percent-off codes: a percentage has no upper bound on its own, so "
            "each counts the grant's estimate (the rule's budget estimate per grant); where "
            "that is zero, the percentage of the rule's minimum order; codes with neither are "
            "counted as 'uncapped' and add nothing to the exposure.",
            "Multi-use codes count each remaining use; a code with no use limit counts one.",
        ])
    labels = list(dict.fromkeys(table["expiry_month"]))  # months in order, once each
    for currency in sorted(set(table["currency"])):
        rows = table[table["currency"] == currency].set_index("expiry_month")
        title = f"Maximum exposure by expiry month ({currency.upper()}, minor units)"
        report.charts.append((title, charts.bar_chart(title, labels, {
            _("codes"): [float(rows["amount_codes_minor"].get(m, 0)
                            + rows["percent_codes_minor"].get(m, 0)) for m in labels],
            _("perks"): [float(rows["perk_cost_minor"].get(m, 0)) for m in labels]})))
    return report


def reconciliation_report(run: ReconciliationRun) -> Report:
    """Finance: one reconciliation run as a report — counts per object and outcome, then every
    item that differs (matched items are counted, not listed)."""
    rows = run.items.order_by("object_type", "kind", "id").values(
        "id", "kind", "object_type", "stripe_id", "code__code", "grant_id", "redemption_id",
        "currency", "detail")
    items: list[dict[str, Any]] = [dict(row) for row in rows]
    summary = frames.shape_reconciliation_summary(items)
    mismatches = frames.shape_reconciliation_items([i for i in items if i["kind"] != "matched"])
    params = ReportParams(date_from=run.date_from, date_to=run.date_to)
    return Report(
        filters=[*filters_used("reconciliation", params), ("Run", f"#{run.pk}")],
        name="reconciliation", title=f"Reconciliation with Stripe (run #{run.pk})",
        params=params, primary="items", sections={
            "summary": Section("summary", "Compared objects by outcome", summary),
            "items": Section("items", "What differs", mismatches),
        }, notes=[
            f"Run #{run.pk} ({run.trigger}) started {run.started_at:%Y-%m-%d %H:%M} UTC: "
            f"{run.get_status_display().lower()}."
            + (f" Error: {run.error}" if run.error else ""),
            "Missing on our side: Stripe holds it and Kansha does not. Missing at Stripe: "
            "Kansha holds it and Stripe does not (each was looked up by id first). Amount "
            "differences: both hold it and an amount, currency, use count or the active flag "
            "differs. Nothing was changed on either side (docs/finance.md).",
        ])


REPORTS: dict[str, Callable[..., Report]] = {
    "ambassador": ambassador_report,
    "redemptions": redemption_report,
    "ledger": ledger_report,
    "liability": liability_report,
}
# The reports that read rollups, and which summaries each needs up to date (the others count
# their tables directly: they read a few hundred thousand rows at most).
ROLLUP_REPORTS: dict[str, Callable[[ReportParams], set[rollups.NeededPeriod]]] = {
    "ambassador": rollups.needed_periods,
    "liability": lambda params: {("points",)},
}


def report_build(*, name: str, params: ReportParams, direct: bool = False) -> Report:
    """Run one report. Raises ReportError for an unknown name.

    A report that reads rollups first brings them up to date (rollups.rollups_refresh: it
    recounts what changed since the last refresh, a write to the rollup tables only), so it
    shows every change committed before it started. `direct` skips the rollups and counts
    every table itself (the same report; tests and the bench compare the two).
    """
    try:
        builder = REPORTS[name]
    except KeyError:
        raise ReportError(f"Unknown report {name!r}; choose one of "
                          f"{', '.join(REPORTS)}.") from None
    kwargs = {}
    if name in ROLLUP_REPORTS:
        # The refresh writes, so it runs (and commits) before the report's snapshot.
        if not direct:
            rollups.rollups_refresh(needed=ROLLUP_REPORTS[name](params))
        kwargs = {"direct": direct, "refresh": False}
    # One transaction, and on PostgreSQL one snapshot (REPEATABLE READ, when this is the
    # outermost transaction): every query of the report sees the same data, so totals
    # reconcile; the work_mem setting lasts only as long as the report.
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        queries.session_tune(snapshot=outermost)
        report = builder(params, **kwargs)
    report.filters = filters_used(name, params)
    return report
