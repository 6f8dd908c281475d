"""The operator's own periodic task: the heartbeat /readyz reads (cms/health.py)."""

from celery import shared_task

from cms.health import heartbeat_record


@shared_task(ignore_result=True, expires=60)
def heartbeat() -> None:
    """Beat sends this every 30 s; the worker that runs it stamps the time."""
    heartbeat_record()
