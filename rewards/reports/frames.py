"""Pure frame builders: small aggregated inputs (from `queries`) → the report's tables.

No database here, so each builder is tested on a literal input against an exact frame. Counts
are int64, shares and medians float64 (NaN where the denominator is zero), money integer minor
units in columns ending in `_minor`, always beside a `currency` column: nothing here ever adds
amounts of two currencies together.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NO_EXPIRY = "no expiry"
# The rule of thumb for a brand's outbound mix: replies / conversations / broadcasts.
BALANCE_TARGET = {"replies": 0.5, "conversations": 0.3, "broadcasts": 0.2}
BALANCE_KINDS = {"reply": "replies", "care": "conversations", "consent": "conversations",
                 "dm": "conversations", "reshare": "broadcasts"}
APPROVED_STATUSES = ("approved", "sending", "sent", "failed")


def _share(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator as float64, NaN where the denominator is 0, 4 decimals."""
    num = numerator.astype("float64")
    den = denominator.astype("float64").replace(0.0, np.nan)
    return (num / den).round(4)


def _counts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = frame[column].fillna(0).astype("int64")
    return frame


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


# --- Ambassador program --------------------------------------------------------------------

TREND_COLUMNS = {
    "period": "object", "platform": "object", "mentions": "int64", "positive": "int64",
    "positive_share": "float64", "thanks_proposed": "int64", "thanks_approved": "int64",
    "thanks_sent": "int64", "thanks_rejected": "int64", "median_minutes_to_thank": "float64",
    "care_items": "int64", "care_median_minutes_to_response": "float64",
    "care_within_sla_share": "float64", "new_advocates": "int64", "active_advocates": "int64",
    "reshares_sent": "int64", "consents_granted": "int64",
}


def shape_ambassador_trend(*, mentions: pd.DataFrame, outreach: pd.DataFrame, times: pd.DataFrame,
                     new: pd.DataFrame, active: pd.DataFrame,
                     consents: pd.DataFrame) -> pd.DataFrame:
    """One row per (period, platform): the program's activity, in TREND_COLUMNS order.

    mentions: period, platform, mentions, positive · outreach: period, platform, kind, status,
    items, with_sla, within_sla · times: period, platform, kind, median_seconds · new: period,
    platform, new_advocates · active: period, platform, active_advocates · consents: period,
    platform, consents_granted.
    """
    keys = ["period", "platform"]
    parts: list[pd.DataFrame] = []
    if not mentions.empty:
        parts.append(mentions[[*keys, "mentions", "positive"]])
    if not outreach.empty:
        o = outreach
        reply, care = o[o["kind"] == "reply"], o[o["kind"] == "care"]

        def total(rows: pd.DataFrame, name: str, column: str = "items") -> pd.DataFrame:
            return rows.groupby(keys, as_index=False)[column].sum().rename(
                columns={column: name})

        parts += [
            total(reply, "thanks_proposed"),
            total(reply[reply["status"].isin(APPROVED_STATUSES)], "thanks_approved"),
            total(reply[reply["status"] == "sent"], "thanks_sent"),
            total(reply[reply["status"] == "rejected"], "thanks_rejected"),
            total(care, "care_items"), total(care, "_care_with_sla", "with_sla"),
            total(care, "_care_within_sla", "within_sla"),
            total(o[(o["kind"] == "reshare") & (o["status"] == "sent")], "reshares_sent"),
        ]
    if not times.empty:
        t = times.assign(minutes=(times["median_seconds"].astype("float64") / 60).round(1))
        for kind, name in (("reply", "median_minutes_to_thank"),
                           ("care", "care_median_minutes_to_response")):
            parts.append(t[t["kind"] == kind][[*keys, "minutes"]].rename(
                columns={"minutes": name}))
    for frame, column in ((new, "new_advocates"), (active, "active_advocates"),
                          (consents, "consents_granted")):
        if not frame.empty:
            parts.append(frame[[*keys, column]])
    if not parts:
        return _empty(TREND_COLUMNS)
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on=keys, how="outer")
    for column in [*TREND_COLUMNS, "_care_with_sla", "_care_within_sla"]:
        if column not in out:
            out[column] = np.nan
    _counts(out, [c for c, dtype in TREND_COLUMNS.items() if dtype == "int64"]
            + ["_care_with_sla", "_care_within_sla"])
    out["positive_share"] = _share(out["positive"], out["mentions"])
    out["care_within_sla_share"] = _share(out["_care_within_sla"], out["_care_with_sla"])
    for column in ("median_minutes_to_thank", "care_median_minutes_to_response"):
        out[column] = out[column].astype("float64")
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    return out[list(TREND_COLUMNS)]


