"""Connected brand accounts: connect, store credentials, poll, accept and process webhooks.

Views, tasks and the `platforms` management command call these and do little else. The
platform-specific work (HTTP shapes, signatures, parsing) lives in `advocates/platforms/<x>.py`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from advocates.models import BrandAccount, MentionSource, WebhookDelivery
from advocates.platforms.base import (
    PermanentError,
    PlatformClient,
    PlatformError,
    RateLimited,
    TransientError,
    client_for,
)
from advocates.platforms.credentials import credentials_decrypt, credentials_encrypt

logger = logging.getLogger(__name__)

NOT_CLIENTS = {"base", "http", "credentials", "tasks", "webhooks"}
POLL_MAX_PAGES = 10
POLL_CURSOR_KEY = "poll"


def platform_clients_load() -> None:
    """Import every client module so its @register runs.

    `base.client_for` stops loading modules once any client is registered, so whichever
    module registered first would hide the others; this loads them all, once.
    """
    import advocates.platforms as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in NOT_CLIENTS:
            importlib.import_module(f"advocates.platforms.{info.name}")


def brand_account_client(account: BrandAccount) -> PlatformClient:
    platform_clients_load()
    return client_for(account)


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


def brand_account_deferred_until(account: BrandAccount) -> Any:
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
    deferred_until: Any = None
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
    from advocates.services.ingest import mentions_ingest

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
    try:
        client = brand_account_client(account)
    except PermanentError as exc:
        outcome.error = str(exc)
        BrandAccount.objects.filter(pk=account.pk).update(last_error=str(exc)[:2000])
        return outcome
    if not getattr(client, "polls", False):
        outcome.skipped = "no polling on this platform (it pushes, or has no feed)"
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
            brand_account_cursor_save(account=account, key=POLL_CURSOR_KEY, value=page.cursor)
        outcome.pages += 1
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
    platform_clients_load()
    from advocates.platforms.base import _REGISTRY

    polling = [name for name, cls in _REGISTRY.items() if getattr(cls, "polls", False)]
    now = timezone.now()
    rows = BrandAccount.objects.filter(active=True, platform__in=polling)
    return [a.pk for a in rows
            if not (a.quota_remaining is not None and a.quota_remaining <= 0
                    and a.quota_reset_at and a.quota_reset_at > now)]


# --- webhooks -------------------------------------------------------------------------------------
def webhook_accept(*, account: BrandAccount, dedupe_key: str,
                   body: dict[str, Any]) -> tuple[WebhookDelivery, bool]:
    """Store a verified delivery once; enqueue its processing after commit.

    Precondition: the signature was checked. Returns (delivery, created); a redelivery with the
    same dedupe key returns the stored row and enqueues nothing.
    """
    from advocates.platforms.tasks import webhook_process

    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                platform=account.platform, account=account, dedupe_key=dedupe_key[:191],
                body=body)
            # Robust: the delivery is committed whatever the broker says. A broker outage is
            # logged and platforms_poll's sweep re-enqueues the delivery later; it must not
            # turn into a 500 that makes the platform retry (found by
            # tests/reliability/test_faults.py::test_broker_outage_...).
            transaction.on_commit(lambda pk=delivery.pk: webhook_process.delay(pk), robust=True)
    except IntegrityError:
        return WebhookDelivery.objects.get(dedupe_key=dedupe_key[:191]), False
    return delivery, True


def webhook_process(*, delivery_id: int) -> int:
    """Turn one stored delivery into mentions; return how many were created.

    Idempotent: a processed delivery is skipped, and mentions are upserted by their platform
    id. The delivery is marked processed in the same transaction as the mentions it made.
    Transient errors (a follow-up fetch failed) propagate for the task to retry.
    """
    from advocates.services.ingest import mentions_ingest

    delivery = (WebhookDelivery.objects.select_related("account")
                .filter(pk=delivery_id, processed_at__isnull=True).first())
    if delivery is None or delivery.account is None:
        return 0
    client = brand_account_client(delivery.account)
    try:
        items, raws = client.webhook_items(delivery.body)  # type: ignore[attr-defined]
    except PermanentError as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            processed_at=timezone.now(), error=str(exc)[:2000])
        return 0
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        # A signed body whose shape the parser does not expect (a list where a dict was
        # documented, ...) will never parse: retrying would fail forever and the sweeper would
        # re-enqueue it forever. Record it as a permanent failure instead (found by
        # tests/reliability/test_bad_input.py; ValueError covers pydantic's ValidationError).
        logger.warning("webhook delivery %s: malformed payload (%s)", delivery.pk,
                       type(exc).__name__)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            processed_at=timezone.now(),
            error=f"malformed payload: {type(exc).__name__}: {exc}"[:2000])
        return 0
    except (TransientError, RateLimited) as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=str(exc)[:2000])
        raise
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            pk=delivery.pk, processed_at__isnull=True).update(processed_at=timezone.now(),
                                                              error="")
        if not claimed:  # another worker processed it meanwhile
            return 0
        result = mentions_ingest(items=items, source=MentionSource.WEBHOOK, raw_payloads=raws)
    return result.created


def webhook_unprocessed_ids(*, older_than_seconds: int = 300, limit: int = 1000) -> list[int]:
    """Deliveries stored a while ago and never processed (their task was lost)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
                .order_by("received_at").values_list("id", flat=True)[:limit])


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
