"""Connected brand accounts: connect, store credentials, poll, accept and process webhooks.

Views, tasks and the `platforms` management command call these and do little else. The
platform-specific work (HTTP shapes, signatures, parsing) lives in `advocates/platforms/<x>.py`;
what a platform allows, and whether it polls or pushes, is its `PlatformPolicy`. Clients keep
their account's state (quota, outbound ledger, refreshed tokens) through `AccountStore`, the
database side of `advocates.platforms.base.AccountState`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from advocates.models import (
    BrandAccount,
    ConversationMessage,
    Mention,
    MentionSource,
    MessageKind,
    WebhookDelivery,
)
from advocates.platforms.base import (
    PermanentError,
    PlatformClient,
    PlatformError,
    Poller,
    RateLimited,
    TransientError,
    WebhookItems,
    WebhookReceiver,
)
from advocates.platforms.credentials import credentials_decrypt, credentials_encrypt
from advocates.platforms.http import SHAPE_ERRORS
from advocates.platforms.registry import client_class
from advocates.policies import POLICIES, platforms_where
from advocates.services.broker import broker_send_on_commit
from advocates.services.deadletters import (
    dead_letter_error,
    dead_letter_replayer_register,
    dead_letters_isolate,
)
from advocates.services.detection import mentions_detect
from advocates.services.ingest import mentions_ingest
from advocates.services.threads import messages_receive
from advocates.signals import mentions_stored, webhook_batch_due, webhook_stored
from advocates.sql import insert_ignoring, is_deadlock, text_storable

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

POLL_MAX_PAGES = 10
POLL_CURSOR_KEY = "poll"
# The outbound ledger (`advocates.platforms.http.outbound_once`) in the account's cursor JSON.
LEDGER_KEY = "outbound"
LEDGER_SIZE = 1000


class AccountStore:
    """What a platform client keeps about its brand account, and reads about stored posts:
    the database side of `advocates.platforms.base.AccountState`."""

    def __init__(self, account: BrandAccount) -> None:
        self.account = account

    def quota_record(self, *, remaining: int | None, reset_at: datetime | None) -> None:
        """Store the last quota counters seen for the account (row and instance)."""
        fields: dict[str, Any] = {}
        if remaining is not None:
            fields["quota_remaining"] = remaining
        if reset_at is not None:
            fields["quota_reset_at"] = reset_at
        if not fields or self.account.pk is None:
            return
        for name, value in fields.items():
            setattr(self.account, name, value)
        BrandAccount.objects.filter(pk=self.account.pk).update(**fields)

    def ledger(self) -> dict[str, dict[str, Any]]:
        cursor = (BrandAccount.objects.filter(pk=self.account.pk)
                  .values_list("cursor", flat=True).first())
        return dict((cursor or {}).get(LEDGER_KEY) or {})

    def ledger_put(self, key: str, entry: dict[str, Any] | None) -> None:
        """Set (or drop) one ledger entry, merging under a row lock so concurrent writers and
        the poller (which saves `cursor["poll"]`) never overwrite each other's keys. The
        ledger keeps the newest LEDGER_SIZE entries, in write order."""
        with transaction.atomic():
            row = (BrandAccount.objects.select_for_update().only("id", "cursor")
                   .get(pk=self.account.pk))
            cursor = dict(row.cursor or {})
            ledger = dict(cursor.get(LEDGER_KEY) or {})
            ledger.pop(key, None)  # re-inserted at the end
            if entry is not None:
                ledger[key] = entry
            while len(ledger) > LEDGER_SIZE:
                ledger.pop(next(iter(ledger)))
            cursor[LEDGER_KEY] = ledger
            BrandAccount.objects.filter(pk=row.pk).update(cursor=cursor)
        self.account.cursor = cursor

    def credentials(self) -> dict[str, Any]:
        return credentials_decrypt(self.account.credentials_encrypted)

    def credentials_update(self, updates: dict[str, Any]) -> None:
        brand_account_credentials_update(account=self.account, credentials=updates, merge=True)

    def stored_post(self, external_id: str) -> dict[str, Any] | None:
        raw = (Mention.objects.filter(platform=self.account.platform, external_id=external_id)
               .values_list("raw", flat=True).first())
        return dict(raw) if raw else None

    def inbound_message(self, *, external_id: str = "",
                        author_id: str = "") -> dict[str, Any] | None:
        query = ConversationMessage.objects.filter(platform=self.account.platform,
                                                   kind=MessageKind.DM_IN)
        if external_id:
            query = query.filter(external_id=external_id)
        elif author_id:
            query = query.filter(conversation__identity__platform_user_id=author_id)
        else:
            return None
        row = (query.order_by("-at", "-id")
               .values("external_id", "at", "raw", "conversation__identity__platform_user_id")
               .first())
        if row is None:
            return None
        return {"external_id": row["external_id"], "at": row["at"], "raw": row["raw"] or {},
                "author_id": row["conversation__identity__platform_user_id"]}


def brand_account_client(account: BrandAccount) -> PlatformClient:
    """The account's platform client, keeping its state in the database.
    `PermanentError` when no client is installed for the platform."""
    return client_class(account.platform)(account, state=AccountStore(account))


# --- accounts and credentials ---------------------------------------------------------------------
def brand_account_connect(*, platform: str, name: str, credentials: dict[str, Any],
                          handle: str = "", platform_user_id: str = "",
                          config: dict[str, Any] | None = None) -> BrandAccount:
    """Create a connected account with its secrets encrypted.

    Precondition: (platform, name) is new. Effects: one BrandAccount row; the secrets are only
    ever stored as Fernet ciphertext.
    """
    account = BrandAccount(platform=platform, name=name, handle=handle,
                           platform_user_id=platform_user_id, config=config or {})
    account.credentials_encrypted = credentials_encrypt(credentials)
    account.full_clean(exclude=["credentials_encrypted"])
    account.save()
    return account


def brand_account_credentials_update(*, account: BrandAccount, credentials: dict[str, Any],
                                     merge: bool = True) -> None:
    """Replace (or, with merge, update) an account's secrets, re-encrypted.

    Blank values in a merge keep the stored secret, so a form that leaves a password field
    empty does not erase it. The row is locked while merging so a concurrent token refresh is
    not lost.
    """
    with transaction.atomic():
        row = BrandAccount.objects.select_for_update().get(pk=account.pk)
        current = credentials_decrypt(row.credentials_encrypted) if merge else {}
        for key, value in credentials.items():
            if value in (None, "") and merge:
                continue
            current[key] = value
        row.credentials_encrypted = credentials_encrypt(current)
        BrandAccount.objects.filter(pk=row.pk).update(
            credentials_encrypted=row.credentials_encrypted)
    account.credentials_encrypted = row.credentials_encrypted


def brand_account_cursor_save(*, account: BrandAccount, key: str, value: Any) -> None:
    """Set one key of the account's cursor JSON without touching the others (row-locked)."""
    with transaction.atomic():
        row = BrandAccount.objects.select_for_update().only("id", "cursor").get(pk=account.pk)
        cursor = dict(row.cursor or {})
        cursor[key] = value
        BrandAccount.objects.filter(pk=row.pk).update(cursor=cursor)
    account.cursor = cursor


