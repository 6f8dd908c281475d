"""The outreach state machine: every status change of an `Outreach` goes through
`outreach_transition`, checked against `OUTREACH_MOVES` (tests/advocates/test_state_writes.py
fails if other code writes the status field).

    proposed ──approve──▶ approved ──claim──▶ sending ──▶ sent
       │  ▲                  ▲                  │
    snooze│unsnooze          └─defer / retry────┤
       ▼  │                                      └──▶ failed ──retry──▶ approved
    snoozed

Proposed, snoozed and approved rows can be rejected (by staff, an opt-out, a consent that
ended); a row being sent is rejected when its person opted out meanwhile. A row is created
`proposed` (`outreach_propose`); that is not a move.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from advocates.models import Outreach, OutreachLog, OutreachStatus

if TYPE_CHECKING:
    from django.contrib.auth.models import User

S = OutreachStatus

OUTREACH_MOVES: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.APPROVED, S.REJECTED, S.SNOOZED}),
    S.SNOOZED: frozenset({S.APPROVED, S.REJECTED, S.SNOOZED, S.PROPOSED}),
    S.APPROVED: frozenset({S.SENDING, S.REJECTED}),
    # Back to approved: deferred by a rate limit or a transient error (sent again later).
    S.SENDING: frozenset({S.SENT, S.FAILED, S.APPROVED, S.REJECTED, S.SENDING}),
    S.FAILED: frozenset({S.APPROVED}),
    S.SENT: frozenset(),
    S.REJECTED: frozenset(),
}


def outreach_transition(ids: Collection[int], *, from_: Iterable[str], to: str,
                        action: str | None = None, actor: User | None = None,
                        detail: dict[str, Any] | None = None, extra_q: Q | None = None,
                        now: datetime | None = None, **fields: Any) -> list[int]:
    """Move the outreach among `ids` whose status is one of `from_` to `to`, with one
    conditional UPDATE (a row that moved meanwhile is left alone), setting `fields` too.

    Logs `action` (with `detail`) for every row moved, when given. Returns the ids moved.
    A move `OUTREACH_MOVES` does not allow is a programming error (ValueError), raised
    before anything is written.
    """
    from_ = tuple(from_)
    wrong = [f for f in from_ if to not in OUTREACH_MOVES[f]]
    if wrong or not from_:
        raise ValueError(f"outreach cannot move from {' or '.join(wrong) or 'nothing'} to {to}")
    ids = list(ids)
    now = now or timezone.now()
    query = Outreach.objects.filter(pk__in=ids, status__in=from_)
    if extra_q is not None:
        query = query.filter(extra_q)
    # No savepoint of its own: every caller runs it inside its own transaction (or it opens
    # one), and an error here aborts the caller's whole move anyway.
    with transaction.atomic(savepoint=False):
        if len(ids) == 1:
            moved = ids if query.update(status=to, updated_at=now, **fields) == 1 else []
        else:
            moved = list(query.select_for_update().values_list("id", flat=True))
            Outreach.objects.filter(pk__in=moved).update(status=to, updated_at=now, **fields)
        if action and moved:
            OutreachLog.objects.bulk_create(
                [OutreachLog(outreach_id=i, action=action, actor=actor, at=now,
                             detail=detail or {}) for i in moved])
    return moved
