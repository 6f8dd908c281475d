"""Dead letters: rows a batch task could not process, set aside so the rest went through.

A batch task that fails retries its rows in halves (`advocates.sql.rows_isolate`); each row
that fails on its own is recorded here with its error (`dead_letter_record`); both steps are
`dead_letters_isolate`, which every batch task calls the same way. The task's sweep skips the
row while its dead letter is open, and for good once it is discarded (`dead_letter_skip_keys`).
An operator sees them in the admin (Settings › Dead letters), may edit the payload (the fix),
then replays it (`dead_letter_replay`, which runs the task's registered replayer once, in one
transaction with marking the letter replayed) or discards it (`dead_letter_discard`). Both
are audited.

Each task registers its replayer with `dead_letter_replayer_register`: `advocates` its own,
`rewards` its own (from its AppConfig.ready), so this module imports neither's tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from wagtail.log_actions import log

from advocates.models import DeadLetter, DeadLetterStatus
from advocates.sql import is_not_a_row_error, rows_isolate

logger = logging.getLogger(__name__)

Replayer = Callable[[dict[str, Any]], Any]
_REPLAYERS: dict[str, Replayer] = {}


class ReplayRefused(Exception):
    """The dead letter cannot be replayed (not open, or no replayer for its task)."""


def dead_letter_replayer_register(task: str, replayer: Replayer) -> None:
    """Declare how a dead letter of `task` is replayed: `replayer(payload)` processes the row
    once (idempotently) and raises if it still fails."""
    _REPLAYERS[task] = replayer


def dead_letter_error(exc: BaseException) -> str:
    """What a dead letter records of an error: its type and message, cut short."""
    return f"{type(exc).__name__}: {exc}"[:2000]


def dead_letter_record(*, task: str, key: str | int, payload: dict[str, Any],
                       error: str) -> DeadLetter:
    """Record (or, if already open, count again) the failure of one row of `task`.

    Call outside the failed transaction (after its savepoint rolled back). The payload of an
    open dead letter is kept: an operator may have edited it.
    """
    key, now = str(key), timezone.now()
    logger.warning("dead letter: %s row %s: %s", task, key, error.split(":")[0])
    for _ in range(2):  # a concurrent worker may record the same row first
        updated = DeadLetter.objects.filter(task=task, key=key, status=DeadLetterStatus.OPEN)
        if updated.update(error=error[:2000], attempts=F("attempts") + 1, updated_at=now):
            return updated.get()
        try:
            with transaction.atomic():
                return DeadLetter.objects.create(task=task, key=key, payload=payload,
                                                 error=error[:2000], created_at=now,
                                                 updated_at=now)
        except IntegrityError:
            continue
    return DeadLetter.objects.get(task=task, key=key, status=DeadLetterStatus.OPEN)


def dead_letter_open_keys(*, task: str) -> set[str]:
    """The rows of `task` set aside and not yet replayed or discarded."""
    return set(DeadLetter.objects.filter(task=task, status=DeadLetterStatus.OPEN)
               .values_list("key", flat=True))


def dead_letter_skip_keys(*, task: str) -> set[str]:
    """The rows of `task` its sweep and its batches leave alone: set aside and still open, or
    discarded (given up for good; a replayed row is processed and needs no skipping)."""
    return set(DeadLetter.objects.filter(
        task=task, status__in=[DeadLetterStatus.OPEN, DeadLetterStatus.DISCARDED])
        .values_list("key", flat=True))


T = TypeVar("T")


def dead_letters_isolate(*, task: str, rows: Sequence[T], run: Callable[[Sequence[T]], object],
                         key: Callable[[T], str | int], payload: Callable[[T], dict[str, Any]],
                         failed: Exception | None = None,
                         errors: tuple[type[Exception], ...] = (Exception,)
                         ) -> list[tuple[T, Exception]]:
    """Isolate the bad rows of a batch and set each aside as a dead letter of `task`.

    `run(chunk)` processes some rows in a savepoint (`rows_isolate`: halves, down to single
    rows); every row that fails on its own is recorded (`dead_letter_record`, keyed by
    `key(row)`, replayed with `payload(row)`). Pass `failed`, the error of the whole batch,
    when `rows` already failed together: the halves are tried first, not the whole batch
    again. A deadlock or a lost connection is not a bad row (`is_not_a_row_error`): it
    propagates, `failed` included, for the whole batch to run again. Returns the rows set
    aside, each with its error.

    Call it where the batch's own transaction (if any) is still usable: after the failed
    savepoint rolled back. The dead letters commit with the rest of that transaction.
    """
    rows = list(rows)
    if failed is not None and is_not_a_row_error(failed):
        raise failed
    if failed is not None and len(rows) == 1:
        failures: list[tuple[T, Exception]] = [(rows[0], failed)]
    elif failed is not None:
        middle = len(rows) // 2
        failures = (rows_isolate(rows[:middle], run, errors=errors)
                    + rows_isolate(rows[middle:], run, errors=errors))
    else:
        failures = rows_isolate(rows, run, errors=errors)
    for row, exc in failures:
        dead_letter_record(task=task, key=key(row), payload=payload(row),
                           error=dead_letter_error(exc))
    return failures


def dead_letter_replay(*, dead_letter_id: int, user: Any = None) -> tuple[bool, str]:
    """Run the task's replayer on the (possibly edited) payload, once; (ok, message).

    On success the dead letter is marked replayed; on failure it stays open with the new error
    and one more attempt. Either way the attempt is audited. `ReplayRefused` if the dead
    letter is not open or its task has no replayer.
    """
    # One transaction holding the dead letter's row lock: two operators replaying the same
    # letter at once run the replayer once (the second waits, then finds it replayed), and
    # the row's work commits together with the letter marked replayed.
    with transaction.atomic():
        letter = DeadLetter.objects.select_for_update().get(pk=dead_letter_id)
        if letter.status != DeadLetterStatus.OPEN:
            raise ReplayRefused(f"dead letter {letter.pk} is {letter.status}, not open")
        replayer = _REPLAYERS.get(letter.task)
        if replayer is None:
            raise ReplayRefused(f"no replayer for task {letter.task!r}")
        try:
            with transaction.atomic():
                replayer(dict(letter.payload))
        except Exception as exc:  # whatever it raises, the row stays set aside with the reason
            error = dead_letter_error(exc)
            DeadLetter.objects.filter(pk=letter.pk).update(
                error=error, attempts=F("attempts") + 1, updated_at=timezone.now())
            log(instance=letter, action="kansha.deadletter.replay_failed", user=user,
                data={"error": error})
            return False, error
        DeadLetter.objects.filter(pk=letter.pk).update(
            status=DeadLetterStatus.REPLAYED, resolved_at=timezone.now())
        log(instance=letter, action="kansha.deadletter.replay", user=user)
    return True, ""


def dead_letter_discard(*, dead_letter_id: int, user: Any = None) -> bool:
    """Give up on the row for good (it stays unprocessed); whether this call discarded it."""
    letter = DeadLetter.objects.get(pk=dead_letter_id)
    done = DeadLetter.objects.filter(pk=letter.pk, status=DeadLetterStatus.OPEN).update(
        status=DeadLetterStatus.DISCARDED, resolved_at=timezone.now())
    if done:
        log(instance=letter, action="kansha.deadletter.discard", user=user)
    return bool(done)
