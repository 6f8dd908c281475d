"""The points ledger: claim new advocacy events in batches and turn them into points.

One worker at a time processes a batch: it holds the `LedgerCursor` row lock (taken with
SKIP LOCKED, so a second worker returns at once instead of waiting). The unique
`PointsEntry.event` is the second guard: an event can never have two entries. Everything a
batch does (points, tiers, fraud flags, grants) commits together or not at all.

One poison event never stops the ledger: a batch that fails is applied again in halves, down
to single events, and an event that fails on its own is set aside as a dead letter
("ledger"). The cursor moves past it, `_claim` and `ledger_rescan` skip it while it is open
(and for good once discarded), and `ledger_event_replay` gives its points once after the fix.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from advocates.models import AdvocacyEvent, Advocate
from advocates.policies import event_may_earn_incentive, platform_label
from advocates.services.deadletters import (
    dead_letter_replayer_register,
    dead_letter_skip_keys,
    dead_letters_isolate,
)
from advocates.sql import ids_in, insert_rows, is_deadlock
from rewards import fraud
from rewards.models import LedgerCursor, PointsEntry, RewardGrant, RewardsSettings
from rewards.services import tiers as tiers_service
from rewards.services.grants import grants_enqueue_issue, rules_evaluate
from rewards.services.ledger_rows import ENTRY_COLUMNS, EVENT_FIELDS, Entry, LedgerEvent
from rewards.services.tiers import tiers_apply

logger = logging.getLogger(__name__)

CURSOR_NAME = "advocacy-events"
LEDGER_TASK = "ledger"  # the dead letters of events the ledger could not process
DEFAULT_BATCH = 1000
# The scan start only moves past events created longer ago than this. An event whose id
# was taken by a transaction still open (committed later, out of id order) is newer than
# this, so it is still found. `ledger_rescan` covers anything stranger (a transaction open
# for longer).
SAFETY_LAG = timedelta(seconds=120)


@dataclass
class BatchResult:
    processed: int = 0
    points: int = 0
    tier_changes: int = 0
    grant_ids: list[int] = field(default_factory=list)
    flags: int = 0
    busy: bool = False  # another worker holds the ledger
    more: bool = False  # a full batch was taken: there is probably more


def _cursor_lock() -> LedgerCursor | None:
    LedgerCursor.objects.get_or_create(name=CURSOR_NAME)
    return (LedgerCursor.objects.select_for_update(skip_locked=True)
            .filter(name=CURSOR_NAME).first())


def _survivors(advocate_ids: set[int]) -> dict[int, int]:
    """Map merged-away advocates to the advocate they were merged into (following chains)."""
    mapping: dict[int, int] = {}
    pending = set(advocate_ids)
    for _ in range(5):  # merge chains are short; bound the loop anyway
        rows = dict(Advocate.objects.filter(id__any_ids=ids_in(pending), merged_into__isnull=False)
                    .values_list("id", "merged_into_id"))
        if not rows:
            break
        for src, dst in rows.items():
            for k, v in list(mapping.items()):
                if v == src:
                    mapping[k] = dst
            mapping.setdefault(src, dst)
        pending = set(rows.values())
    return mapping


def _merged(events: list[LedgerEvent]) -> list[LedgerEvent]:
    """The events with each merged-away advocate replaced by the one they were merged into."""
    merged = _survivors({e.advocate_id for e in events})
    if not merged:
        return events
    return [replace(e, advocate_id=merged[e.advocate_id]) if e.advocate_id in merged else e
            for e in events]


def _claim(cursor: LedgerCursor, *, limit: int
           ) -> tuple[list[LedgerEvent], list[tuple[int, datetime]], set[int]]:
    """The next batch of unprocessed events, in id order: stragglers first, then new ones.

    Returns (events, every event seen as (id, created_at) in id order, ids already done or
    set aside). Events above `max_processed_id` are new by construction; in the short window
    below it (back to `scan_from_id`), processed ids come from the unique index on the
    entries' event, set-aside ones from the open or discarded "ledger" dead letters.
    """
    low, high = cursor.scan_from_id, cursor.max_processed_id
    window = list(AdvocacyEvent.objects.filter(id__gt=low, id__lte=high).order_by("id")
                  .values_list("id", "created_at")) if high > low else []
    done: set[int] = set()
    events: list[LedgerEvent] = []
    if window:
        # Set-aside events count as done: the scan start moves past them, and they are not
        # claimed again until a replay processes them.
        done = set(PointsEntry.objects.filter(event_id__gt=low, event_id__lte=high)
                   .values_list("event_id", flat=True))
        done |= {int(key) for key in dead_letter_skip_keys(task=LEDGER_TASK)}
        missing = [i for i, _ in window if i not in done][:limit]
        if missing:
            events = [LedgerEvent(*row) for row in
                      AdvocacyEvent.objects.filter(id__any_ids=missing).order_by("id")
                      .values_list(*EVENT_FIELDS)]
    fresh = [LedgerEvent(*row) for row in AdvocacyEvent.objects.filter(id__gt=high)
             .order_by("id").values_list(*EVENT_FIELDS)[:limit - len(events)]
             ] if len(events) < limit else []
    return events + fresh, window + [(e.id, e.created_at) for e in fresh], done


def events_process_batch(*, limit: int = DEFAULT_BATCH, now: datetime | None = None,
                         enqueue: bool = True) -> BatchResult:
    """Claim up to `limit` unprocessed advocacy events and process them, exactly once.

    Effects, in one transaction: a `PointsEntry` per event (points per kind from
    `RewardsSettings`, capped per advocate per UTC day, expiring after the expiry window);
    tier changes for the advocates touched; fraud flags; grants of the live rules that fired.
    After commit (if `enqueue`), the approved grants are queued for issuing.

    Returns `busy=True` without doing anything if another worker holds the ledger.
    """
    now = now or timezone.now()
    result = BatchResult()
    with transaction.atomic():
        cursor = _cursor_lock()
        if cursor is None:
            result.busy = result.more = True
            return result
        events, seen, done = _claim(cursor, limit=limit)
        result.more = len(events) == limit
        if not events:
            return result
        events = _merged(events)
        config = RewardsSettings.load()
        grants: list[RewardGrant] = []

        def apply(chunk: Sequence[LedgerEvent]) -> None:
            grants.extend(_events_apply(list(chunk), config=config, now=now, result=result))

        try:
            with transaction.atomic():
                apply(events)
        except Exception as exc:
            if is_deadlock(exc):
                raise
            logger.warning("ledger batch of %d events failed (%s); isolating the bad event",
                           len(events), type(exc).__name__)
            result.processed = result.points = result.tier_changes = result.flags = 0
            grants.clear()
            set_aside = dead_letters_isolate(
                task=LEDGER_TASK, rows=events, run=apply, failed=exc,
                key=lambda event: event.id, payload=lambda event: {"event_id": event.id})
            done |= {event.id for event, _ in set_aside}
        result.grant_ids = [g.pk for g in grants]

        # Move the scan start past events that are processed and old enough to be settled.
        handled = done | {e.id for e in events}
        prefix = cursor.scan_from_id
        for event_id, created_at in seen:
            if event_id not in handled or created_at >= now - SAFETY_LAG:
                break
            prefix = event_id
        LedgerCursor.objects.filter(pk=cursor.pk).update(
            scan_from_id=prefix, updated_at=now,
            max_processed_id=max(cursor.max_processed_id, max(e.id for e in events)))
        if enqueue and grants:
            grants_enqueue_issue(grants)
    return result


def _events_apply(events: list[LedgerEvent], *, config: RewardsSettings, now: datetime,
                  result: BatchResult) -> list[RewardGrant]:
    """Points, tiers, fraud flags and grants for these events (in the caller's transaction);
    adds to `result` and returns the grants made."""
    entries = _points_entries(events, config=config, now=now)
    insert_rows(PointsEntry, ENTRY_COLUMNS, [e.row() for e in entries])
    touched = {e.advocate_id for e in entries}
    changes = tiers_apply(advocate_ids=touched, now=now)
    facts = fraud.advocate_facts(advocate_ids=touched)
    flags = fraud.fraud_check(facts=facts, event_ids=[e.id for e in events], config=config,
                              now=now)
    grants = rules_evaluate(entries=entries, events=events, tier_changes=changes, facts=facts,
                            now=now)
    result.processed += len(entries)
    result.points += sum(e.points for e in entries)
    result.tier_changes += len(changes)
    result.flags += len(flags)
    return list(grants)


def ledger_event_replay(payload: dict[str, Any]) -> int:
    """Replay a "ledger" dead letter: give that one event its points (tiers, grants) once.

    Waits for the ledger lock (a running batch finishes first); an event that already has its
    points entry is left alone. Returns the events processed (0 or 1); raises if it still
    fails.
    """
    event_id = int(payload["event_id"])
    now = timezone.now()
    result = BatchResult()
    with transaction.atomic():
        LedgerCursor.objects.get_or_create(name=CURSOR_NAME)
        LedgerCursor.objects.select_for_update().get(name=CURSOR_NAME)
        if PointsEntry.objects.filter(event_id=event_id).exists():
            return 0
        events = _merged([LedgerEvent(*row) for row in AdvocacyEvent.objects
                          .filter(pk=event_id).values_list(*EVENT_FIELDS)])
        if not events:
            raise LookupError(f"advocacy event {event_id} no longer exists")
        grants = _events_apply(events, config=RewardsSettings.load(), now=now, result=result)
        if grants:
            grants_enqueue_issue(grants)
    return result.processed


dead_letter_replayer_register(LEDGER_TASK, ledger_event_replay)


def _points_entries(events: list[LedgerEvent], *, config: RewardsSettings,
                    now: datetime) -> list[Entry]:
    """Points for each event (advocates already followed through merges), in id order, after
    the daily cap (one query for the cap)."""
    advocates = {e.advocate_id for e in events}
    days = {e.occurred_at.astimezone(UTC).date() for e in events}
    used: dict[tuple[int, date], int] = defaultdict(int)
    if config.daily_cap:
        # Spending does not make room under the cap (spend entries carry a spend key).
        earned = PointsEntry.objects.filter(spend_key__isnull=True)
        for row in (earned.filter(advocate_id__any_ids=ids_in(advocates), day__in=days)
                    .values("advocate_id", "day").annotate(total=Sum("points"))):
            used[row["advocate_id"], row["day"]] = row["total"] or 0
    expiry = timedelta(days=config.expiry_days) if config.expiry_days else None
    entries: list[Entry] = []
    table = config.points_table()
    per_star, unrated = config.points_review_per_star, config.points_review_unrated
    for e in events:
        day = e.occurred_at.astimezone(UTC).date()
        if not event_may_earn_incentive(kind=e.kind, platform=e.platform):
            # The entry is still written (it marks the event processed) but earns nothing, so
            # no tier moves and no rule counts it (see `rules_evaluate`).
            points = 0
            reason = f"review on {platform_label(e.platform)}: no incentives (platform policy)"
        elif e.kind == "review":
            points = e.rating * per_star if e.rating else unrated
            reason = f"review {e.rating or '-'}★"
        else:
            points = table.get(e.kind, 0)
            reason = e.kind
        if config.daily_cap:
            room = max(0, config.daily_cap - used[e.advocate_id, day])
            if points > room:
                points, reason = room, f"{reason} (daily cap {config.daily_cap} reached)"
            used[e.advocate_id, day] += points
        entries.append(Entry(
            e.advocate_id, e.id, e.kind, e.platform, points, reason,
            e.occurred_at, day, e.occurred_at + expiry if expiry else None, now))
    return entries


def ledger_rescan() -> int:
    """Rewind the scan start to the oldest unprocessed event (a daily safety net).

    Returns how many unprocessed events lie behind the old start (0 in normal operation).
    """
    with transaction.atomic():
        cursor = _cursor_lock()
        if cursor is None:
            return 0
        set_aside = [int(key) for key in dead_letter_skip_keys(task=LEDGER_TASK)]
        behind = (AdvocacyEvent.objects.filter(id__lte=cursor.scan_from_id,
                                               points_entry__isnull=True)
                  .exclude(pk__in=set_aside))
        oldest = behind.order_by("id").values_list("id", flat=True).first()
        if oldest is None:
            return 0
        count = behind.count()
        logger.warning("ledger: %d events behind the scan start; rewinding to #%d", count,
                       oldest)
        LedgerCursor.objects.filter(pk=cursor.pk).update(scan_from_id=oldest - 1)
        return count


def events_unprocessed_exist() -> bool:
    """Cheap check for the beat sweep: new events, or stragglers in the recent window."""
    cursor = LedgerCursor.objects.filter(name=CURSOR_NAME).first()
    if cursor is None:
        return AdvocacyEvent.objects.exists()
    if AdvocacyEvent.objects.filter(id__gt=cursor.max_processed_id).exists():
        return True
    set_aside = [int(key) for key in dead_letter_skip_keys(task=LEDGER_TASK)]
    return AdvocacyEvent.objects.filter(
        id__gt=cursor.scan_from_id, id__lte=cursor.max_processed_id,
        points_entry__isnull=True).exclude(pk__in=set_aside).exists()


def tiers_demote_lapsed(*, now: datetime | None = None) -> int:
    """Periodic: demote advocates whose windowed points lapsed, holding the ledger lock so a
    batch never evaluates the same advocate at the same time. Returns the demotions (0 if
    the ledger is busy; the next run catches up)."""
    with transaction.atomic():
        if _cursor_lock() is None:
            return 0
        return tiers_service.tiers_demote_lapsed(now=now)