def brand_account_deferred_until(account: BrandAccount) -> datetime | None:
    """When the account's quota is exhausted, the reset time; else None."""
    if (account.quota_remaining is not None and account.quota_remaining <= 0
            and account.quota_reset_at and account.quota_reset_at > timezone.now()):
        return account.quota_reset_at
    return None


# --- polling --------------------------------------------------------------------------------------
@dataclass
class PollOutcome:
    account_id: int
    pages: int = 0
    created: int = 0
    duplicate: int = 0
    rejected: int = 0  # entries the platform sent that are not valid mentions (skipped)
    deferred_until: datetime | None = None
    error: str = ""
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in self.__dict__.items()}


def brand_account_poll(*, account_id: int, max_pages: int = POLL_MAX_PAGES) -> PollOutcome:
    """Fetch new mentions for one account, page by page, from its saved cursor.

    Each page's mentions and the cursor after it are committed together, so a crash (or a
    restart) resumes after the last committed page: nothing is skipped and a re-fetched page is
    deduplicated by (platform, external_id). When the quota is exhausted (a 429 or remaining
    = 0) nothing is requested until `quota_reset_at`. Transient errors are raised for the task
    to retry; permanent ones are recorded on the account.
    """
    outcome = PollOutcome(account_id=account_id)
    account = BrandAccount.objects.filter(pk=account_id).first()
    if account is None or not account.active:
        outcome.skipped = "inactive or missing"
        return outcome
    deferred = brand_account_deferred_until(account)
    if deferred:
        outcome.deferred_until = deferred
        outcome.skipped = "quota exhausted"
        return outcome
    policy = POLICIES.get(account.platform)
    if policy is not None and not policy.polls:
        outcome.skipped = "no polling on this platform (it pushes, or has no feed)"
        return outcome
    try:
        client = cast(Poller, brand_account_client(account))
    except PermanentError as exc:
        outcome.error = str(exc)
        BrandAccount.objects.filter(pk=account.pk).update(last_error=str(exc)[:2000])
        return outcome
    for _ in range(max_pages):
        cursor = dict((account.cursor or {}).get(POLL_CURSOR_KEY) or {})
        try:
            page = client.poll(cursor=cursor)
        except RateLimited as exc:
            outcome.deferred_until = exc.reset_at
            BrandAccount.objects.filter(pk=account.pk).update(
                quota_remaining=0, quota_reset_at=exc.reset_at)
            break
        except PermanentError as exc:
            outcome.error = str(exc)
            BrandAccount.objects.filter(pk=account.pk).update(last_error=str(exc)[:2000])
            break
        with transaction.atomic():
            result = mentions_ingest(items=page.items, source=MentionSource.POLL,
                                     raw_payloads=page.raw_payloads)
            if page.messages:  # Mastodon's direct-visibility mentions
                messages_receive(platform=account.platform, messages=page.messages)
            brand_account_cursor_save(account=account, key=POLL_CURSOR_KEY, value=page.cursor)
        outcome.pages += 1
        if page.rejected:
            # Reasons only: an entry's contents may be personal data.
            logger.warning("poll of %s: %d entries skipped: %s", account, len(page.rejected),
                           "; ".join(sorted(set(page.rejected)))[:500])
        outcome.rejected += len(page.rejected)
        outcome.created += result.created
        outcome.duplicate += result.duplicate
        if not page.more:
            break
        deferred = brand_account_deferred_until(account)
        if deferred:  # the last page used up the quota: stop before a 429
            outcome.deferred_until = deferred
            break
    if not outcome.error:
        BrandAccount.objects.filter(pk=account.pk).update(last_error="")
    return outcome


