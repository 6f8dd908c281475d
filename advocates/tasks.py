"""Thin Celery tasks: take ids, call one service, retry only transient errors."""

import time
from collections.abc import Sequence

from celery import shared_task

from advocates import services

DETECT_BATCH = 500


def mentions_detect_enqueue(mention_ids: Sequence[int]) -> None:
    """Queue detection for these mentions in batches (call after the rows are committed)."""
    ids = list(mention_ids)
    for start in range(0, len(ids), DETECT_BATCH):
        mentions_detect.delay(ids[start : start + DETECT_BATCH])


@shared_task(acks_late=True, reject_on_worker_lost=True)
def mentions_detect(mention_ids: list[int]) -> int:
    return services.mentions_detect(mention_ids=mention_ids)


@shared_task
def mentions_detect_sweep() -> int:
    """Re-enqueue mentions left undetected (e.g. the broker was down when they arrived)."""
    ids = services.mentions_undetected_ids()
    mentions_detect_enqueue(ids)
    return len(ids)


# Rate-limit waits in eager mode (the embedded demo) sleep in-process, capped so a long
# platform reset never blocks a web request for long.
EAGER_MAX_WAIT = 5.0


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def outreach_deliver(self, outreach_id: int) -> str:
    """Deliver one approved outreach; attempts are counted on the row, not by Celery."""
    from advocates.services.outreach import DeliveryDeferred

    while True:
        try:
            return services.outreach_deliver(outreach_id=outreach_id).status
        except DeliveryDeferred as deferred:
            if not self.request.is_eager:
                raise self.retry(countdown=deferred.countdown) from None
            # In-process (embedded demo, unit tests) there is no broker to hold the retry.
            time.sleep(min(deferred.countdown, EAGER_MAX_WAIT))


@shared_task
def outreach_unsnooze() -> int:
    """Snoozed outreach whose time has come goes back to the queue."""
    return services.outreach_unsnooze_due()


@shared_task
def outreach_deliver_sweep() -> int:
    """Re-enqueue approved outreach whose delivery task was lost (e.g. a broker outage)."""
    ids = services.outreach_stuck_ids()
    for outreach_id in ids:
        outreach_deliver.delay(outreach_id)
    return len(ids)
from advocates.platforms import tasks as platforms_tasks  # noqa: E402, F401  (autodiscovery)


@shared_task
def raw_payloads_purge() -> dict:
    """Retention: drop raw payloads older than KANSHA_RAW_RETENTION_DAYS (beat, every 6 h)."""
    from advocates.services.privacy import raw_payloads_purge as purge

    return purge()
