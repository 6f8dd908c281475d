"""Thin Celery tasks for the platform connectors (routed to the `ingest` queue by name)."""

from celery import shared_task
from django.db import DatabaseError

from advocates.platforms.base import RateLimited, TransientError
from advocates.services import platforms as services

RETRY_BACKOFF_MAX = 600


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def webhooks_process(self) -> int:
    """Claim and ingest stored webhook deliveries in batches (queued by the webhook view at
    most once at a time; see services.webhook_batch_schedule)."""
    try:
        return services.webhooks_process_pending().claimed
    except DatabaseError as exc:  # a deadlock or a lost connection: the batch rolled back
        raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8)
def webhook_process(self, delivery_id: int) -> int:
    """Parse one stored webhook delivery into mentions (platforms that fetch the content, and
    retries after a transient error)."""
    try:
        return services.webhook_process(delivery_id=delivery_id)
    except RateLimited as exc:
        raise self.retry(exc=exc, eta=exc.reset_at) from exc
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries * 10,
                                                RETRY_BACKOFF_MAX)) from exc


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def account_poll(self, account_id: int) -> dict:
    """Poll one connected account from its saved cursor."""
    try:
        return services.brand_account_poll(account_id=account_id).as_dict()
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries * 30,
                                                RETRY_BACKOFF_MAX)) from exc


@shared_task
def platforms_poll() -> int:
    """Beat entry `platforms-poll`: fan out one poll per active account whose quota allows it."""
    ids = services.brand_accounts_poll_due()
    for account_id in ids:
        account_poll.delay(account_id)
    return len(ids)


@shared_task
def webhooks_sweep() -> int:
    """Beat entry `webhooks-sweep`: re-enqueue stored webhook deliveries whose task was lost
    (a broker outage, a worker killed); how many tasks it queued."""
    batch_left, singles = services.webhook_unprocessed()
    if batch_left:
        webhooks_process.delay()
    for delivery_id in singles:
        webhook_process.delay(delivery_id)
    return int(batch_left) + len(singles)
