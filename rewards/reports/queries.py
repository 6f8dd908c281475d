# ruff: noqa: S608 -- SQL text is built from table names and fixed expressions only; every
# value (dates, platform, rule, currency, limit) is passed as a query parameter.
"""The SQL side of the reports: every query aggregates in the database and returns a small frame.

These are the direct queries: each counts the tables themselves. The ambassador report's
biggest ones (a year is millions of mentions, outreach and events) are answered from rollups
instead (`rollups.py`), which count whole periods with these same functions and call them
directly for the partial periods at the ends of a range; `report_build(direct=True)` uses them
throughout, which is how tests and the bench check that both give the same report.

Raw SQL with parameters, one dialect switch (`_pg()`) for the handful of expressions that
differ between PostgreSQL and SQLite (period buckets, durations, medians). Periods come back as
ISO date strings of the bucket's first day (UTC): `2026-11-02` for a week starting on a Monday,
`2026-11-01` for a month; identical on both databases.

Medians: PostgreSQL computes them with `percentile_cont`; SQLite has no such aggregate, so the
embedded demo reads the individual durations of the (small) filtered set and takes the median in
pandas — the same numbers, computed in Python. That is the only SQLite fallback.

Indexes these queries and the rollup refresh use: `REPORT_INDEXES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from django.contrib.auth import get_user_model
from django.db import connection

from advocates.models import (
    AdvocacyEvent,
    Advocate,
    ConsentRecord,
    Conversation,
    ConversationMessage,
    Mention,
    Outreach,
    SocialIdentity,
)
from rewards.models import (
    AdvocateTier,
    DisclosureCheck,
    DiscountCode,
    Perk,
    PerkFulfilment,
    PointsEntry,
    Redemption,
    RedemptionReversal,
    RewardGrant,
    RewardRule,
    StripeEvent,
    Tier,
    TierChange,
)

from .params import ReportParams

T = {
    "mention": Mention._meta.db_table,
    "outreach": Outreach._meta.db_table,
    "event": AdvocacyEvent._meta.db_table,
    "advocate": Advocate._meta.db_table,
    "identity": SocialIdentity._meta.db_table,
    "consent": ConsentRecord._meta.db_table,
    "advocatetier": AdvocateTier._meta.db_table,
    "tier": Tier._meta.db_table,
    "tierchange": TierChange._meta.db_table,
    "grant": RewardGrant._meta.db_table,
    "code": DiscountCode._meta.db_table,
    "redemption": Redemption._meta.db_table,
    "reversal": RedemptionReversal._meta.db_table,
    "rule": RewardRule._meta.db_table,
    "perk": Perk._meta.db_table,
    "fulfilment": PerkFulfilment._meta.db_table,
    "points": PointsEntry._meta.db_table,
    "stripeevent": StripeEvent._meta.db_table,
    "disclosure": DisclosureCheck._meta.db_table,
    "conversation": Conversation._meta.db_table,
    "message": ConversationMessage._meta.db_table,
    "user": get_user_model()._meta.db_table,
}

# Indexes the report queries and the rollup refresh lean on (bench/reports.py prints them).
REPORT_INDEXES = [
    ("advocates_mention", "mention_posted_at (posted_at DESC)",
     "mentions of a day range (rollup recount)"),
    ("advocates_mention", "mention_changed (COALESCE(detected_at, received_at))",
     "mentions that arrived or were detected since the last refresh"),
    ("advocates_outreach", "outreach_created (created_at)",
     "outreach of a day range (rollup recount, partial periods)"),
    ("advocates_outreach", "outreach_updated (updated_at)",
     "outreach whose status changed since the last refresh"),
    ("advocates_advocacyevent", "event_occurred (occurred_at) INCLUDE (advocate, platform, kind)",
     "active and top advocates of a range (index-only)"),
    ("advocates_advocacyevent", "event_created (created_at)", "events new since the last refresh"),
    ("advocates_advocacyevent", "event_advocate_time (advocate, occurred_at) INCLUDE (platform)",
     "the top candidates' exact counts"),
    ("advocates_socialidentity", "identity_first_seen (first_seen_at) INCLUDE (platform, advocate)",
     "new advocates of a range"),
    ("rewards_tierchange", "tierchange_time (changed_at)", "tier movement"),
    ("rewards_redemption", "redemption_time (redeemed_at)", "redemptions by month"),
    ("rewards_redemptionreversal", "reversal_time (reversed_at)",
     "refunds and disputes by month"),
    ("rewards_rewardgrant", "grant_created (created_at)", "ledger export"),
    ("rewards_discountcode", "code_expires (expires_at)", "liability"),
    ("rewards_pointsentry", "points_expires (expires_at)",
     "points outstanding in a month of expiry (rollup recount, the as-of month)"),
    ("rewards_pointsentry", "points_created (created_at)", "entries new since the last refresh"),
    ("rewards_pointsentry", "points_occurred (occurred_at)",
     "the latest entry (may the rollup answer for this as-of time?)"),
]


def _pg() -> bool:
    return connection.vendor == "postgresql"


BUCKET_COLUMNS = ("period", "month", "expiry_month")


def _bucket(column: str, period: str) -> str:
    """SQL for the first day (UTC) of the week/month holding `column`.

    PostgreSQL groups by the truncated timestamp (cheap per row) and `_fetch` formats the few
    result rows as 'YYYY-MM-DD'; SQLite's date() gives that text directly. NULL stays NULL.
    """
    if _pg():
        return f"date_trunc('{period}', {column} AT TIME ZONE 'UTC')"
    if period == "week":
        # 'weekday 0' moves forward to Sunday (or stays), minus 6 days is that week's Monday.
        return f"date({column}, 'weekday 0', '-6 days')"
    return f"date({column}, 'start of month')"


def _seconds(later: str, earlier: str) -> str:
    if _pg():
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _dt(value: datetime) -> object:
    """A datetime parameter as the backend stores it (SQLite: naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _fetch(sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    # Any: what the driver adapts, including lists for `= ANY(%s)`, which Django's stubs
    # do not list among cursor parameters.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)
    for column in columns:
        values = frame[column]
        if column in BUCKET_COLUMNS:
            frame[column] = values.map(_bucket_text)
        elif values.dtype == object:
            first = next((v for v in values if v is not None), None)
            # PostgreSQL's SUM over bigint is numeric (Decimal); the sums are whole minor units.
            if isinstance(first, Decimal):
                frame[column] = values.map(_plain)
    return frame


def _bucket_text(value: object) -> str:
    if value is None or value != value:  # NULL (or NaN)
        return ""
    if isinstance(value, date | datetime):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _text_time(column: str) -> str:
    """A timestamp as UTC 'YYYY-MM-DD HH:MM:SS' text ('' for NULL), formatted by the database
    (cheaper than parsing 200,000 datetimes in Python)."""
    if _pg():
        return (f"COALESCE(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')")
    return f"COALESCE(strftime('%%Y-%%m-%%d %%H:%%M:%%S', {column}), '')"


def session_tune(*, snapshot: bool = False) -> None:
    """At the start of the report's transaction (PostgreSQL): with `snapshot`, REPEATABLE READ,
    so every query of the report reads the same snapshot (READ COMMITTED would give each
    statement its own, and totals could disagree with each other); and room for the
    per-advocate hash aggregates in memory instead of spilling to disk. Both end with the
    transaction. (JIT stays on: measured on the bench, compiling the expressions once beats
    interpreting them millions of times.)"""
    if _pg():
        with connection.cursor() as cursor:
            if snapshot:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET LOCAL work_mem = '64MB'")


def _where_platform(p: ReportParams, alias: str, params: list[object]) -> str:
    if not p.platform:
        return ""
    params.append(p.platform)
    return f" AND {alias}.platform = %s"


# --- Ambassador program --------------------------------------------------------------------


def count_mentions_by_period(p: ReportParams) -> pd.DataFrame:
    """period, platform, mentions, positive, detected — by the mention's posting time."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "m", params)
    return _fetch(f"""
        SELECT {_bucket("m.posted_at", p.period)} AS period, m.platform AS platform,
               COUNT(*) AS mentions,
               SUM(CASE WHEN m.detection_label = 'positive' THEN 1 ELSE 0 END) AS positive,
               SUM(CASE WHEN m.detected_at IS NOT NULL THEN 1 ELSE 0 END) AS detected
        FROM {T["mention"]} m
        WHERE m.posted_at >= %s AND m.posted_at < %s{extra}
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


def count_outreach_by_period(p: ReportParams) -> pd.DataFrame:
    """period, platform, kind, status, reason, items, with_sla, within_sla — by proposal time.

    `reason` is the reject reason of rejected thank-you replies ('' otherwise), so the
    rejection table comes from this same scan.
    """
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "o", params)
    return _fetch(f"""
        SELECT {_bucket("o.created_at", p.period)} AS period, o.platform AS platform,
               o.kind AS kind, o.status AS status,
               CASE WHEN o.kind = 'reply' AND o.status = 'rejected'
                    THEN COALESCE(NULLIF(o.reject_reason, ''), '(no reason given)')
                    ELSE '' END AS reason,
               COUNT(*) AS items,
               SUM(CASE WHEN o.sla_due_at IS NOT NULL THEN 1 ELSE 0 END) AS with_sla,
               SUM(CASE WHEN o.sla_due_at IS NOT NULL AND o.sent_at IS NOT NULL
                         AND o.sent_at <= o.sla_due_at THEN 1 ELSE 0 END) AS within_sla
        FROM {T["outreach"]} o
        WHERE o.created_at >= %s AND o.created_at < %s{extra}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""", params)


def count_response_times(p: ReportParams) -> pd.DataFrame:
    """period, platform, kind ('reply'|'care'), sent, median_seconds.

    Time from the mention reaching Kansha (`received_at`; the outreach's own creation when it
    has no mention) to the reply or care response being sent, for items proposed in the range.
    """
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "o", params)
    duration = _seconds("o.sent_at", "COALESCE(m.received_at, o.created_at)")
    select = f"""{_bucket("o.created_at", p.period)} AS period, o.platform AS platform,
                 o.kind AS kind"""
    source = f"""FROM {T["outreach"]} o LEFT JOIN {T["mention"]} m ON m.id = o.mention_id
        WHERE o.created_at >= %s AND o.created_at < %s AND o.kind IN ('reply', 'care')
          AND o.status = 'sent' AND o.sent_at IS NOT NULL{extra}"""
    if _pg():
        return _fetch(f"""
            SELECT {select}, COUNT(*) AS sent,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY {duration}) AS median_seconds
            {source} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", params)
    rows = _fetch(f"SELECT {select}, {duration} AS seconds {source}", params)
    if rows.empty:
        return pd.DataFrame(columns=["period", "platform", "kind", "sent", "median_seconds"])
    return (rows.groupby(["period", "platform", "kind"], as_index=False)
            .agg(sent=("seconds", "size"), median_seconds=("seconds", "median")))


def count_advocates_new(p: ReportParams) -> pd.DataFrame:
    """period, platform, new_advocates — advocates whose first identity on the platform
    was first seen in the period."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "i", params)
    return _fetch(f"""
        SELECT {_bucket("i.first_seen_at", p.period)} AS period, i.platform AS platform,
               COUNT(DISTINCT i.advocate_id) AS new_advocates
        FROM {T["identity"]} i
        WHERE i.first_seen_at >= %s AND i.first_seen_at < %s{extra}
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


def count_advocates_active(p: ReportParams) -> pd.DataFrame:
    """period, platform, active_advocates, events, reshares — from confirmed advocacy."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "e", params)
    # Two-level aggregation (per advocate, then per period) hashes instead of sorting for a
    # COUNT(DISTINCT ...).
    return _fetch(f"""
        SELECT period, platform, COUNT(*) AS active_advocates, SUM(events) AS events,
               SUM(reshares) AS reshares
        FROM (SELECT {_bucket("e.occurred_at", p.period)} AS period, e.platform AS platform,
                     e.advocate_id, COUNT(*) AS events,
                     SUM(CASE WHEN e.kind = 'reshare' THEN 1 ELSE 0 END) AS reshares
              FROM {T["event"]} e
              WHERE e.occurred_at >= %s AND e.occurred_at < %s{extra}
              GROUP BY 1, 2, 3) per_advocate
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


def count_consents_granted(p: ReportParams) -> pd.DataFrame:
    """period, platform, consents_granted."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "i", params)
    return _fetch(f"""
        SELECT {_bucket("c.granted_at", p.period)} AS period, i.platform AS platform,
               COUNT(*) AS consents_granted
        FROM {T["consent"]} c JOIN {T["identity"]} i ON i.id = c.identity_id
        WHERE c.granted_at >= %s AND c.granted_at < %s{extra}
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


def count_disclosure_by_period(p: ReportParams) -> pd.DataFrame:
    """period, platform, rewarded_posts, disclosed, reminders, reminders_sent — rewarded
    advocates' posts checked by the disclosure watch, by the post's time."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "m", params)
    return _fetch(f"""
        SELECT {_bucket("m.posted_at", p.period)} AS period, m.platform AS platform,
               COUNT(*) AS rewarded_posts,
               SUM(CASE WHEN d.disclosed THEN 1 ELSE 0 END) AS disclosed,
               SUM(CASE WHEN d.reminder_id IS NOT NULL THEN 1 ELSE 0 END) AS reminders,
               SUM(CASE WHEN o.status = 'sent' THEN 1 ELSE 0 END) AS reminders_sent
        FROM {T["disclosure"]} d JOIN {T["mention"]} m ON m.id = d.mention_id
             LEFT JOIN {T["outreach"]} o ON o.id = d.reminder_id
        WHERE m.posted_at >= %s AND m.posted_at < %s{extra}
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


# --- Care ------------------------------------------------------------------------------------

# A complainer "became an advocate" when Kansha recorded an act of advocacy by them (a post it
# thanked) within this many days after their conversation was resolved.
ADVOCATE_AFTER_CARE_DAYS = 90


def count_care_conversations(p: ReportParams) -> pd.DataFrame:
    """One row per conversation resolved in the range: platform, staff (who resolved it),
    outcome, first_response_seconds, resolution_seconds, sla_hit (1, 0, or None without an
    SLA), resolution_sla_hit (1 when resolved by its resolution due time, 0 after it, None
    without one), became_advocate (0/1).

    Times count from the person's first post or message in the thread (when they spoke, as
    the SLA does): the first response is the first of our outreach in the conversation that
    was sent; the SLA was hit when it was sent by the earliest due time of its care items and
    answers. Conversations are few beside mentions, so the medians and p90s are taken in
    pandas from these rows (`frames.shape_care_summary`), the same on both databases.
    """
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "c", params)
    started = (f"(SELECT MIN(cm.at) FROM {T['message']} cm WHERE cm.conversation_id = c.id "
               "AND cm.kind IN ('mention', 'dm_in'))")
    responded = (f"(SELECT MIN(o.sent_at) FROM {T['outreach']} o WHERE o.conversation_id = c.id"
                 " AND o.status = 'sent')")
    due = (f"(SELECT MIN(o.sla_due_at) FROM {T['outreach']} o WHERE o.conversation_id = c.id "
           "AND o.kind IN ('care', 'answer'))")
    horizon = (f"c.resolved_at + INTERVAL '{ADVOCATE_AFTER_CARE_DAYS} days'" if _pg() else
               f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', c.resolved_at, "
               f"'+{ADVOCATE_AFTER_CARE_DAYS} days')")
    return _fetch(f"""
        SELECT x.platform, x.staff, x.outcome,
               {_seconds("x.responded", "x.started")} AS first_response_seconds,
               {_seconds("x.resolved_at", "x.started")} AS resolution_seconds,
               CASE WHEN x.due IS NULL THEN NULL
                    WHEN x.responded IS NOT NULL AND x.responded <= x.due THEN 1
                    ELSE 0 END AS sla_hit,
               CASE WHEN x.resolution_due IS NULL THEN NULL
                    WHEN x.resolved_at <= x.resolution_due THEN 1
                    ELSE 0 END AS resolution_sla_hit,
               x.became_advocate
        FROM (
            SELECT c.platform AS platform, COALESCE(u.username, '') AS staff,
                   c.outcome AS outcome, c.resolved_at AS resolved_at,
                   COALESCE({started}, c.opened_at) AS started, {responded} AS responded,
                   {due} AS due, c.resolution_due_at AS resolution_due,
                   CASE WHEN EXISTS (SELECT 1 FROM {T["event"]} e
                                     WHERE e.advocate_id = c.advocate_id
                                       AND e.occurred_at > c.resolved_at
                                       AND e.occurred_at <= {horizon})
                        THEN 1 ELSE 0 END AS became_advocate
            FROM {T["conversation"]} c LEFT JOIN {T["user"]} u ON u.id = c.resolved_by_id
            WHERE c.status = 'resolved' AND c.resolved_at >= %s AND c.resolved_at < %s{extra}
        ) x
        ORDER BY x.platform, x.staff""", params)


def count_disclosure_repeat_offenders(p: ReportParams, *, limit: int = 50) -> pd.DataFrame:
    """advocate_id, advocate, undisclosed, reminders_sent — advocates with two or more
    undisclosed posts in the range, most first."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "m", params)
    return _fetch(f"""
        SELECT d.advocate_id AS advocate_id, a.display_name AS advocate,
               COUNT(*) AS undisclosed,
               SUM(CASE WHEN o.status = 'sent' THEN 1 ELSE 0 END) AS reminders_sent
        FROM {T["disclosure"]} d JOIN {T["mention"]} m ON m.id = d.mention_id
             JOIN {T["advocate"]} a ON a.id = d.advocate_id
             LEFT JOIN {T["outreach"]} o ON o.id = d.reminder_id
        WHERE NOT d.disclosed AND m.posted_at >= %s AND m.posted_at < %s{extra}
        GROUP BY d.advocate_id, a.display_name HAVING COUNT(*) >= 2
        ORDER BY 3 DESC, 1 LIMIT {int(limit)}""", params)


def count_tier_distribution() -> pd.DataFrame:
    """tier, threshold, advocates — the current snapshot (AdvocateTier), including no tier."""
    return _fetch(f"""
        SELECT COALESCE(t.name, '(no tier)') AS tier, COALESCE(t.threshold, 0) AS threshold,
               COUNT(*) AS advocates
        FROM {T["advocatetier"]} a LEFT JOIN {T["tier"]} t ON t.id = a.tier_id
        GROUP BY 1, 2 ORDER BY 2, 1""")


def count_tier_movement(p: ReportParams) -> pd.DataFrame:
    """period, tier (the tier moved into; '(no tier)' for a demotion out), direction, changes."""
    return _fetch(f"""
        SELECT {_bucket("c.changed_at", p.period)} AS period,
               COALESCE(t.name, '(no tier)') AS tier, c.direction AS direction,
               COUNT(*) AS changes
        FROM {T["tierchange"]} c LEFT JOIN {T["tier"]} t ON t.id = c.to_tier_id
        WHERE c.changed_at >= %s AND c.changed_at < %s
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", [_dt(p.start), _dt(p.end)])


def count_top_counted(p: ReportParams, *, limit: int = 20) -> pd.DataFrame:
    """rank, advocate_id, events — the `limit` advocates with the most confirmed advocacy
    events in the range (ties ordered by id), ranked with RANK() over everyone counted."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_platform(p, "e", params)
    params.append(limit)
    return _fetch(f"""
        WITH counted AS (
            SELECT e.advocate_id, COUNT(*) AS events
            FROM {T["event"]} e
            WHERE e.occurred_at >= %s AND e.occurred_at < %s{extra}
            GROUP BY e.advocate_id
        )
        SELECT RANK() OVER (ORDER BY events DESC) AS rank, advocate_id, events
        FROM counted ORDER BY events DESC, advocate_id LIMIT %s""", params)


def count_top_details(ranked: pd.DataFrame, p: ReportParams) -> pd.DataFrame:
    """advocate_id, name, events, reach (largest follower count), redemptions, rank — for the
    ranked rows of `top_counted` (or of the rollups' shortcut to the same rows)."""
    columns = ["rank", "advocate_id", "name", "events", "reach", "redemptions"]
    if ranked.empty:
        return pd.DataFrame(columns=columns)
    ids = [int(i) for i in ranked["advocate_id"]]
    details = _fetch(f"""
        SELECT a.id AS advocate_id,
               COALESCE(NULLIF(a.display_name, ''), 'Advocate #' || a.id) AS name,
               COALESCE((SELECT MAX(i.follower_count) FROM {T["identity"]} i
                         WHERE i.advocate_id = a.id), 0) AS reach,
               (SELECT COUNT(*) FROM {T["redemption"]} x WHERE x.advocate_id = a.id
                  AND x.redeemed_at >= %s AND x.redeemed_at < %s) AS redemptions
        FROM {T["advocate"]} a WHERE a.id IN ({", ".join(["%s"] * len(ids))})""",
                     [_dt(p.start), _dt(p.end), *ids])
    out = ranked[["rank", "advocate_id", "events"]].merge(details, on="advocate_id")
    return out.sort_values(["rank", "advocate_id"]).reset_index(drop=True)[columns]


def count_top_advocates(p: ReportParams, *, limit: int = 20) -> pd.DataFrame:
    """rank, advocate_id, name, events, reach, redemptions — counted from every event in the
    range; reach and redemptions are looked up for the top rows only."""
    return count_top_details(count_top_counted(p, limit=limit), p)


# --- Redemptions ---------------------------------------------------------------------------


def _where_rule_currency(p: ReportParams, rule_col: str, currency_col: str,
                         params: list[object]) -> str:
    sql = ""
    if p.rule_id:
        sql += f" AND {rule_col} = %s"
        params.append(p.rule_id)
    if p.currency:
        sql += f" AND {currency_col} = %s"
        params.append(p.currency)
    return sql


def count_codes_by_cohort(p: ReportParams, *, as_of: datetime) -> pd.DataFrame:
    """month, rule_id, rule, tier, currency, issued, redeemed, expired.

    By the month the code was issued (a cohort): of the codes issued that month, how many were
    redeemed (at least once) and how many lapsed unredeemed by `as_of`.
    """
    params: list[object] = [_dt(as_of), _dt(p.start), _dt(p.end)]
    extra = _where_rule_currency(p, "g.rule_id", "c.currency", params)
    return _fetch(f"""
        SELECT {_bucket("c.created_at", "month")} AS month, g.rule_id AS rule_id,
               r.name AS rule, COALESCE(t.name, '(no tier)') AS tier, c.currency AS currency,
               COUNT(*) AS issued,
               SUM(CASE WHEN c.times_redeemed > 0 THEN 1 ELSE 0 END) AS redeemed,
               SUM(CASE WHEN c.times_redeemed = 0 AND (g.status = 'expired'
                         OR (c.expires_at IS NOT NULL AND c.expires_at <= %s))
                        THEN 1 ELSE 0 END) AS expired
        FROM {T["code"]} c JOIN {T["grant"]} g ON g.id = c.grant_id
             JOIN {T["rule"]} r ON r.id = g.rule_id
             LEFT JOIN {T["tier"]} t ON t.id = g.tier_id
        WHERE c.created_at >= %s AND c.created_at < %s{extra}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 4, 5""", params)


def count_redemptions_by_month(p: ReportParams) -> pd.DataFrame:
    """month, rule_id, rule, tier, currency, redemptions, discount_minor, order_minor, orders.

    By the month of the redemption. The currency is the order's (the code's when a bare
    promotion-code count carried none); it is always a grouping key, never summed across.
    """
    currency = "COALESCE(NULLIF(x.currency, ''), c.currency)"
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_rule_currency(p, "x.rule_id", currency, params)
    return _fetch(f"""
        SELECT {_bucket("x.redeemed_at", "month")} AS month, x.rule_id AS rule_id,
               r.name AS rule, COALESCE(t.name, '(no tier)') AS tier, {currency} AS currency,
               COUNT(*) AS redemptions,
               COALESCE(SUM(x.discount_minor), 0) AS discount_minor,
               COALESCE(SUM(x.order_amount_minor), 0) AS order_minor,
               COUNT(x.order_amount_minor) AS orders
        FROM {T["redemption"]} x JOIN {T["code"]} c ON c.id = x.code_id
             JOIN {T["grant"]} g ON g.id = x.grant_id
             JOIN {T["rule"]} r ON r.id = x.rule_id
             LEFT JOIN {T["tier"]} t ON t.id = g.tier_id
        WHERE x.redeemed_at >= %s AND x.redeemed_at < %s{extra}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 4, 5""", params)


def count_reversals_by_month(p: ReportParams) -> pd.DataFrame:
    """month, rule_id, rule, tier, currency, reversals, discount_reversed_minor,
    order_reversed_minor.

    Refunds and disputes (net of those put back) by the month they happened at Stripe, grouped
    like the redemptions they reverse, so that net = gross − reversed per row.
    """
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_rule_currency(p, "x.rule_id", "v.currency", params)
    return _fetch(f"""
        SELECT {_bucket("v.reversed_at", "month")} AS month, x.rule_id AS rule_id,
               r.name AS rule, COALESCE(t.name, '(no tier)') AS tier, v.currency AS currency,
               SUM(CASE WHEN v.order_amount_minor > 0 THEN 1 ELSE -1 END) AS reversals,
               COALESCE(SUM(v.discount_minor), 0) AS discount_reversed_minor,
               COALESCE(SUM(v.order_amount_minor), 0) AS order_reversed_minor
        FROM {T["reversal"]} v JOIN {T["redemption"]} x ON x.id = v.redemption_id
             JOIN {T["grant"]} g ON g.id = x.grant_id
             JOIN {T["rule"]} r ON r.id = x.rule_id
             LEFT JOIN {T["tier"]} t ON t.id = g.tier_id
        WHERE v.reversed_at >= %s AND v.reversed_at < %s{extra}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 4, 5""", params)


def count_orders_without_code(p: ReportParams) -> pd.DataFrame:
    """month, currency, orders, order_minor — completed Stripe Checkout sessions with no
    discount, read from the stored webhook events (Kansha keeps no other order table)."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    if _pg():
        obj = "(e.payload -> 'data' -> 'object')"
        amount = f"({obj} ->> 'amount_total')::bigint"
        cur = f"({obj} ->> 'currency')"
        no_discount = (f"COALESCE(({obj} -> 'total_details' ->> 'amount_discount')::bigint, 0)"
                       f" = 0 AND COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof("
                       f"{obj} -> 'discounts') = 'array' THEN {obj} -> 'discounts' END), 0) = 0")
    else:
        amount = "CAST(json_extract(e.payload, '$.data.object.amount_total') AS INTEGER)"
        cur = "json_extract(e.payload, '$.data.object.currency')"
        no_discount = ("COALESCE(json_extract(e.payload, "
                       "'$.data.object.total_details.amount_discount'), 0) = 0 AND "
                       "COALESCE(json_array_length(e.payload, '$.data.object.discounts'), 0) = 0")
    extra = ""
    if p.currency:
        extra = f" AND {cur} = %s"
        params.append(p.currency)
    return _fetch(f"""
        SELECT {_bucket("e.received_at", "month")} AS month, {cur} AS currency,
               COUNT(*) AS orders, COALESCE(SUM({amount}), 0) AS order_minor
        FROM {T["stripeevent"]} e
        WHERE e.type = 'checkout.session.completed'
          AND e.received_at >= %s AND e.received_at < %s
          AND {amount} IS NOT NULL AND {no_discount}{extra}
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


def count_grant_ledger(p: ReportParams) -> pd.DataFrame:
    """One row per grant created in the range, with its code's and redemptions' Stripe ids."""
    params: list[object] = [_dt(p.start), _dt(p.end)]
    extra = _where_rule_currency(p, "g.rule_id", "g.currency", params)
    agg = ("string_agg(x.source_id, ' ' ORDER BY x.id)" if _pg()
           else "group_concat(x.source_id, ' ')")
    return _fetch(f"""
        WITH red AS (
            SELECT x.grant_id, COUNT(*) AS redemptions,
                   CAST(COALESCE(SUM(x.discount_minor), 0) AS BIGINT) AS discount_minor,
                   CAST(COALESCE(SUM(x.order_amount_minor), 0) AS BIGINT) AS order_minor,
                   {agg} AS stripe_sources
            FROM {T["redemption"]} x JOIN {T["grant"]} g ON g.id = x.grant_id
            WHERE g.created_at >= %s AND g.created_at < %s
            GROUP BY x.grant_id
        ), rev AS (
            SELECT x.grant_id,
                   CAST(COALESCE(SUM(v.discount_minor), 0) AS BIGINT) AS discount_reversed,
                   CAST(COALESCE(SUM(v.order_amount_minor), 0) AS BIGINT) AS order_reversed
            FROM {T["reversal"]} v JOIN {T["redemption"]} x ON x.id = v.redemption_id
                 JOIN {T["grant"]} g ON g.id = x.grant_id
            WHERE g.created_at >= %s AND g.created_at < %s
            GROUP BY x.grant_id
        )
        SELECT g.id AS grant_id, {_text_time("g.created_at")} AS created_at,
               g.advocate_id AS advocate_id,
               g.rule_id AS rule_id, r.name AS rule, COALESCE(t.name, '') AS tier,
               g.status AS status, g.reward_kind AS reward_kind, g.currency AS currency,
               g.cost_minor AS cost_minor, COALESCE(c.code, '') AS code,
               COALESCE(c.provider, '') AS provider,
               COALESCE(c.stripe_coupon_id, '') AS stripe_coupon_id,
               COALESCE(c.stripe_promotion_code_id, '') AS stripe_promotion_code_id,
               {_text_time("g.issued_at")} AS issued_at,
               {_text_time("g.expires_at")} AS expires_at,
               COALESCE(red.redemptions, 0) AS redemptions,
               COALESCE(red.discount_minor, 0) AS discount_minor,
               COALESCE(red.order_minor, 0) AS order_minor,
               COALESCE(rev.discount_reversed, 0) AS discount_reversed_minor,
               COALESCE(rev.order_reversed, 0) AS order_reversed_minor,
               COALESCE(red.stripe_sources, '') AS stripe_sources
        FROM {T["grant"]} g JOIN {T["rule"]} r ON r.id = g.rule_id
             LEFT JOIN {T["tier"]} t ON t.id = g.tier_id
             LEFT JOIN {T["code"]} c ON c.grant_id = g.id
             LEFT JOIN red ON red.grant_id = g.id
             LEFT JOIN rev ON rev.grant_id = g.id
        WHERE g.created_at >= %s AND g.created_at < %s{extra}
        ORDER BY g.created_at, g.id""", [_dt(p.start), _dt(p.end), _dt(p.start), _dt(p.end),
                                         *params])


# --- Liability -----------------------------------------------------------------------------


def count_codes_outstanding(p: ReportParams, *, as_of: datetime) -> pd.DataFrame:
    """expiry_month ('' = never), currency, discount_type, codes, uses, amount_minor,
    estimate_minor, minimum_minor, uncapped.

    Codes issued by `as_of` that are neither redeemed up to their limit, expired nor revoked.
    `uses` is the redemptions still possible (1 for a code without a limit). For amount codes
    `amount_minor` is the amount times the uses left; for percent codes `estimate_minor` is the
    grant's frozen per-grant estimate (the rule's budget estimate) and, where that is zero,
    `minimum_minor` is the percentage of the rule's minimum order; `uncapped` counts percent
    codes with neither.
    """
    uses = ("CASE WHEN c.max_redemptions IS NULL THEN 1 "
            "ELSE c.max_redemptions - c.times_redeemed END")
    params: list[object] = [_dt(as_of), _dt(as_of)]
    extra = _where_rule_currency(p, "g.rule_id", "c.currency", params)
    return _fetch(f"""
        SELECT {_bucket("c.expires_at", "month")} AS expiry_month,
               c.currency AS currency, c.discount_type AS discount_type,
               COUNT(*) AS codes, SUM({uses}) AS uses,
               SUM(CASE WHEN c.discount_type = 'amount'
                        THEN COALESCE(c.amount_off_minor, 0) * ({uses}) ELSE 0 END)
                   AS amount_minor,
               SUM(CASE WHEN c.discount_type = 'percent' THEN g.cost_minor * ({uses})
                        ELSE 0 END) AS estimate_minor,
               SUM(CASE WHEN c.discount_type = 'percent' AND g.cost_minor = 0
                        THEN COALESCE(c.minimum_order_minor, 0) * COALESCE(c.percent_off, 0)
                             / 100 * ({uses}) ELSE 0 END) AS minimum_minor,
               SUM(CASE WHEN c.discount_type = 'percent' AND g.cost_minor = 0
                         AND c.minimum_order_minor IS NULL THEN 1 ELSE 0 END) AS uncapped
        FROM {T["code"]} c JOIN {T["grant"]} g ON g.id = c.grant_id
        WHERE g.status IN ('issued', 'delivered') AND c.created_at < %s
          AND (c.expires_at IS NULL OR c.expires_at > %s)
          AND (c.max_redemptions IS NULL AND c.times_redeemed = 0
               OR c.times_redeemed < c.max_redemptions){extra}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", params)


def count_perks_committed(p: ReportParams, *, as_of: datetime) -> pd.DataFrame:
    """expiry_month ('' = never), currency, perk, units, cost_minor — perks granted (stock
    reserved) but not yet delivered, at the perk's unit cost."""
    params: list[object] = [_dt(as_of)]
    extra = _where_rule_currency(p, "g.rule_id", "k.currency", params)
    return _fetch(f"""
        SELECT {_bucket("g.expires_at", "month")} AS expiry_month,
               k.currency AS currency, k.name AS perk, COUNT(*) AS units,
               SUM(k.unit_cost_minor) AS cost_minor
        FROM {T["fulfilment"]} f JOIN {T["perk"]} k ON k.id = f.perk_id
             JOIN {T["grant"]} g ON g.id = f.grant_id
        WHERE f.status IN ('granted', 'shipped') AND f.created_at < %s{extra}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", params)


def count_points_outstanding(*, as_of: datetime,
                       expiring_before: datetime | None = None) -> pd.DataFrame:
    """expiry_month ('' = never), points, advocates — ledger entries not expired at `as_of`.

    `expiring_before` keeps only the entries that expire before it (none of those that never
    expire): how the rollups count the month `as_of` falls in.
    """
    params: list[object] = [_dt(as_of), _dt(as_of)]
    extra = ""
    if expiring_before is not None:
        extra = " AND e.expires_at < %s"
        params.append(_dt(expiring_before))
    return _fetch(f"""
        SELECT expiry_month, SUM(points) AS points, COUNT(*) AS advocates
        FROM (SELECT {_bucket("e.expires_at", "month")} AS expiry_month, e.advocate_id,
                     SUM(e.points) AS points
              FROM {T["points"]} e
              WHERE e.occurred_at < %s AND (e.expires_at IS NULL OR e.expires_at > %s){extra}
              GROUP BY 1, 2) per_advocate
        GROUP BY 1 ORDER BY 1""", params)
