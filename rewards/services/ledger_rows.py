"""The typed rows that flow through a ledger batch: the advocacy events it reads and the
points entries it writes, which rule evaluation (`grants.rules_evaluate`) then reads too.

Frozen, with slots: a batch holds a few thousand of each, and nothing changes them after they
are made (following a merged advocate makes a new event row, `ledger._merged`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from operator import attrgetter


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """An advocacy event as the ledger reads it (the columns of `EVENT_FIELDS`), with its
    advocate already followed through merges (`_merged`)."""

    id: int
    advocate_id: int
    kind: str
    platform: str
    rating: int | None
    venue: str
    occurred_at: datetime
    created_at: datetime


EVENT_FIELDS = tuple(f.name for f in fields(LedgerEvent))


@dataclass(frozen=True, slots=True)
class Entry:
    """A points entry about to be inserted (not a model instance: those cost too much here);
    `row()` gives its values in `ENTRY_COLUMNS` order for the COPY."""

    advocate_id: int
    event_id: int
    kind: str
    platform: str
    points: int
    reason: str
    occurred_at: datetime
    day: date
    expires_at: datetime | None
    created_at: datetime

    def row(self) -> tuple[object, ...]:
        return _entry_row(self)


ENTRY_COLUMNS = tuple(f.name for f in fields(Entry))
_entry_row: Callable[[Entry], tuple[object, ...]] = attrgetter(*ENTRY_COLUMNS)
