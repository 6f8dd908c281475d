"""Ingest (step 1 of a mention's journey): mentions arrive and are upserted, then detection
(`advocates.services.detection`) is enqueued for the new ones."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from advocates.models import Advocate, Mention, SocialIdentity
from advocates.schemas import MentionIn
from advocates.services.broker import broker_send_on_commit
from advocates.signals import mentions_stored
from advocates.sql import (
    JsonText,
    is_deadlock,
    rows_by_keys,
    rows_insert,
    rows_insert_new,
    rows_update,
)

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


def _raw_json(raw: dict[str, Any], dumps: Callable[..., str]) -> JsonText:
    # A row read from JSONL carries its original text (advocates.importing.RawRow).
    text: str | None = getattr(raw, "json_text", None)
    return JsonText(text if text is not None else dumps(raw, ensure_ascii=False))


def _identities_refresh(changed: list[tuple[int, str, str, int | None]], now: datetime
                        ) -> None:
    """Store new handles, names and follower counts: (id, handle, name, followers) each."""
    rows_update(SocialIdentity, [
        SocialIdentity(pk=pk, handle=handle, display_name=name, follower_count=followers,
                       updated_at=now) for pk, handle, name, followers in changed],
        ["handle", "display_name", "follower_count", "updated_at"], lock_first=True)


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
    for pk, platform, user_id, handle, name, followers in rows_by_keys(
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

    advocate_ids = rows_insert(
        Advocate, ("display_name", "created_at"),
        [(latest[key].author_name or latest[key].author_handle, now) for key in missing])
    identity_ids = rows_insert_new(
        SocialIdentity,
        ("advocate_id", "platform", "platform_user_id", "handle", "display_name",
         "follower_count", "first_seen_at", "updated_at"),
        [(advocate_id, key[0], key[1], latest[key].author_handle, latest[key].author_name,
          latest[key].followers, now, now)
         for key, advocate_id in zip(missing, advocate_ids, strict=True)],
        unique=("platform", "platform_user_id"))
    lost: list[tuple[MentionKey, int]] = []
    for key, advocate_id, identity_id in zip(missing, advocate_ids, identity_ids, strict=True):
        if identity_id is None:
            lost.append((key, advocate_id))  # another batch created this author meanwhile
        else:
            ids[key] = identity_id
    if lost:
        for platform, user_id, identity_id in rows_by_keys(
                SocialIdentity, [key for key, _ in lost], "platform", "platform_user_id",
                ("platform", "platform_user_id", "id")):
            ids[(platform, user_id)] = identity_id
        Advocate.objects.filter(pk__in=[advocate_id for _, advocate_id in lost]).delete()
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
        stored = set(rows_by_keys(Mention, unique, "platform", "external_id",
                                   ("platform", "external_id")))
        # In key order: concurrent batches with overlapping keys then wait on each other's
        # unique-index entries in the same order instead of deadlocking (found by
        # tests/reliability/test_faults.py, 500 events x 20 concurrent deliveries).
        fresh = {key: pair for key, pair in sorted(unique.items()) if key not in stored}
        result.duplicate += len(stored)
        if fresh:
            identity_ids = _identities_upsert([item for item, _ in fresh.values()], now)
            dumps = json.dumps
            inserted = rows_insert_new(Mention, _MENTION_COLUMNS, [
                (item.platform, item.external_id, item.kind,
                 identity_ids[(item.platform, item.author_id)], item.text,
                 item.language, item.url, item.posted_at, item.rating, item.venue,
                 item.in_reply_to, _raw_json(raw, dumps), now, source)
                for item, raw in fresh.values()
            ], unique=("platform", "external_id"))
            # None: a concurrent batch stored that mention meanwhile (a duplicate).
            result.mention_ids = [pk for pk in inserted if pk is not None]
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