def brand_accounts_poll_due() -> list[int]:
    """Active accounts of platforms that poll, whose quota is not exhausted."""
    polling = platforms_where(lambda policy: policy.polls)
    now = timezone.now()
    rows = BrandAccount.objects.filter(active=True, platform__in=polling)
    return [a.pk for a in rows
            if not (a.quota_remaining is not None and a.quota_remaining <= 0
                    and a.quota_reset_at and a.quota_reset_at > now)]


# --- webhooks -------------------------------------------------------------------------------------
# Deliveries of platforms whose parser is pure (no follow-up fetch) are coalesced: the webhook
# stores its row and makes sure one batch task is queued (a flag in Redis, SET NX with a TTL);
# that task clears the flag, claims up to WEBHOOK_BATCH unprocessed rows with
# SELECT ... FOR UPDATE SKIP LOCKED, parses them and ingests them with one mentions_ingest
# call, then detects and routes the batch's new mentions at once. Platforms whose deliveries
# only name the content (Instagram, Google) keep one task per delivery: each needs a fetch.
WEBHOOK_BATCH = 500
# How long deliveries gather before the queued batch task runs (seconds). It bounds the task
# rate under load (at most one batch task per window); the latency it adds is this long.
WEBHOOK_BATCH_WINDOW = 0.1
# The flag only says "a batch task is queued". Losing it (a task lost with the broker) must not
# stop later deliveries from queueing one, so it expires; a flag that expires while its task is
# still queued only costs a spare, near-empty task.
WEBHOOK_PENDING_TTL = 10
# A delivery unprocessed this long is presumed stranded and re-enqueued by `webhooks_sweep`
# (every 30 s, cms/settings.py): picked up within 90 s of arriving, whatever happened to its task.
# Processing is a conditional claim, so re-enqueueing one still in a queue costs a spare task.
WEBHOOK_SWEEP_AFTER_SECONDS = 60