def shape_outbound_balance(outreach: pd.DataFrame) -> pd.DataFrame:
    """Per period: sent replies, conversations (care + consent + DM), broadcasts (reshares),
    their shares, and how far each share is from the 50/30/20 rule of thumb (in points)."""
    columns = {"period": "object", "replies": "int64", "conversations": "int64",
               "broadcasts": "int64", "replies_share": "float64",
               "conversations_share": "float64", "broadcasts_share": "float64",
               "largest_gap_points": "float64"}
    sent = outreach[(outreach["status"] == "sent") & outreach["kind"].isin(BALANCE_KINDS)] \
        if not outreach.empty else outreach
    if sent.empty:
        return _empty(columns)
    sent = sent.assign(group=sent["kind"].map(BALANCE_KINDS))
    out = sent.pivot_table(index="period", columns="group", values="items", aggfunc="sum",
                           fill_value=0)
    out = out.reindex(columns=list(BALANCE_TARGET), fill_value=0).reset_index()
    out.columns.name = None
    _counts(out, list(BALANCE_TARGET))
    total = out[list(BALANCE_TARGET)].sum(axis=1)
    gaps = []
    for group, target in BALANCE_TARGET.items():
        out[f"{group}_share"] = _share(out[group], total)
        gaps.append((out[f"{group}_share"] - target).abs() * 100)
    out["largest_gap_points"] = pd.concat(gaps, axis=1).max(axis=1).round(1)
    return out[list(columns)].reset_index(drop=True)


