# ruff: noqa: S608 -- SQL text is built from table names and fixed expressions only; every
# value (dates, platform, ids, limits) is passed as a query parameter.
"""Rollups: the ambassador report's big counts kept small, exact and fresh.

A year at a large brand's scale is 5M mentions, 1.1M outreach items and 1.5M advocacy events;
counting them for every report takes seconds. The rollups hold the same counts per UTC day or
per whole week / month, so a year is a few thousand rows:

- additive counts per day: `MentionDayRollup` (mentions, positive, detected) and
  `OutreachDayRollup` (items per kind, status and reject reason; SLA counts). Any range of
  whole days is a sum of days.
- what cannot be added up from days (a median, a count of distinct advocates, a ranking) per
  whole period: `ResponsePeriodRollup`, `ActivePeriodRollup`, `NewAdvocatePeriodRollup` per
  week and per month, and `TopAdvocateMonthRollup` (the first TOP_KEEP advocates per month).
  Each stores exactly what the direct query (`queries.py`) returns for that period, counted by
  that same function. A report's range is split into the whole periods inside it (read from
  the rollup) and the partial periods at its ends (counted directly, a few days to weeks).
- for the liability report, `PointsExpiryRollup`: points and distinct advocates per month of
  expiry. As of a time after the last entry occurred (as of now, normally) every entry of a
  later month is outstanding, so those months are read from the rollup and only the month
  holding the as-of time is counted directly; an earlier as-of time counts directly.

Exact: a period summary is the direct query's own result, and an edge is the direct query, so
the rows are the same. The top advocates of a range come from the monthly lists: the last
advocate kept for a month bounds everyone left out, so when the candidates' exact totals
(counted directly) beat the sum of those bounds, no one else can be in the top; otherwise
the direct ranking runs (`top_advocates`).

Fresh: before a report reads, `rollups_refresh` recounts what changed since the last refresh.
Writers do nothing extra (the ingest and webhook paths stay as they are); a refresh finds the
changed rows through indexed timestamps that the services already set on every change that
affects a count:

  mentions   COALESCE(detected_at, received_at)  arrived, or detected later  → posting days
  outreach   updated_at                            proposed, every status change → days proposed
  events     created_at                            appended (append-only)     → days of the act
  identities first_seen_at                         created                    → days first seen
  points     created_at                            appended (append-only)     → months of expiry

and recounts those days (day rollups at once; period summaries are marked dirty and recounted
when a report needs them, or by the periodic task). Merging advocates moves identities without
a timestamp; a change in the number of merged advocates recounts the new-advocate summaries.
Privacy erasure rewrites texts, handles and ids, none of which is counted.

Late commits: a row's timestamp is taken when its transaction writes it, and the transaction
commits a little later. A report's refresh looks at the changes stamped since the previous
refresh started, so it sees every change committed before it, except one stamped before the
previous refresh started and committed after that refresh had looked (a window of
milliseconds per refresh). The periodic refresh (every minute) looks back MARGIN before the
previous periodic one and counts those; the daily rescan looks back a day. Looking back costs
a second count of whatever changed in that window, which is why reports do not: a burst of
changes spread over a year is recounted by the report that follows it and once more by the
periodic task, not by every refresh within the margin. Rows written with timestamps that are
not "now" (a bulk fix by SQL, a backfill) need `manage.py report_rollups --rebuild`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import pandas as pd
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from advocates.models import Advocate
from advocates.services.deadletters import (
    dead_letter_replayer_register,
    dead_letter_skip_keys,
    dead_letters_isolate,
)
from rewards.models import PointsEntry

from . import queries
from .models import (
    ActivePeriodRollup,
    MentionDayRollup,
    NewAdvocatePeriodRollup,
    OutreachDayRollup,
    PointsExpiryRollup,
    ReportDirtyPeriod,
    ReportRollupState,
    ResponsePeriodRollup,
    TopAdvocateMonthRollup,
)
from .params import ReportParams
from .queries import T, _dt, _fetch, _pg

logger = logging.getLogger(__name__)

STATE = "reports"
# As long as the ledger's SAFETY_LAG: the same late-commit problem (services.ledger).
MARGIN = timedelta(minutes=2)
RESCAN_MARGIN = timedelta(days=1)
# Advocates kept per month in the top lists; a report asks for 20. More makes the shortcut
# work on flatter distributions, at a few more rows per month.
TOP_KEEP = 100
PERIODS = ("week", "month")

R = {
    "mentionday": MentionDayRollup._meta.db_table,
    "outreachday": OutreachDayRollup._meta.db_table,
    "response": ResponsePeriodRollup._meta.db_table,
    "active": ActivePeriodRollup._meta.db_table,
    "new": NewAdvocatePeriodRollup._meta.db_table,
    "top": TopAdvocateMonthRollup._meta.db_table,
    "points": PointsExpiryRollup._meta.db_table,
}
# The dirty-period marker for points that never expire (a month no entry can expire in).
# A summary period a report needs: (summary, period, start), or (summary,) for all of them.
NeededPeriod = tuple[str] | tuple[str, str, date]

NEVER = date(9999, 12, 1)


# --- Periods ---------------------------------------------------------------------------------


def period_start(day: date, period: str) -> date:
    """The first day of the week (Monday) or month holding `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_next(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def split(p: ReportParams, period: str) -> tuple[list[date], list[ReportParams]]:
    """The starts of the whole periods inside p's range, and p narrowed to each partial
    period left at the ends (the whole range when no period fits in it)."""
    end = p.date_to + timedelta(days=1)
    first = period_start(p.date_from, period)
    if first < p.date_from:
        first = period_next(first, period)
    starts = []
    while period_next(first, period) <= end:
        starts.append(first)
        first = period_next(first, period)
    if not starts:
        return [], [p]
    edges = []
    if p.date_from < starts[0]:
        edges.append(replace(p, date_to=starts[0] - timedelta(days=1)))
    after = period_next(starts[-1], period)
    if after < end:
        edges.append(replace(p, date_from=after))
    return starts, edges


def _periods_of(days: Iterable[date], period: str) -> set[date]:
    return {period_start(d, period) for d in days}


def _runs(starts: Iterable[date], period: str) -> list[tuple[date, date]]:
    """Consecutive period starts as (first start, end exclusive) runs."""
    runs: list[list[date]] = []
    for start in sorted(set(starts)):
        if runs and period_next(runs[-1][1], period) == start:
            runs[-1][1] = start
        else:
            runs.append([start, start])
    return [(first, period_next(last, period)) for first, last in runs]


def _day_runs(days: Iterable[date], *, gap: int = 7) -> list[tuple[date, date]]:
    """Days as (first, end exclusive) ranges. Days at most `gap` apart share a range (the
    clean days between are recounted too): one scan of a long range is cheaper than many
    index probes into it, and the planner switches to a sequential scan when most of a table
    is dirty."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days <= gap:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last + timedelta(days=1)) for first, last in runs]


# --- SQL helpers -----------------------------------------------------------------------------


def _day(column: str) -> str:
    """The UTC date of a timestamp column."""
    return f"({column} AT TIME ZONE 'UTC')::date" if _pg() else f"date({column})"


def _date_bucket(column: str, period: str) -> str:
    """The first day of the week/month holding a date column (the same buckets as
    queries._bucket gives timestamps)."""
    if _pg():
        return f"date_trunc('{period}', {column}::timestamp)"
    if period == "week":
        return f"date({column}, 'weekday 0', '-6 days')"
    return f"date({column}, 'start of month')"


def _d(value: date) -> object:
    return connection.ops.adapt_datefield_value(value)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _execute(sql: str, params: Sequence[Any] = ()) -> int:
    """(params: as for queries._fetch.)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count: int = cursor.rowcount
        return count


def _column(sql: str, params: Sequence[Any] = ()) -> list[object]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _where_platform(p: ReportParams, column: str, params: list[object]) -> str:
    if not p.platform:
        return ""
    params.append(p.platform)
    return f" AND {column} = %s"


# --- Day rollups -----------------------------------------------------------------------------


def _count_mention_days(where: str, params: list[object]) -> None:
    _execute(f"""
        INSERT INTO {R["mentionday"]} (day, platform, mentions, positive, detected)
        SELECT {_day("m.posted_at")}, m.platform, COUNT(*),
               SUM(CASE WHEN m.detection_label = 'positive' THEN 1 ELSE 0 END),
               SUM(CASE WHEN m.detected_at IS NOT NULL THEN 1 ELSE 0 END)
        FROM {T["mention"]} m WHERE {where.format(column="m.posted_at")}
        GROUP BY 1, 2""", params)


def _count_outreach_days(where: str, params: list[object]) -> None:
    # The same expressions as queries.count_outreach_by_period, per day.
    _execute(f"""
        INSERT INTO {R["outreachday"]}
               (day, platform, kind, status, reason, items, with_sla, within_sla)
        SELECT {_day("o.created_at")}, o.platform, o.kind, o.status,
               CASE WHEN o.kind = 'reply' AND o.status = 'rejected'
                    THEN COALESCE(NULLIF(o.reject_reason, ''), '(no reason given)')
                    ELSE '' END,
               COUNT(*),
               SUM(CASE WHEN o.sla_due_at IS NOT NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN o.sla_due_at IS NOT NULL AND o.sent_at IS NOT NULL
                         AND o.sent_at <= o.sla_due_at THEN 1 ELSE 0 END)
        FROM {T["outreach"]} o WHERE {where.format(column="o.created_at")}
        GROUP BY 1, 2, 3, 4, 5""", params)


DAY_ROLLUPS = {"mentionday": _count_mention_days, "outreachday": _count_outreach_days}


def _recount_days(name: str, days: Iterable[date] | None) -> int:
    """Replace the rows of a day rollup for `days` (None: all of them) by a fresh count."""
    count = DAY_ROLLUPS[name]
    if days is None:
        _execute(f"DELETE FROM {R[name]}")
        count("1 = 1", [])
        return -1
    n = 0
    for first, end in _day_runs(days):
        _execute(f"DELETE FROM {R[name]} WHERE day >= %s AND day < %s", [_d(first), _d(end)])
        count("{column} >= %s AND {column} < %s", [_dt(_midnight(first)), _dt(_midnight(end))])
        n += (end - first).days
    return n


# --- Period summaries ------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    model: type[models.Model]
    count: Callable[[ReportParams], pd.DataFrame]  # the direct query, with a `period` column
    columns: tuple[str, ...]  # the direct query's columns after `period`
    keys: tuple[str, ...]  # its grouping columns after `period` (for sorting)


SUMMARIES = {
    "response": Summary(ResponsePeriodRollup, queries.count_response_times,
                        ("platform", "kind", "sent", "median_seconds"), ("platform", "kind")),
    "active": Summary(ActivePeriodRollup, queries.count_advocates_active,
                      ("platform", "active_advocates", "events", "reshares"), ("platform",)),
    "new": Summary(NewAdvocatePeriodRollup, queries.count_advocates_new,
                   ("platform", "new_advocates"), ("platform",)),
}


def _native(value: object) -> object:
    """A frame cell as a plain Python value (the database drivers do not take numpy types)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


def _recount_summary(name: str, period: str, starts: Iterable[date]) -> int:
    """Replace the rows of whole periods by the direct query's result for them."""
    starts = set(starts)
    n = 0
    if name == "points" and NEVER in starts:
        starts.discard(NEVER)
        _recount_points(None)
        n += 1
    for first, end in _runs(starts, period):
        if name == "top":
            _recount_top(first, end)
        elif name == "points":
            _recount_points((first, end))
        else:
            summary = SUMMARIES[name]
            frame = summary.count(ReportParams(first, end - timedelta(days=1), period=period))
            manager = summary.model._default_manager
            manager.filter(period=period, start__gte=first, start__lt=end).delete()
            manager.bulk_create([
                summary.model(period=period, start=_as_date(row["period"]),
                              **{c: _native(row[c]) for c in summary.columns})
                for row in frame.to_dict("records")], batch_size=1000)
        start = first
        while start < end:
            n += 1
            start = period_next(start, period)
    return n


def _recount_top(first: date, end: date) -> None:
    """The first TOP_KEEP advocates by events of each month, per platform and over all."""
    month = ("(date_trunc('month', e.occurred_at AT TIME ZONE 'UTC'))::date" if _pg()
             else "date(e.occurred_at, 'start of month')")
    where = "e.occurred_at >= %s AND e.occurred_at < %s"
    span = [_dt(_midnight(first)), _dt(_midnight(end))]
    TopAdvocateMonthRollup.objects.filter(month__gte=first, month__lt=end).delete()
    _execute(f"""
        INSERT INTO {R["top"]} (month, scope, advocate_id, events)
        SELECT month, scope, advocate_id, events FROM (
            SELECT month, scope, advocate_id, events,
                   ROW_NUMBER() OVER (PARTITION BY month, scope
                                      ORDER BY events DESC, advocate_id) AS n
            FROM (SELECT {month} AS month, e.platform AS scope, e.advocate_id,
                         COUNT(*) AS events
                  FROM {T["event"]} e WHERE {where} GROUP BY 1, 2, 3
                  UNION ALL
                  SELECT {month} AS month, '' AS scope, e.advocate_id, COUNT(*) AS events
                  FROM {T["event"]} e WHERE {where} GROUP BY 1, 3) counted
        ) ranked
        WHERE n <= %s""", [*span, *span, TOP_KEEP])


def _recount_points(months: tuple[date, date] | None) -> None:
    """Points and distinct advocates per month of expiry, for the months [first, end) (None:
    the entries that never expire), over every entry: the direct query's per-advocate
    grouping."""
    month = ("(date_trunc('month', e.expires_at AT TIME ZONE 'UTC'))::date" if _pg()
             else "date(e.expires_at, 'start of month')")
    if months is None:
        PointsExpiryRollup.objects.filter(month__isnull=True).delete()
        where, params = "e.expires_at IS NULL", []
    else:
        first, end = months
        PointsExpiryRollup.objects.filter(month__gte=first, month__lt=end).delete()
        where = "e.expires_at >= %s AND e.expires_at < %s"
        params = [_dt(_midnight(first)), _dt(_midnight(end))]
    _execute(f"""
        INSERT INTO {R["points"]} (month, points, advocates)
        SELECT month, SUM(points), COUNT(*)
        FROM (SELECT {month} AS month, e.advocate_id, SUM(e.points) AS points
              FROM {T["points"]} e WHERE {where} GROUP BY 1, 2) per_advocate
        GROUP BY 1""", params)


def _span(table: str, column: str) -> tuple[date, date] | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN({_day(column)}), MAX({_day(column)}) FROM {table}")
        low, high = cursor.fetchone()
    return None if low is None else (_as_date(low), _as_date(high))


# Which table and timestamp each summary counts by, for a full build.
SUMMARY_SPANS = {"response": (T["outreach"], "created_at"), "active": (T["event"], "occurred_at"),
                 "new": (T["identity"], "first_seen_at"), "top": (T["event"], "occurred_at"),
                 "points": (T["points"], "expires_at")}


def _all_periods(name: str, period: str) -> list[date]:
    span = _span(*SUMMARY_SPANS[name])
    starts = [NEVER] if name == "points" else []
    if span is None:
        return starts
    start = period_start(span[0], period)
    while start <= span[1]:
        starts.append(start)
        start = period_next(start, period)
    return starts


def _summary_periods(name: str) -> tuple[str, ...]:
    return ("month",) if name in ("top", "points") else PERIODS


def _mark(dirty: dict[str, set[date]]) -> int:
    """Mark the periods holding these days as needing a recount (per summary)."""
    rows = [ReportDirtyPeriod(summary=name, period=period, start=start)
            for name, days in dirty.items() for period in _summary_periods(name)
            for start in _periods_of(days, period)]
    # NEVER is already a month start; _periods_of keeps it.
    ReportDirtyPeriod.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


# The dead letters of rollup periods (and days) that could not be recounted: one bad period
# never stops the others. Keyed "<summary>:<period>:<start>" ("mentionday:day:2026-12-01").
ROLLUP_TASK = "report_rollup"


def _rollup_key(name: str, period: str, start: date) -> str:
    return f"{name}:{period}:{start.isoformat()}"


def _rollup_payload(name: str, period: str, start: date) -> dict[str, str]:
    return {"summary": name, "period": period, "start": start.isoformat()}


def _recount_dirty(needed: set[NeededPeriod] | None) -> int:
    """Recount the dirty periods (only those in `needed`, when given: (summary, period,
    start) or (summary,) for all of its periods); unmark them.

    A period whose recount fails is set aside (halves, down to single periods; a dead letter
    "report_rollup") and stays marked; the others are recounted. Set-aside periods are left
    alone until a replay recounts them."""
    marked = list(ReportDirtyPeriod.objects.values_list("pk", "summary", "period", "start"))
    skip = dead_letter_skip_keys(task=ROLLUP_TASK)
    todo = [row for row in marked
            if (needed is None or (row[1],) in needed or (row[1], row[2], row[3]) in needed)
            and _rollup_key(*row[1:]) not in skip]
    n = 0

    def recount(chunk: Sequence[tuple[int, str, str, date]]) -> None:
        nonlocal n
        groups: dict[tuple[str, str], list[date]] = {}
        for _, name, period, start in chunk:
            groups.setdefault((name, period), []).append(start)
        counted = sum(_recount_summary(name, period, starts)
                      for (name, period), starts in groups.items())
        ReportDirtyPeriod.objects.filter(pk__in=[row[0] for row in chunk]).delete()
        n += counted

    dead_letters_isolate(task=ROLLUP_TASK, rows=todo, run=recount,
                         key=lambda row: _rollup_key(*row[1:]),
                         payload=lambda row: _rollup_payload(*row[1:]))
    return n


def _recount_days_isolated(name: str, days: Iterable[date]) -> int:
    """`_recount_days` for changed days, a day that fails set aside ("report_rollup")."""
    skip = dead_letter_skip_keys(task=ROLLUP_TASK)
    todo = sorted(d for d in set(days) if _rollup_key(name, "day", d) not in skip)
    n = 0

    def recount(chunk: Sequence[date]) -> None:
        nonlocal n
        n += _recount_days(name, chunk)

    dead_letters_isolate(task=ROLLUP_TASK, rows=todo, run=recount,
                         key=lambda day: _rollup_key(name, "day", day),
                         payload=lambda day: _rollup_payload(name, "day", day))
    return n


def rollup_period_replay(payload: dict[str, Any]) -> int:
    """Replay a "report_rollup" dead letter: recount that day or period once (holding the
    rollup state's lock, as a refresh does) and unmark it. Raises if it still fails."""
    name, period = payload["summary"], payload["period"]
    start = date.fromisoformat(payload["start"])
    with transaction.atomic():
        ReportRollupState.objects.get_or_create(name=STATE)
        ReportRollupState.objects.select_for_update().get(name=STATE)
        if period == "day":
            return _recount_days(name, [start])
        n = _recount_summary(name, period, [start])
        ReportDirtyPeriod.objects.filter(summary=name, period=period, start=start).delete()
        return n


dead_letter_replayer_register(ROLLUP_TASK, rollup_period_replay)


def needed_periods(p: ReportParams) -> set[NeededPeriod]:
    """The summary periods the ambassador report for `p` reads (its whole periods)."""
    starts, _ = split(p, p.period)
    months, _ = split(p, "month")
    needed: set[NeededPeriod] = {(name, p.period, s) for name in SUMMARIES for s in starts}
    needed.update(("top", "month", m) for m in months)
    return needed


# --- Refresh ---------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    rebuilt: bool = False
    days: dict[str, int] = field(default_factory=dict)  # days recounted per day rollup
    marked: int = 0  # summary periods marked dirty
    periods: int = 0  # summary periods recounted
    seconds: float = 0.0


def _changed_expiry_months(since: datetime) -> set[date]:
    """The first days of the months in which points entries new since `since` expire
    (NEVER for those without expiry)."""
    return {NEVER if d is None else period_start(_as_date(d), "month") for d in _column(
        f"SELECT DISTINCT {_day('expires_at')} FROM {T['points']} WHERE created_at >= %s",
        [_dt(since)])}


def _changed_days(table: str, day_column: str, changed: str, since: datetime) -> set[date]:
    return {_as_date(d) for d in _column(
        f"SELECT DISTINCT {_day(day_column)} FROM {table} WHERE {changed} >= %s", [_dt(since)])}


def rollups_refresh(*, needed: set[NeededPeriod] | None = None,
                    margin: timedelta | None = None, rebuild: bool = False) -> RefreshResult:
    """Bring the rollups up to date with the tables they count.

    Effects, in one transaction holding the state row's lock (so refreshes run one at a
    time): the first time (or with `rebuild`), every rollup is counted from scratch;
    afterwards the days whose rows changed since the previous refresh started (with a
    `margin`: since `margin` before the previous refresh that had one, see the module
    docstring) are recounted in the day rollups, and the periods holding them are marked
    dirty in the period summaries. Then the dirty periods are recounted: all of them, or only
    those in `needed` (what one report reads; the rest stay marked for the periodic task).
    """
    started_clock = time.perf_counter()
    result = RefreshResult()
    with transaction.atomic():
        ReportRollupState.objects.get_or_create(name=STATE)
        state = ReportRollupState.objects.select_for_update().get(name=STATE)
        started = timezone.now()
        # Read before the scans: a merge that commits after this count shows up next time.
        merged = Advocate.objects.filter(merged_into__isnull=False).count()
        last = state.refreshed_at or state.built_at
        if rebuild or state.built_at is None or last is None:
            for name in DAY_ROLLUPS:
                result.days[name] = _recount_days(name, None)
            ReportDirtyPeriod.objects.all().delete()
            models_: dict[str, type[models.Model]] = {
                **{name: summary.model for name, summary in SUMMARIES.items()},
                "top": TopAdvocateMonthRollup, "points": PointsExpiryRollup}
            for name, model in models_.items():
                model._default_manager.all().delete()
                for period in _summary_periods(name):
                    result.periods += _recount_summary(name, period, _all_periods(name, period))
            result.rebuilt = True
        else:
            since = last if margin is None else min(state.settled_at or last, last) - margin
            mention_days = _changed_days(T["mention"], "posted_at",
                                         "COALESCE(detected_at, received_at)", since)
            outreach_days = _changed_days(T["outreach"], "created_at", "updated_at", since)
            event_days = _changed_days(T["event"], "occurred_at", "created_at", since)
            identity_days = _changed_days(T["identity"], "first_seen_at", "first_seen_at",
                                          since)
            result.days["mentionday"] = _recount_days_isolated("mentionday", mention_days)
            result.days["outreachday"] = _recount_days_isolated("outreachday", outreach_days)
            if merged != state.merged_advocates:
                span = _span(T["identity"], "first_seen_at")
                if span:
                    identity_days |= {span[0] + timedelta(days=i)
                                      for i in range((span[1] - span[0]).days + 1)}
            result.marked = _mark({"response": outreach_days, "active": event_days,
                                   "top": event_days, "new": identity_days,
                                   "points": _changed_expiry_months(since)})
        result.periods += _recount_dirty(needed)
        state.merged_advocates = merged
        state.refreshed_at = started
        if margin is not None or result.rebuilt:
            state.settled_at = started
        if result.rebuilt:
            state.built_at = started
            state.build_seconds = time.perf_counter() - started_clock
        state.save()
    result.seconds = time.perf_counter() - started_clock
    if result.rebuilt or result.periods or any(v for v in result.days.values()):
        logger.info("report rollups refreshed: %s", result)
    return result


# --- Reading ---------------------------------------------------------------------------------


def rollup_mentions_by_period(p: ReportParams) -> pd.DataFrame:
    """As queries.count_mentions_by_period, from the day rollup."""
    params: list[object] = [_d(p.date_from), _d(p.date_to)]
    extra = _where_platform(p, "r.platform", params)
    return _fetch(f"""
        SELECT {_date_bucket("r.day", p.period)} AS period, r.platform AS platform,
               SUM(r.mentions) AS mentions, SUM(r.positive) AS positive,
               SUM(r.detected) AS detected
        FROM {R["mentionday"]} r
        WHERE r.day >= %s AND r.day <= %s{extra}
        GROUP BY 1, 2 ORDER BY 1, 2""", params)


def rollup_outreach_by_period(p: ReportParams) -> pd.DataFrame:
    """As queries.count_outreach_by_period, from the day rollup."""
    params: list[object] = [_d(p.date_from), _d(p.date_to)]
    extra = _where_platform(p, "r.platform", params)
    return _fetch(f"""
        SELECT {_date_bucket("r.day", p.period)} AS period, r.platform AS platform,
               r.kind AS kind, r.status AS status, r.reason AS reason,
               SUM(r.items) AS items, SUM(r.with_sla) AS with_sla,
               SUM(r.within_sla) AS within_sla
        FROM {R["outreachday"]} r
        WHERE r.day >= %s AND r.day <= %s{extra}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""", params)


def _from_summary(name: str, p: ReportParams) -> pd.DataFrame:
    """Whole periods from the summary, partial ones at the ends counted directly, and so are
    whole periods whose recount was set aside (a "report_rollup" dead letter): their rows in
    the summary may be stale."""
    summary = SUMMARIES[name]
    starts, edges = split(p, p.period)
    skip = dead_letter_skip_keys(task=ROLLUP_TASK) if starts else set()
    aside = {start for start in starts if _rollup_key(name, p.period, start) in skip}
    edges += [replace(p, date_from=start,
                      date_to=period_next(start, p.period) - timedelta(days=1))
              for start in sorted(aside)]
    parts = [summary.count(edge) for edge in edges]
    if starts:
        params: list[object] = [p.period, _d(starts[0]), _d(period_next(starts[-1], p.period))]
        extra = _where_platform(p, "r.platform", params)
        rows = _fetch(f"""
            SELECT r.start AS period, {", ".join(f"r.{c} AS {c}" for c in summary.columns)}
            FROM {R[name]} r
            WHERE r.period = %s AND r.start >= %s AND r.start < %s{extra}""", params)
        if aside and not rows.empty:
            rows = rows[~rows["period"].map(_as_date).isin(aside)]
        parts.append(rows)
    filled = [part for part in parts if not part.empty]
    if not filled:
        return parts[0]
    out = pd.concat(filled, ignore_index=True) if len(filled) > 1 else filled[0]
    return out.sort_values(["period", *summary.keys], kind="stable").reset_index(drop=True)


def rollup_response_times(p: ReportParams) -> pd.DataFrame:
    """As queries.count_response_times: medians per whole period from the summary."""
    return _from_summary("response", p)


def rollup_advocates_active(p: ReportParams) -> pd.DataFrame:
    """As queries.count_advocates_active: distinct advocates per whole period from the summary."""
    return _from_summary("active", p)


def rollup_advocates_new(p: ReportParams) -> pd.DataFrame:
    """As queries.count_advocates_new: distinct advocates per whole period from the summary."""
    return _from_summary("new", p)


def _ids_filter(ids: list[int], params: list[object]) -> str:
    if _pg():
        params.append(ids)
        return "e.advocate_id = ANY(%s)"
    params.extend(ids)
    return f"e.advocate_id IN ({', '.join(['%s'] * len(ids))})"


def rollup_top_advocates(p: ReportParams, *, limit: int = 20) -> pd.DataFrame:
    """As queries.count_top_advocates, from the monthly top lists when they prove the answer.

    Candidates: everyone on a list of a whole month in the range, and the first TOP_KEEP of
    the partial months at its ends (counted directly). An advocate on no list has at most the
    last listed count in each month (0 where a list holds the whole month), so at most their
    sum, the bound. The candidates' totals over the range are counted exactly; if the
    `limit`-th of them is above the bound, nobody else can be in the top or tie with it, and
    each candidate's RANK() counts only candidates. Otherwise the direct ranking runs.
    """
    if limit > TOP_KEEP:
        return queries.count_top_advocates(p, limit=limit)
    months, edges = split(p, "month")
    candidates: set[int] = set()
    bound = 0
    if months:
        lists = _fetch(f"""
            SELECT r.month AS month, r.advocate_id AS advocate_id, r.events AS events
            FROM {R["top"]} r WHERE r.scope = %s AND r.month >= %s AND r.month < %s""",
                       [p.platform, _d(months[0]), _d(period_next(months[-1], "month"))])
        for _, rows in lists.groupby("month"):
            candidates.update(int(i) for i in rows["advocate_id"])
            if len(rows) >= TOP_KEEP:
                bound += int(rows["events"].min())
    if edges:
        params: list[object] = []
        ranges = []
        for edge in edges:
            ranges.append("(e.occurred_at >= %s AND e.occurred_at < %s)")
            params += [_dt(edge.start), _dt(edge.end)]
        extra = _where_platform(p, "e.platform", params)
        params.append(TOP_KEEP)
        edge_top = _fetch(f"""
            SELECT e.advocate_id AS advocate_id, COUNT(*) AS events
            FROM {T["event"]} e WHERE ({" OR ".join(ranges)}){extra}
            GROUP BY e.advocate_id ORDER BY events DESC, e.advocate_id LIMIT %s""", params)
        candidates.update(int(i) for i in edge_top["advocate_id"])
        if len(edge_top) >= TOP_KEEP:
            bound += int(edge_top["events"].min())
    totals = _candidate_totals(sorted(candidates), p)
    totals = totals.sort_values(["events", "advocate_id"], ascending=[False, True])
    if bound and (len(totals) < limit or int(totals["events"].iloc[limit - 1]) <= bound):
        logger.info("top advocates: the monthly lists do not settle %s; counting directly",
                    p.describe())
        return queries.count_top_advocates(p, limit=limit)
    totals["rank"] = totals["events"].rank(method="min", ascending=False).astype("int64")
    ranked = totals.head(limit)[["rank", "advocate_id", "events"]].reset_index(drop=True)
    return queries.count_top_details(ranked, p)


def _candidate_totals(ids: list[int], p: ReportParams) -> pd.DataFrame:
    """advocate_id, events — each candidate's events in the range, counted directly."""
    parts = []
    for chunk in range(0, len(ids), 500):  # SQLite's parameter limit; PostgreSQL takes an array
        params: list[object] = [_dt(p.start), _dt(p.end)]
        extra = _where_platform(p, "e.platform", params)
        where = _ids_filter(ids[chunk:chunk + 500], params)
        parts.append(_fetch(f"""
            SELECT e.advocate_id AS advocate_id, COUNT(*) AS events
            FROM {T["event"]} e
            WHERE e.occurred_at >= %s AND e.occurred_at < %s{extra} AND {where}
            GROUP BY e.advocate_id""", params))
    if not parts:
        return pd.DataFrame({"advocate_id": pd.Series(dtype="int64"),
                             "events": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return out.astype({"advocate_id": "int64", "events": "int64"})


def rollup_points_outstanding(*, as_of: datetime) -> pd.DataFrame:
    """As queries.count_points_outstanding: months of expiry after the one holding `as_of` (and the
    points that never expire) from the rollup, when every entry occurred before `as_of` (then
    each of them is outstanding); that month counted directly. Otherwise directly."""
    latest = PointsEntry.objects.aggregate(latest=Max("occurred_at"))["latest"]
    if latest is not None and latest >= as_of:
        return queries.count_points_outstanding(as_of=as_of)
    after = period_next(period_start(as_of.astimezone(UTC).date(), "month"), "month")
    parts = [queries.count_points_outstanding(as_of=as_of, expiring_before=_midnight(after)),
             _fetch(f"""
                SELECT r.month AS expiry_month, r.points AS points, r.advocates AS advocates
                FROM {R["points"]} r WHERE r.month >= %s OR r.month IS NULL""", [_d(after)])]
    filled = [part for part in parts if not part.empty]
    if not filled:
        return parts[0]
    out = pd.concat(filled, ignore_index=True) if len(filled) > 1 else filled[0]
    # Months in order, the entries that never expire ('') last, as the report shows them.
    out["_never"] = out["expiry_month"].eq("")
    out = out.sort_values(["_never", "expiry_month"], kind="stable").drop(columns="_never")
    return out.reset_index(drop=True)