def _pending_key() -> str:
    # Per database, so test runs and a bench sharing one Redis never see each other's flag.
    return f"kansha:webhooks-pending:{connection.settings_dict['NAME']}"


@functools.cache
def _redis() -> redis.Redis:
    # One client per process: Django's RedisCache builds a new redis.Redis (about 0.15 ms of
    # CPU) for every call, and every webhook request sets the flag.
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _pending_set() -> bool:
    """SET NX with a TTL: True if the flag was clear (the caller must queue a batch task)."""
    if settings.REDIS_URL:
        return bool(_redis().set(_pending_key(), 1, nx=True, ex=WEBHOOK_PENDING_TTL))
    return cache.add(_pending_key(), 1, timeout=WEBHOOK_PENDING_TTL)  # embedded: in-process


def _pending_clear() -> None:
    if settings.REDIS_URL:
        _redis().delete(_pending_key())
    else:
        cache.delete(_pending_key())


def _batched_platforms() -> list[str]:
    """Platforms whose stored deliveries parse without calling the platform."""
    return _BATCHED


_BATCHED = sorted(platforms_where(lambda policy: not policy.webhook_fetches))


# What a webhook request reads of its account: not the cursor, which holds the outbound ledger
# (up to 1,000 entries) that no webhook needs.
_WEBHOOK_ACCOUNT_COLUMNS = [str(f.column) for f in BrandAccount._meta.concrete_fields
                            if f.name != "cursor"]


def brand_account_for_webhook(*, platform: str, account_id: int) -> BrandAccount | None:
    """The active account a webhook URL names, or None.

    Every webhook request runs this, so it is one plain SELECT by primary key through
    `raw()` (which still converts the columns): building the same query with the ORM cost
    about 0.45 ms of CPU, this about 0.15 ms (bench/load.py). The row is read every time,
    never cached, so a deactivated account or a rotated secret takes effect at once.
    """
    qn = connection.ops.quote_name
    sql = (f"SELECT {', '.join(qn(c) for c in _WEBHOOK_ACCOUNT_COLUMNS)} "  # noqa: S608
           f"FROM {qn(BrandAccount._meta.db_table)} WHERE id = %s AND platform = %s AND active")
    return next(iter(BrandAccount.objects.raw(sql, [account_id, platform])), None)


def webhook_accept(*, account: BrandAccount, dedupe_key: str,
                   body: dict[str, Any]) -> tuple[int, bool]:
    """Store a verified delivery once; after commit, make sure it will be processed.

    Precondition: the signature was checked. Returns (delivery id, created); a redelivery with
    the same dedupe key returns the stored row's id and enqueues nothing.
    """
    key = dedupe_key[:191]
    delivery_id = _delivery_insert(account=account, dedupe_key=key, body=body)
    if delivery_id is None:
        existing = WebhookDelivery.objects.filter(dedupe_key=key).values_list("id", flat=True)
        return existing[0], False
    # The delivery is committed whatever the broker (or Redis) says: an outage is one warning
    # (services/broker.py), the next delivery or webhooks_sweep picks this one up, and
    # it never turns into a 500 that makes the platform retry
    # (tests/reliability/test_broker_outage.py).
    if account.platform not in _batched_platforms():
        broker_send_on_commit(lambda: webhook_stored.send(
            sender=WebhookDelivery, delivery_id=delivery_id, countdown=0), what="webhooks")
    else:
        broker_send_on_commit(webhook_batch_schedule, what="webhooks")
    return delivery_id, True


