"""Thin Celery tasks: take ids, call one service, retry only transient errors."""

from __future__ import annotations

import logging

from celery import shared_task

from advocates.signals import advocacy_recorded
from rewards import services
from rewards.services import disclosure
from rewards.signals import grant_code_revoked, grants_approved, stripe_event_stored
from rewards.stripe_client import StripeTransientError

logger = logging.getLogger(__name__)

# Each periodic run does a bounded amount of work, then re-enqueues itself while there is more.
MAX_CHAINED_BATCHES = 50


@shared_task(acks_late=True, reject_on_worker_lost=True)
def events_process(chain: int = 0) -> int:
    """Process one batch of advocacy events; re-enqueue while more are waiting."""
    result = services.events_process_batch()
    if (result.more and not result.busy) and chain < MAX_CHAINED_BATCHES:
        events_process.delay(chain + 1)
    return result.processed


@shared_task
def events_sweep() -> bool:
    """Beat (every ~10 s): start processing if unprocessed events exist (cheap check)."""
    if services.events_unprocessed_exist():
        events_process.delay()
        return True
    return False


@shared_task(acks_late=True, reject_on_worker_lost=True, bind=True,
             autoretry_for=(StripeTransientError,), retry_backoff=2, retry_backoff_max=300,
             retry_jitter=True, max_retries=8)
def grant_issue(self, grant_id: int) -> str:
    # A retry calls Stripe with the same grant id, hence the same idempotency key.
    return services.grant_issue(grant_id=grant_id).status


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(StripeTransientError,),
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=8)
def grant_code_deactivate(grant_id: int) -> bool:
    # Queued after a revocation commits; a retry sends the same idempotency key.
    return services.grant_code_deactivate(grant_id=grant_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def grants_issue(grant_ids: list[int]) -> int:
    """Issue a chunk of grants: one task per grant, so one Stripe failure retries alone and
    one grant that fails for good (set aside as a dead letter) does not stop the others."""
    queued = 0
    for grant_id in grant_ids:
        try:
            grant_issue.delay(grant_id)
        except Exception:  # eager mode runs the task here; anything else: the sweep re-queues
            logger.warning("grant %s: issuing failed", grant_id, exc_info=True)
            continue
        queued += 1
    return queued


@shared_task
def rewards_housekeeping() -> dict:
    """Beat (every minute): delivered messages, expired codes, lost issue tasks, Stripe codes
    of revoked grants still on (lapsed tiers and the ledger's rescan have their own beats)."""
    stale = services.grants_approved_stale_ids()
    if stale:
        grants_issue.delay(stale)
    revoked = services.grants_revoked_code_active_ids()
    for grant_id in revoked:
        grant_code_deactivate.delay(grant_id)
    return {
        "delivered": services.grants_mark_delivered(),
        "expired": services.grants_expire_due(),
        "messages": services.grants_message_missing(),
        "reissued": len(stale),
        "codes_switched_off": len(revoked),
    }


@shared_task
def tiers_demote_lapsed() -> int:
    return services.tiers_demote_lapsed()


@shared_task
def ledger_rescan() -> int:
    return services.ledger_rescan()


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(StripeTransientError,),
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=8)
def stripe_event_process(stripe_event_id: int) -> str:
    # A handler that reads from Stripe (an invoice's discounts) may hit a transient error;
    # the event stays unprocessed and is tried again (the sweep catches it after that).
    return services.stripe_event_process(stripe_event_id=stripe_event_id)


@shared_task
def stripe_events_sweep() -> int:
    """Re-enqueue stored webhook events that were never processed (a lost task)."""
    ids = services.stripe_events_unprocessed_ids()
    for pk in ids:
        stripe_event_process.delay(pk)
    return len(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(StripeTransientError,),
             retry_backoff=60, retry_backoff_max=3600, retry_jitter=True, max_retries=6)
def stripe_reconcile_daily() -> str:
    """Beat (daily): compare the last three UTC days with Stripe (reads only, so a retry
    after a transient Stripe error simply makes a new run)."""
    run = services.stripe_reconcile_recent(trigger="beat")
    return "skipped: Stripe is not configured" if run is None else f"#{run.pk}: {run.counts}"


from rewards.reports.tasks import (  # noqa: E402, F401  (reports queue)
    report_rollups_refresh,
    report_rollups_rescan,
    report_weekly_email,
)


@shared_task
def disclosures_check() -> dict:
    """Rewarded advocates' new posts: checked for #ad / #PR, reminders proposed."""
    return disclosure.disclosures_check()


def receivers_connect() -> None:
    """Queue the work services and `advocates` hand off by signal; called once from
    `RewardsConfig.ready`."""
    advocacy_recorded.connect(_advocacy_recorded, dispatch_uid="rewards.events_process")
    grants_approved.connect(_grants_approved, dispatch_uid="rewards.tasks.grants_approved")
    grant_code_revoked.connect(_grant_code_revoked, dispatch_uid="rewards.tasks.code_revoked")
    stripe_event_stored.connect(_stripe_event_stored, dispatch_uid="rewards.tasks.stripe_event")


def _advocacy_recorded(sender, **kwargs) -> None:
    """New advocacy was committed: process it now rather than at the next sweep (10 s).

    The ledger takes one batch at a time; a task that finds it busy does nothing, and the
    sweep (`events_sweep`) picks up whatever a running batch did not claim.
    """
    events_process.delay()


def _grants_approved(sender, *, grant_ids, **kwargs) -> None:
    grants_issue.delay(grant_ids)


def _grant_code_revoked(sender, *, grant_id, **kwargs) -> None:
    grant_code_deactivate.delay(grant_id)


def _stripe_event_stored(sender, *, stripe_event_id, **kwargs) -> None:
    stripe_event_process.delay(stripe_event_id)
