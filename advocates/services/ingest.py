"""Ingest (step 1 of a mention's journey): mentions arrive and are upserted, then detection
(`advocates.services.detection`) is enqueued for the new ones."""

from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from advocates.models import Advocate, Mention, SocialIdentity
from advocates.schemas import MentionIn
from advocates.services.broker import broker_send_on_commit
from advocates.signals import mentions_stored
from advocates.sql import copy_rows, is_deadlock

logger = logging.getLogger(__name__)

MentionKey = tuple[str, str]
_DEADLOCK_RETRIES = 6


@dataclass
class InvalidItem:
    position: int  # 1-based line or item number, as the caller counts them
    reason: str


@dataclass
class IngestResult:
    created: int = 0
    duplicate: int = 0
    invalid: list[InvalidItem] = field(default_factory=list)
    mention_ids: list[int] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.created += other.created
        self.duplicate += other.duplicate
        self.invalid.extend(other.invalid)
        self.mention_ids.extend(other.mention_ids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "duplicate": self.duplicate,
            "invalid": [{"position": i.position, "reason": i.reason} for i in self.invalid],
        }


def _keys_q(keys: Iterable[tuple[str, str]], first: str, second: str) -> Q:
    """One `Q` matching (first, second) pairs, grouped by the first so it stays an IN list."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for a, b in keys:
        grouped[a].append(b)
    query = Q(pk__in=[])
    for a, bs in grouped.items():
        query |= Q(**{first: a, f"{second}__in": bs})
    return query


def _rows_by_keys(model: type[Model], keys: Collection[tuple[str, str]], first: str, second: str,
                  columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """`columns` of the rows whose (first, second) is among `keys`.

    (first, second) must be unique in the table. On PostgreSQL the keys travel as one JSON
    parameter (a 2,000-key IN list costs more to build, quote and parse than the lookup) and
    each is looked up in a LATERAL ... LIMIT 1 subquery, which keeps the plan on the unique
    index even while a bulk load has left the table's statistics saying it is empty (a hash
    join over a sequential scan then made every batch slower than the one before).
    """
    if not keys:
        return []
    if connection.vendor != "postgresql":
        return list(model._default_manager.filter(_keys_q(keys, first, second))
                    .values_list(*columns))
    qn = connection.ops.quote_name
    column = {f.name: f.column for f in model._meta.concrete_fields if f.column}
    select = ", ".join(qn(column[c]) for c in columns)
    sql = (f"SELECT t.* FROM jsonb_to_recordset(%s::jsonb) AS k(a text, b text) "  # noqa: S608
           f"CROSS JOIN LATERAL (SELECT {select} FROM {qn(model._meta.db_table)} "
           f"WHERE {qn(column[first])} = k.a AND {qn(column[second])} = k.b "
           f"LIMIT 1) t")
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps([{"a": a, "b": b} for a, b in keys])])
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def _raw_json(raw: dict[str, Any], dumps: Callable[..., str]) -> str:
    # A row read from JSONL carries its original text (advocates.importing.RawRow).
    text: str | None = getattr(raw, "json_text", None)
    return text if text is not None else dumps(raw, ensure_ascii=False)


def _identities_refresh(changed: list[tuple[int, str, str, int | None]], now: datetime
                        ) -> None:
    """Store new handles, names and follower counts: (id, handle, name, followers) each."""
    if connection.vendor != "postgresql":
        SocialIdentity.objects.bulk_update(
            [SocialIdentity(pk=pk, handle=handle, display_name=name, follower_count=followers,
                            updated_at=now) for pk, handle, name, followers in changed],
            ["handle", "display_name", "follower_count", "updated_at"],
        )
        return
    # One UPDATE ... FROM a JSON parameter instead of bulk_update's CASE WHEN per row.
    with connection.cursor() as cursor:
        # Lock the rows in id order first: the UPDATE's join locks them in whatever order the
        # plan yields, and two batches refreshing the same authors then deadlock.
        cursor.execute("SELECT id FROM advocates_socialidentity WHERE id = ANY(%s) "
                       "ORDER BY id FOR NO KEY UPDATE", [sorted(pk for pk, *_ in changed)])
        cursor.execute(
            "UPDATE advocates_socialidentity t SET handle = c.handle, display_name = c.name, "
            "follower_count = c.followers, updated_at = %s "
            "FROM jsonb_to_recordset(%s::jsonb) "
            "AS c(id bigint, handle text, name text, followers integer) WHERE t.id = c.id",
            [now, json.dumps([{"id": pk, "handle": handle, "name": name, "followers": followers}
                              for pk, handle, name, followers in changed])],
        )


def _identities_upsert(items: Sequence[MentionIn], now: datetime) -> dict[MentionKey, int]:
    """Create or refresh the authors' identities; return (platform, author_id) → identity id.

    New identities get a new Advocate each. Two batches racing on the same new author both
    insert with ignore_conflicts; the loser's spare Advocate is deleted again.
    """
    latest: dict[MentionKey, MentionIn] = {}
    for item in items:
        latest[(item.platform, item.author_id)] = item

    ids: dict[MentionKey, int] = {}
    changed = []
    for pk, platform, user_id, handle, name, followers in _rows_by_keys(
        SocialIdentity, latest, "platform", "platform_user_id",
        ("id", "platform", "platform_user_id", "handle", "display_name", "follower_count"),
    ):
        key = (platform, user_id)
        ids[key] = pk
        item = latest[key]
        new_followers = item.followers if item.followers is not None else followers
        if (handle, name, followers) != (item.author_handle, item.author_name, new_followers):
            changed.append((pk, item.author_handle, item.author_name, new_followers))
    if changed:
        _identities_refresh(changed, now)

    missing = sorted(key for key in latest if key not in ids)  # lock order: see mentions_ingest
    if not missing:
        return ids

    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():  # a savepoint: on a race, undo both and use the ORM
                advocate_ids = copy_rows(
                    Advocate, ("display_name", "created_at"),
                    [(latest[key].author_name or latest[key].author_handle, now)
                     for key in missing],
                )
                identity_ids = copy_rows(
                    SocialIdentity,
                    ("advocate_id", "platform", "platform_user_id", "handle", "display_name",
                     "follower_count", "first_seen_at", "updated_at"),
                    [(advocate_id, key[0], key[1], latest[key].author_handle,
                      latest[key].author_name, latest[key].followers, now, now)
                     for key, advocate_id in zip(missing, advocate_ids, strict=True)],
                )
        except IntegrityError:
            pass  # another batch created some of these authors meanwhile
        else:
            ids.update(zip(missing, identity_ids, strict=True))
            return ids

    advocates = Advocate.objects.bulk_create(
        [Advocate(display_name=latest[key].author_name or latest[key].author_handle,
                  created_at=now) for key in missing]
    )
    SocialIdentity.objects.bulk_create(
        [
            SocialIdentity(
                advocate=advocate,
                platform=key[0],
                platform_user_id=key[1],
                handle=latest[key].author_handle,
                display_name=latest[key].author_name,
                follower_count=latest[key].followers,
                first_seen_at=now,
                updated_at=now,
            )
            for key, advocate in zip(missing, advocates, strict=True)
        ],
        ignore_conflicts=True,
    )
    created_rows = _rows_by_keys(SocialIdentity, missing, "platform", "platform_user_id",
                                 ("platform", "platform_user_id", "id", "advocate"))
    used_advocates = set()
    for platform, user_id, ident_id, advocate_id in created_rows:
        ids[(platform, user_id)] = ident_id
        used_advocates.add(advocate_id)
    spare = [a.pk for a in advocates if a.pk not in used_advocates]
    if spare:
        Advocate.objects.filter(pk__in=spare).delete()
    return ids


# What ingest fills in on a new mention; every other column takes its model default.
_MENTION_COLUMNS = ("platform", "external_id", "kind", "author_id", "text", "language", "url",
                    "posted_at", "rating", "venue", "in_reply_to", "raw", "received_at",
                    "source")


def mentions_ingest(
    *,
    items: Sequence[MentionIn],
    source: str,
    raw_payloads: Sequence[dict[str, Any]] | None = None,
    detect: bool = True,
) -> IngestResult:
    """`_mentions_ingest_once`, run again if PostgreSQL breaks a deadlock with a concurrent batch.

    Concurrent batches sharing authors or mentions can deadlock (an identity refresh's row lock
    against another batch's unique-index entry); the batch is an idempotent upsert, so it is
    simply run again. Inside a caller's transaction nothing can be retried, so it raises.
    (Found by tests/reliability/test_faults.py: 500 events x 20 concurrent deliveries answered
    some 500s before this.)
    """
    for attempt in range(_DEADLOCK_RETRIES + 1):
        try:
            return _mentions_ingest_once(items=items, source=source, raw_payloads=raw_payloads,
                                         detect=detect)
        except OperationalError as exc:
            if (connection.in_atomic_block or attempt == _DEADLOCK_RETRIES
                    or not is_deadlock(exc)):
                raise
            logger.info("ingest batch deadlocked with a concurrent batch; retrying")
            # A little jitter, so the same two batches do not collide again in lockstep.
            time.sleep(random.uniform(0.005, 0.03) * (attempt + 1))  # noqa: S311
    raise AssertionError("unreachable")


def _mentions_ingest_once(
    *,
    items: Sequence[MentionIn],
    source: str,
    raw_payloads: Sequence[dict[str, Any]] | None = None,
    detect: bool = True,
) -> IngestResult:
    """Upsert a batch of validated mentions in one transaction.

    A mention already stored under its (platform, external_id), or repeated within the batch,
    counts as a duplicate and changes nothing. Authors' identities are created (each with a new
    Advocate) or refreshed. After commit, detection is enqueued for the new mentions.
    `raw_payloads`, when given, is parallel to `items` and is kept as each mention's raw payload.

    On PostgreSQL new rows are written with COPY (the bench in bench/ingest.py shows why); a
    unique conflict with a concurrent batch rolls that back to a savepoint and the batch goes
    through the ORM's bulk_create with ignore_conflicts instead, with the same result.
    """
    result = IngestResult()
    if not items:
        return result
    now = timezone.now()
    unique: dict[MentionKey, tuple[MentionIn, dict[str, Any]]] = {}
    for position, item in enumerate(items):
        key = (item.platform, item.external_id)
        if key in unique:
            result.duplicate += 1
            continue
        raw = raw_payloads[position] if raw_payloads is not None else item.model_dump(mode="json")
        unique[key] = (item, raw)

    with transaction.atomic():
        stored = set(_rows_by_keys(Mention, unique, "platform", "external_id",
                                   ("platform", "external_id")))
        # In key order: concurrent batches with overlapping keys then wait on each other's
        # unique-index entries in the same order instead of deadlocking (found by
        # tests/reliability/test_faults.py, 500 events x 20 concurrent deliveries).
        fresh = {key: pair for key, pair in sorted(unique.items()) if key not in stored}
        result.duplicate += len(stored)
        if fresh:
            identity_ids = _identities_upsert([item for item, _ in fresh.values()], now)
            mention_ids = None
            if connection.vendor == "postgresql":
                dumps = json.dumps
                try:
                    with transaction.atomic():  # a savepoint, so the fallback can go on
                        mention_ids = copy_rows(Mention, _MENTION_COLUMNS, [
                            (item.platform, item.external_id, item.kind,
                             identity_ids[(item.platform, item.author_id)], item.text,
                             item.language, item.url, item.posted_at, item.rating, item.venue,
                             item.in_reply_to, _raw_json(raw, dumps), now, source)
                            for item, raw in fresh.values()
                        ])
                except IntegrityError:
                    mention_ids = None  # a concurrent batch stored some of these meanwhile
            if mention_ids is None:
                mention_ids = _mentions_bulk_create(fresh, identity_ids, source=source, now=now)
            result.mention_ids = mention_ids
            result.created = len(result.mention_ids)
            result.duplicate += len(fresh) - result.created
        if detect and result.mention_ids:
            # A def binding the ids now: mypy cannot type a lambda's default argument, and a
            # partial has no __qualname__, which Django logs when a robust hook fails.
            def detect_enqueue(ids: list[int] = result.mention_ids) -> None:
                mentions_stored.send(sender=Mention, mention_ids=ids)

            # The mentions are committed whatever happens next. A broker outage is one warning
            # (services/broker.py) and the sweeper catches up later; with eager tasks, a
            # detector error is logged by Django.
            broker_send_on_commit(detect_enqueue, what="mention detection")
    return result


def _mentions_bulk_create(fresh: Mapping[MentionKey, tuple[MentionIn, dict[str, Any]]],
                          identity_ids: Mapping[MentionKey, int], *, source: str,
                          now: datetime) -> list[int]:
    """Any database: bulk insert skipping conflicts, then find which rows were ours."""
    Mention.objects.bulk_create(
        [
            Mention(
                platform=item.platform,
                external_id=item.external_id,
                kind=item.kind,
                author_id=identity_ids[(item.platform, item.author_id)],
                text=item.text,
                language=item.language,
                url=item.url,
                posted_at=item.posted_at,
                rating=item.rating,
                venue=item.venue,
                in_reply_to=item.in_reply_to,
                raw=raw,
                received_at=now,
                source=source,
            )
            for item, raw in fresh.values()
        ],
        ignore_conflicts=True,  # a concurrent batch may have stored some meanwhile
    )
    # Rows carrying this batch's timestamp are ours; the rest lost a race (duplicates).
    return list(
        Mention.objects.filter(
            _keys_q(fresh, "platform", "external_id"), received_at=now
        ).values_list("id", flat=True)
    )