# How much of an unreadable delivery's body is kept for an operator to look at.
REJECTED_BODY_CHARS = 200_000


def webhook_dedupe_key(*, receiver: WebhookReceiver, account: BrandAccount,
                       body: dict[str, Any]) -> str:
    """The platform's dedupe key for a verified body, or a hash of its content when the
    body's shape defeats the platform's key (ids that are objects, entries that are not): the
    delivery is still stored once, and its readable items still count."""
    try:
        return receiver.webhook_dedupe_key(body)
    except SHAPE_ERRORS:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return f"{account.platform}:{account.pk}:sha256:{digest}"


def webhook_reject(*, account: BrandAccount, raw_body: bytes, reason: str) -> tuple[int, bool]:
    """Store an authentic delivery that cannot be read, as processed with `reason` as its
    error; (delivery id, created). A redelivery of the same bytes is a duplicate.

    Precondition: the signature was checked. The body is kept as text (it may not be JSON at
    all), NUL and unpaired surrogates replaced, cut at REJECTED_BODY_CHARS.
    """
    digest = hashlib.sha256(raw_body).hexdigest()
    key = f"{account.platform}:{account.pk}:rejected:sha256:{digest}"
    text = text_storable(raw_body.decode("utf-8", errors="replace"))
    body = {"rejected": reason, "text": text[:REJECTED_BODY_CHARS],
            "truncated": len(text) > REJECTED_BODY_CHARS}
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                platform=account.platform, account=account, dedupe_key=key, body=body,
                processed_at=timezone.now(), error=reason[:2000])
    except IntegrityError:
        return WebhookDelivery.objects.filter(dedupe_key=key).values_list("id", flat=True)[0], False
    return delivery.pk, True


def _items_rejected_note(found: WebhookItems) -> str:
    """What a processed delivery's error says about the items it could not read ("" if none)."""
    if not found.rejected:
        return ""
    reasons = "; ".join(sorted(set(found.rejected)))
    if not found.items:
        return reasons[:2000]
    kept = len(found.items)
    return (f"{len(found.rejected)} item(s) rejected, {kept} read: {reasons}")[:2000]


def _delivery_insert(*, account: BrandAccount, dedupe_key: str,
                     body: dict[str, Any]) -> int | None:
    """INSERT the delivery unless its dedupe key is stored; its id, or None for a duplicate.

    One INSERT … ON CONFLICT DO NOTHING RETURNING (`insert_ignoring`): outside a transaction
    it autocommits in one round trip, and a duplicate raises nothing (inside a caller's
    transaction nothing breaks it either).
    """
    delivery = WebhookDelivery(platform=account.platform, account=account,
                               dedupe_key=dedupe_key, body=body, received_at=timezone.now())
    inserted = insert_ignoring(WebhookDelivery, [delivery], unique=("dedupe_key",))
    return inserted[0].pk if inserted else None


def webhook_batch_schedule() -> bool:
    """Queue a batch task unless one is already queued; return whether this call queued it.

    Call after the deliveries are committed. No delivery can be missed: the task clears the
    flag before it claims, so a delivery committed before the clear is claimed by that task,
    and one committed after it finds the flag clear (or set by another delivery that queued a
    newer task) and is claimed by the next task.
    """
    if not _pending_set():
        return False
    try:
        webhook_batch_due.send(sender=WebhookDelivery, countdown=WEBHOOK_BATCH_WINDOW)
    except Exception:
        _pending_clear()  # nothing was queued: let the next delivery try again
        raise
    return True