def shape_rejection_reasons(reasons: pd.DataFrame) -> pd.DataFrame:
    """reason, rejected, share — most frequent first."""
    if reasons.empty:
        return _empty({"reason": "object", "rejected": "int64", "share": "float64"})
    out = reasons[["reason", "rejected"]].copy()
    _counts(out, ["rejected"])
    out["share"] = _share(out["rejected"], pd.Series(out["rejected"].sum(), index=out.index))
    return out.sort_values(["rejected", "reason"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)


def shape_tier_distribution(tiers: pd.DataFrame) -> pd.DataFrame:
    """tier, advocates, share — in threshold order (no tier first)."""
    if tiers.empty:
        return _empty({"tier": "object", "advocates": "int64", "share": "float64"})
    out = tiers.sort_values(["threshold", "tier"], kind="stable")[["tier", "advocates"]].copy()
    _counts(out, ["advocates"])
    out["share"] = _share(out["advocates"], pd.Series(out["advocates"].sum(), index=out.index))
    return out.reset_index(drop=True)


def shape_tier_movement(changes: pd.DataFrame) -> pd.DataFrame:
    """period, tier, promotions, demotions — moves into each tier, per period."""
    columns = {"period": "object", "tier": "object", "promotions": "int64",
               "demotions": "int64"}
    if changes.empty:
        return _empty(columns)
    out = changes.pivot_table(index=["period", "tier"], columns="direction", values="changes",
                              aggfunc="sum", fill_value=0)
    out = out.reindex(columns=["up", "down"], fill_value=0).reset_index()
    out.columns.name = None
    out = out.rename(columns={"up": "promotions", "down": "demotions"})
    _counts(out, ["promotions", "demotions"])
    return out[list(columns)].sort_values(["period", "tier"]).reset_index(drop=True)


def shape_disclosure_summary(checks: pd.DataFrame) -> pd.DataFrame:
    """period, platform, rewarded_posts, disclosed, disclosed_share, reminders, reminders_sent."""
    counts = ["rewarded_posts", "disclosed", "reminders", "reminders_sent"]
    if checks.empty:
        return _empty({"period": "object", "platform": "object",
                       **dict.fromkeys(counts, "int64"), "disclosed_share": "float64"})
    out = _counts(checks[["period", "platform", *counts]].copy(), counts)
    out.insert(4, "disclosed_share", _share(out["disclosed"], out["rewarded_posts"]))
    return out.sort_values(["period", "platform"], kind="stable").reset_index(drop=True)


def shape_repeat_offenders(rows: pd.DataFrame) -> pd.DataFrame:
    """advocate_id, advocate, undisclosed, reminders_sent — as ranked by the query."""
    if rows.empty:
        return _empty({"advocate_id": "int64", "advocate": "object", "undisclosed": "int64",
                       "reminders_sent": "int64"})
    return _counts(rows[["advocate_id", "advocate", "undisclosed", "reminders_sent"]].copy(),
                   ["advocate_id", "undisclosed", "reminders_sent"]).reset_index(drop=True)


def shape_top_advocates(top: pd.DataFrame) -> pd.DataFrame:
    """rank, advocate_id, name, reach, events, redemptions — as ranked by the query."""
    columns = ["rank", "advocate_id", "name", "reach", "events", "redemptions"]
    if top.empty:
        return _empty({c: "object" if c == "name" else "int64" for c in columns})
    out = top[columns].copy()
    _counts(out, ["rank", "advocate_id", "reach", "events", "redemptions"])
    return out.sort_values(["rank", "advocate_id"]).reset_index(drop=True)


# --- Redemptions ---------------------------------------------------------------------------

SUMMARY_KEYS = ["month", "rule_id", "rule", "tier", "currency"]
# Money columns: gross (as redeemed), reversed (refunds and disputes, net of those put back,
# by the month they happened) and net = gross − reversed.
MONEY_COLUMNS = {
    "redemptions": "int64", "discount_minor": "int64", "order_revenue_minor": "int64",
    "reversals": "int64", "discount_reversed_minor": "int64",
    "order_revenue_reversed_minor": "int64", "discount_net_minor": "int64",
    "order_revenue_net_minor": "int64",
}
SUMMARY_COLUMNS = {
    "month": "object", "rule_id": "int64", "rule": "object", "tier": "object",
    "currency": "object", "codes_issued": "int64", "codes_redeemed": "int64",
    "codes_expired": "int64", "redemption_rate": "float64", **MONEY_COLUMNS,
}


def _net(out: pd.DataFrame) -> None:
    out["discount_net_minor"] = out["discount_minor"] - out["discount_reversed_minor"]
    out["order_revenue_net_minor"] = (out["order_revenue_minor"]
                                      - out["order_revenue_reversed_minor"])


def shape_redemption_summary(*, cohort: pd.DataFrame, redemptions: pd.DataFrame,
                       reversals: pd.DataFrame | None = None) -> pd.DataFrame:
    """By month, rule, tier and currency: the code cohort (issued/redeemed/expired/rate, by
    issue month) beside the money (redemptions, discount, attributed revenue, by redemption
    month; refunds and disputes by the month they happened; net = gross − reversed)."""
    parts = []
    if not cohort.empty:
        parts.append(cohort[[*SUMMARY_KEYS, "issued", "redeemed", "expired"]].rename(columns={
            "issued": "codes_issued", "redeemed": "codes_redeemed", "expired": "codes_expired"}))
    if not redemptions.empty:
        parts.append(redemptions[[*SUMMARY_KEYS, "redemptions", "discount_minor",
                                  "order_minor"]].rename(
            columns={"order_minor": "order_revenue_minor"}))
    if reversals is not None and not reversals.empty:
        parts.append(reversals[[*SUMMARY_KEYS, "reversals", "discount_reversed_minor",
                                "order_reversed_minor"]].rename(
            columns={"order_reversed_minor": "order_revenue_reversed_minor"}))
    if not parts:
        return _empty(SUMMARY_COLUMNS)
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part, on=SUMMARY_KEYS, how="outer")
    for column in SUMMARY_COLUMNS:
        if column not in out:
            out[column] = np.nan
    _counts(out, [c for c, d in SUMMARY_COLUMNS.items() if d == "int64"])
    out["redemption_rate"] = _share(out["codes_redeemed"], out["codes_issued"])
    _net(out)
    out = out.sort_values(["month", "currency", "rule", "tier"], kind="stable")
    return out[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def shape_redemption_totals(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per currency (never summed across): the summary's totals."""
    columns = {"currency": "object", "codes_issued": "int64", "codes_redeemed": "int64",
               "codes_expired": "int64", "redemption_rate": "float64", **MONEY_COLUMNS}
    if summary.empty:
        return _empty(columns)
    sums = ["codes_issued", "codes_redeemed", "codes_expired",
            *[c for c in MONEY_COLUMNS if not c.endswith("_net_minor")]]
    out = summary.groupby("currency", as_index=False)[sums].sum()
    _counts(out, sums)
    out["redemption_rate"] = _share(out["codes_redeemed"], out["codes_issued"])
    _net(out)
    return out[list(columns)].sort_values("currency").reset_index(drop=True)


def shape_order_values(*, with_code: pd.DataFrame, without_code: pd.DataFrame) -> pd.DataFrame:
    """month, currency, orders and average order value (minor units) with and without a code.

    with_code: redemptions_by_month rows (orders = redemptions with a known order amount);
    without_code: month, currency, orders, order_minor.
    """
    columns = {"month": "object", "currency": "object", "orders_with_code": "int64",
               "aov_with_code_minor": "Int64", "orders_without_code": "int64",
               "aov_without_code_minor": "Int64"}
    parts = []
    if not with_code.empty:
        parts.append(with_code.groupby(["month", "currency"], as_index=False)[
            ["orders", "order_minor"]].sum().rename(
            columns={"orders": "orders_with_code", "order_minor": "_with_minor"}))
    if not without_code.empty:
        parts.append(without_code[["month", "currency", "orders", "order_minor"]].rename(
            columns={"orders": "orders_without_code", "order_minor": "_without_minor"}))
    if not parts:
        return _empty(columns)
    out = parts[0] if len(parts) == 1 else parts[0].merge(parts[1], on=["month", "currency"],
                                                          how="outer")
    for column in ("orders_with_code", "orders_without_code", "_with_minor", "_without_minor"):
        if column not in out:
            out[column] = 0
    _counts(out, ["orders_with_code", "orders_without_code", "_with_minor", "_without_minor"])
    for kind in ("with", "without"):
        orders = out[f"orders_{kind}_code"].astype("float64").replace(0.0, np.nan)
        out[f"aov_{kind}_code_minor"] = (out[f"_{kind}_minor"] / orders).round(0).astype(
            "Int64")
    return out[list(columns)].sort_values(["month", "currency"]).reset_index(drop=True)


LEDGER_DATETIMES = ("created_at", "issued_at", "expires_at")


def shape_grant_ledger(ledger: pd.DataFrame) -> pd.DataFrame:
    """One row per grant; datetimes as UTC 'YYYY-MM-DD HH:MM:SS' text (spreadsheet-safe)."""
    out = ledger.copy()
    for column in LEDGER_DATETIMES:
        if column not in out:
            continue
        values = out[column]
        if values.map(lambda v: v is None or isinstance(v, str)).all():
            out[column] = values.fillna("").astype(str)  # formatted by the database already
        else:
            stamps = pd.to_datetime(values, utc=True, format="mixed")
            out[column] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    return out.reset_index(drop=True)


# --- Liability -----------------------------------------------------------------------------

LIABILITY_COLUMNS = {
    "expiry_month": "object", "currency": "object", "codes_outstanding": "int64",
    "amount_codes_minor": "int64", "percent_codes_minor": "int64",
    "percent_codes_uncapped": "int64", "perk_units": "int64", "perk_cost_minor": "int64",
    "max_exposure_minor": "int64",
}


def shape_liability(*, codes: pd.DataFrame, perks: pd.DataFrame) -> pd.DataFrame:
    """By month of expiry and currency: the most the unredeemed codes can still cost plus the
    perk stock committed (reserved units × unit cost). Percent codes count their grant's
    estimate, or the percentage of the rule's minimum order; `percent_codes_uncapped` counts
    the ones with neither (their exposure is not bounded by any data we hold)."""
    keys = ["expiry_month", "currency"]
    parts = []
    if not codes.empty:
        c = codes.assign(percent=codes["estimate_minor"] + codes["minimum_minor"])
        parts.append(c.groupby(keys, as_index=False).agg(
            codes_outstanding=("codes", "sum"), amount_codes_minor=("amount_minor", "sum"),
            percent_codes_minor=("percent", "sum"),
            percent_codes_uncapped=("uncapped", "sum")))
    if not perks.empty:
        parts.append(perks.groupby(keys, as_index=False).agg(
            perk_units=("units", "sum"), perk_cost_minor=("cost_minor", "sum")))
    if not parts:
        return _empty(LIABILITY_COLUMNS)
    out = parts[0] if len(parts) == 1 else parts[0].merge(parts[1], on=keys, how="outer")
    for column in LIABILITY_COLUMNS:
        if column not in out:
            out[column] = 0
    _counts(out, [c for c, d in LIABILITY_COLUMNS.items() if d == "int64"])
    out["max_exposure_minor"] = (out["amount_codes_minor"] + out["percent_codes_minor"]
                                 + out["perk_cost_minor"])
    # '' (no expiry) sorts last, after every month.
    out["_order"] = out["expiry_month"].eq("")
    out["expiry_month"] = out["expiry_month"].replace("", NO_EXPIRY)
    out = out.sort_values(["_order", "expiry_month", "currency"], kind="stable")
    return out[list(LIABILITY_COLUMNS)].reset_index(drop=True)


def shape_liability_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per currency: the liability frame's totals."""
    sums = [c for c, d in LIABILITY_COLUMNS.items() if d == "int64"]
    if frame.empty:
        return _empty({"currency": "object", **{c: "int64" for c in sums}})
    out = frame.groupby("currency", as_index=False)[sums].sum()
    return _counts(out, sums).sort_values("currency").reset_index(drop=True)


def shape_points_outstanding(points: pd.DataFrame) -> pd.DataFrame:
    """expiry_month, points, advocates — unexpired points by the month they lapse."""
    if points.empty:
        return _empty({"expiry_month": "object", "points": "int64", "advocates": "int64"})
    out = points[["expiry_month", "points", "advocates"]].copy()
    _counts(out, ["points", "advocates"])
    out["_order"] = out["expiry_month"].eq("")
    out["expiry_month"] = out["expiry_month"].replace("", NO_EXPIRY)
    out = out.sort_values(["_order", "expiry_month"], kind="stable")
    return out[["expiry_month", "points", "advocates"]].reset_index(drop=True)


# --- Reconciliation ------------------------------------------------------------------------

RECONCILIATION_KINDS = ["matched", "missing_ours", "missing_stripe", "amount_diff"]
RECONCILIATION_OBJECTS = ["promotion_code", "checkout_session", "invoice"]


def shape_reconciliation_summary(items: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per kind of Stripe object: how many matched and how many differ, and how."""
    frame = pd.DataFrame(items, columns=["kind", "object_type"])
    counts = frame.groupby(["object_type", "kind"]).size() if not frame.empty else None
    rows = []
    for obj in RECONCILIATION_OBJECTS:
        row: dict[str, object] = {"object_type": obj}
        for kind in RECONCILIATION_KINDS:
            row[kind] = int(counts.get((obj, kind), 0)) if counts is not None else 0
        rows.append(row)
    return pd.DataFrame(rows, columns=["object_type", *RECONCILIATION_KINDS])


def shape_reconciliation_items(items: list[dict[str, Any]]) -> pd.DataFrame:
    """The items that differ, as finance reads them (ids for the drill-down)."""
    columns = {"item_id": "int64", "kind": "object", "object_type": "object",
               "stripe_id": "object", "code": "object", "grant_id": "Int64",
               "redemption_id": "Int64", "currency": "object", "detail": "object"}
    if not items:
        return _empty(columns)
    frame = pd.DataFrame(items).rename(columns={"id": "item_id", "code__code": "code"})
    frame["code"] = frame["code"].fillna("")
    for column in ("grant_id", "redemption_id"):
        frame[column] = frame[column].astype("Int64")
    return frame[list(columns)].reset_index(drop=True)


# --- Care ------------------------------------------------------------------------------------

CARE_OUTCOMES = ("fixed", "refunded", "explained", "no_reply", "not_our_fault")
CARE_COLUMNS = {
    "resolved": "int64", "first_response_median_minutes": "float64",
    "first_response_p90_minutes": "float64", "resolution_median_minutes": "float64",
    "resolution_p90_minutes": "float64", "sla_hit_rate": "float64",
    "resolution_sla_hit_rate": "float64",
    **{outcome: "int64" for outcome in CARE_OUTCOMES}, "became_advocates": "int64",
}


def shape_care_summary(conversations: pd.DataFrame, by: str) -> pd.DataFrame:
    """One row per `by` ("platform" or "staff") and a last row "all": conversations resolved,
    first-response and resolution times (median and p90, minutes; p90 interpolated linearly
    between the two nearest conversations), the first-response and the resolution SLA hit
    rates (each among the conversations with that SLA), each outcome's count, and how many of
    the people later became advocates.

    conversations: platform, staff, outcome, first_response_seconds, resolution_seconds,
    sla_hit (1/0/None), resolution_sla_hit (1/0/None), became_advocate (0/1):
    `queries.count_care_conversations`.
    """
    if conversations.empty:
        return _empty({by: "object", **CARE_COLUMNS})
    rows = conversations.copy()
    if "resolution_sla_hit" not in rows:
        rows["resolution_sla_hit"] = None
    for column in ("first_response_seconds", "resolution_seconds", "sla_hit",
                   "resolution_sla_hit"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce").astype("float64")
    rows["became_advocate"] = rows["became_advocate"].astype("int64")

    def summarise(group: pd.DataFrame) -> dict[str, object]:
        first, done = group["first_response_seconds"] / 60, group["resolution_seconds"] / 60
        outcomes = group["outcome"].value_counts()
        return {
            "resolved": len(group),
            "first_response_median_minutes": first.median(),
            "first_response_p90_minutes": first.quantile(0.9),
            "resolution_median_minutes": done.median(),
            "resolution_p90_minutes": done.quantile(0.9),
            "sla_hit_rate": group["sla_hit"].mean(),  # NaN rows (no SLA) are left out
            "resolution_sla_hit_rate": group["resolution_sla_hit"].mean(),
            **{outcome: int(outcomes.get(outcome, 0)) for outcome in CARE_OUTCOMES},
            "became_advocates": int(group["became_advocate"].sum()),
        }

    table = [{by: key, **summarise(group)} for key, group in rows.groupby(by, sort=True)]
    table.append({by: "all", **summarise(rows)})
    out = pd.DataFrame(table)
    for column, dtype in CARE_COLUMNS.items():
        out[column] = out[column].astype(dtype)
        if dtype == "float64":
            out[column] = out[column].round(4 if column.endswith("_rate") else 1)
    return out[[by, *CARE_COLUMNS]]