@dataclass
class WebhookBatchOutcome:
    claimed: int = 0
    created: int = 0
    failed: int = 0
    retrying: list[int] = field(default_factory=list)  # transient parse errors, one task each
    mention_ids: list[int] = field(default_factory=list)  # created, for detection


def webhooks_process_pending(*, batch_size: int = WEBHOOK_BATCH,
                             max_batches: int = 20) -> WebhookBatchOutcome:
    """Process stored, unprocessed deliveries of the batched platforms, batch after batch.

    Clears the "batch queued" flag first (see `webhook_batch_schedule`), then claims batches
    until one comes back short. Each committed batch's new mentions are detected and routed
    right away, in this task, as one batch: a separate detect task would wait behind the next
    batch task on a worker that serves both queues, and proposals are what a webhook is
    waiting for. If detection fails, or the worker dies before it, the mentions are stored and
    undetected, and `mentions_detect_sweep` picks them up. After `max_batches` full batches it
    queues a follow-up task instead of holding the worker. Transient parse failures are handed
    to `webhook_process` (one task each, with backoff) once the batch is committed.
    """
    _pending_clear()
    total = WebhookBatchOutcome()
    for _ in range(max_batches):
        outcome = webhook_batch_process(limit=batch_size)
        total.claimed += outcome.claimed
        total.created += outcome.created
        total.failed += outcome.failed
        total.retrying += outcome.retrying
        for pk in outcome.retrying:
            webhook_stored.send(sender=WebhookDelivery, delivery_id=pk, countdown=10)
        if outcome.mention_ids:
            try:
                mentions_detect(mention_ids=outcome.mention_ids)
            except DatabaseError:  # e.g. a deadlock: leave it to the detect queue
                logger.warning("webhook batch: detection failed; queued for the detect worker",
                               exc_info=True)
                mentions_stored.send(sender=Mention, mention_ids=outcome.mention_ids)
        if outcome.claimed < batch_size:
            break
    else:
        webhook_batch_schedule()
    return total


def brand_account_receiver(account: BrandAccount) -> WebhookReceiver:
    """The account's client as a webhook receiver; `PermanentError` if its platform's policy
    has no webhooks (or no client is installed)."""
    policy = POLICIES.get(account.platform)
    if policy is None or not policy.webhooks:
        raise PermanentError(f"{account.platform} has no webhooks")
    return cast(WebhookReceiver, brand_account_client(account))


def _delivery_parse(receiver: WebhookReceiver, delivery: WebhookDelivery) -> WebhookItems:
    """What a stored delivery holds; raises PermanentError for one that never parses."""
    try:
        return receiver.webhook_items(delivery.body)
    except SHAPE_ERRORS as exc:
        # A signed body whose shape the parser does not expect (a list where a dict was
        # documented, ...) will never parse: retrying would fail forever and the sweeper would
        # re-enqueue it forever. Record it as a permanent failure instead (found by
        # tests/reliability/test_bad_input.py; ValueError covers pydantic's ValidationError).
        logger.warning("webhook delivery %s: malformed payload (%s)", delivery.pk,
                       type(exc).__name__)
        raise PermanentError(f"malformed payload: {type(exc).__name__}: {exc}") from exc


def webhook_batch_process(*, limit: int = WEBHOOK_BATCH) -> WebhookBatchOutcome:
    """Claim up to `limit` unprocessed deliveries (batched platforms) and ingest them at once.

    One transaction: the rows are locked FOR UPDATE SKIP LOCKED (a concurrent batch takes
    others; a killed worker's locks go with its connection), parsed, their mentions upserted
    with one `mentions_ingest` call and the rows marked processed, all committed together;
    the new mentions' ids are returned for the caller to detect, as one batch. A delivery that
    cannot be parsed is marked processed with its error and does not hold up the others; one
    whose ingest fails (the database refuses its items) is found by ingesting the batch in
    halves, marked processed with "ingest failed: …" and set aside as a dead letter
    ("webhook_ingest") for an operator to replay or discard.
    Deadlocks and connection errors propagate: the whole batch rolls back and the task runs
    again.
    """
    outcome = WebhookBatchOutcome()
    with transaction.atomic():
        deliveries = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("account")
            .filter(processed_at__isnull=True, error="", platform__in=_batched_platforms())
            .order_by("received_at")[:limit])
        outcome.claimed = len(deliveries)
        if not deliveries:
            return outcome
        receivers: dict[int, WebhookReceiver] = {}
        errors: dict[int, str] = {}
        notes: dict[int, str] = {}  # processed, with some items rejected
        parsed: list[tuple[WebhookDelivery, WebhookItems]] = []
        for delivery in deliveries:
            try:
                if delivery.account is None:
                    raise PermanentError("the delivery's account was deleted")
                receiver = receivers.get(delivery.account.pk)
                if receiver is None:
                    receiver = receivers[delivery.account.pk] = brand_account_receiver(
                        delivery.account)
                found = _delivery_parse(receiver, delivery)
            except PermanentError as exc:
                errors[delivery.pk] = str(exc)[:2000]
            except (TransientError, RateLimited) as exc:
                errors[delivery.pk] = str(exc)[:2000]
                outcome.retrying.append(delivery.pk)
            else:
                if found.rejected and not found.items and not found.messages:
                    # nothing in it could be read
                    errors[delivery.pk] = _items_rejected_note(found)
                    continue
                parsed.append((delivery, found))

        def ingest(chunk: Sequence[tuple[WebhookDelivery, WebhookItems]]) -> None:
            result = mentions_ingest(
                items=[i for _, found in chunk for i in found.items],
                raw_payloads=[r for _, found in chunk for r in found.raw_payloads],
                source=MentionSource.WEBHOOK, detect=False)
            outcome.created += result.created
            outcome.mention_ids += result.mention_ids

        try:
            with transaction.atomic():  # a savepoint, so a refused batch can be split
                ingest(parsed)
        except Exception as exc:
            if is_deadlock(exc):
                raise
            logger.warning("webhook batch refused (%s); ingesting it in halves",
                           type(exc).__name__)
            outcome.created, outcome.mention_ids = 0, []
            # Halves down to single deliveries; each one refused on its own is a dead letter
            # ("webhook_ingest", keyed by the delivery), replayed by `webhook_delivery_replay`.
            set_aside = dead_letters_isolate(
                task=WEBHOOK_INGEST_TASK, rows=parsed, run=ingest, failed=exc,
                key=lambda row: row[0].pk, payload=lambda row: {"delivery_id": row[0].pk})
            for (delivery, _), refused in set_aside:
                errors[delivery.pk] = (INGEST_FAILED + dead_letter_error(refused))[:2000]
        for delivery, found in parsed:
            if found.messages and delivery.pk not in errors:
                messages_receive(platform=delivery.platform, messages=found.messages)
        now = timezone.now()
        for delivery, found in parsed:
            if found.rejected and delivery.pk not in errors:
                notes[delivery.pk] = _items_rejected_note(found)
        done = [d.pk for d in deliveries if d.pk not in errors and d.pk not in notes]
        WebhookDelivery.objects.filter(pk__in=done).update(processed_at=now, error="")
        for pk, note in notes.items():
            WebhookDelivery.objects.filter(pk=pk).update(processed_at=now, error=note)
        for pk, error in errors.items():
            WebhookDelivery.objects.filter(pk=pk).update(
                processed_at=None if pk in outcome.retrying else now, error=error)
        outcome.failed = len(errors) - len(outcome.retrying)
    return outcome


WEBHOOK_INGEST_TASK = "webhook_ingest"
INGEST_FAILED = "ingest failed: "  # how a delivery set aside as a dead letter is marked


def webhook_delivery_replay(payload: dict[str, Any]) -> int:
    """Replay a "webhook_ingest" dead letter: parse and ingest that delivery once (its
    mentions are then detected like any other). Returns the mentions created.

    The delivery is locked and taken only while it is still marked "ingest failed", and its
    mark is cleared in the same transaction, so a second replay finds nothing to do (and the
    upsert by platform id would not double a mention anyway). Raises if it still fails.
    """
    delivery = (WebhookDelivery.objects.select_for_update(of=("self",))
                .select_related("account")
                .filter(pk=int(payload["delivery_id"]), error__startswith=INGEST_FAILED)
                .first())
    if delivery is None:
        return 0
    if delivery.account is None:
        raise PermanentError("the delivery's account was deleted")
    found = _delivery_parse(brand_account_receiver(delivery.account), delivery)
    result = mentions_ingest(items=found.items, raw_payloads=found.raw_payloads,
                             source=MentionSource.WEBHOOK)
    messages_receive(platform=delivery.platform, messages=found.messages)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        processed_at=timezone.now(), error=_items_rejected_note(found))
    return result.created


dead_letter_replayer_register(WEBHOOK_INGEST_TASK, webhook_delivery_replay)


def webhook_process(*, delivery_id: int) -> int:
    """Turn one stored delivery into mentions; return how many were created.

    For platforms whose parser fetches the content (`policy.webhook_fetches`), and for retries
    after a transient error: the fetch happens outside any transaction. Idempotent: a processed
    delivery is skipped, and mentions are upserted by their platform id. The delivery is marked
    processed in the same transaction as the mentions it made. Transient errors (a follow-up
    fetch failed) propagate for the task to retry.
    """
    delivery = (WebhookDelivery.objects.select_related("account")
                .filter(pk=delivery_id, processed_at__isnull=True).first())
    if delivery is None or delivery.account is None:
        return 0
    try:
        found = _delivery_parse(brand_account_receiver(delivery.account), delivery)
    except PermanentError as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            processed_at=timezone.now(), error=str(exc)[:2000])
        return 0
    except (TransientError, RateLimited) as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=str(exc)[:2000])
        raise
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            pk=delivery.pk, processed_at__isnull=True).update(
                processed_at=timezone.now(), error=_items_rejected_note(found))
        if not claimed:  # another worker processed it meanwhile
            return 0
        result = mentions_ingest(items=found.items, source=MentionSource.WEBHOOK,
                                 raw_payloads=found.raw_payloads)
        messages_receive(platform=delivery.account.platform, messages=found.messages)
    return result.created


def webhook_unprocessed(*, older_than_seconds: int = WEBHOOK_SWEEP_AFTER_SECONDS,
                        limit: int = 1000) -> tuple[bool, list[int]]:
    """Deliveries stored a while ago and never processed (their task was lost).

    Returns (whether the batch task has work left behind, the ids needing a task of their own:
    fetching platforms, and deliveries waiting to retry a transient error).
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
    batched = _batched_platforms()
    batch_left = stale.filter(platform__in=batched, error="").exists()
    singles = list(stale.exclude(platform__in=batched, error="").order_by("received_at")
                   .values_list("id", flat=True)[:limit])
    return batch_left, singles


# --- health ---------------------------------------------------------------------------------------
@dataclass
class AccountHealth:
    account: BrandAccount
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def brand_account_check(*, account: BrandAccount) -> AccountHealth:
    """Ask the platform whether the account's credentials work; record the outcome."""
    try:
        detail = brand_account_client(account).check()
        health = AccountHealth(account=account, ok=bool(detail.get("ok", True)), detail=detail)
    except PlatformError as exc:
        health = AccountHealth(account=account, ok=False, error=str(exc))
    except Exception as exc:  # a broken key or config must show up in the report, not crash it
        logger.exception("check of %s failed", account)
        health = AccountHealth(account=account, ok=False, error=f"{type(exc).__name__}: {exc}")
    account.refresh_from_db(fields=["quota_remaining", "quota_reset_at"])
    account.last_checked_at = timezone.now()
    account.last_error = health.error[:2000]
    BrandAccount.objects.filter(pk=account.pk).update(
        last_checked_at=account.last_checked_at, last_error=account.last_error)
    return health
