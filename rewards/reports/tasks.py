"""The reports' Celery tasks (named under rewards.tasks, so they route to the reports queue)."""

from __future__ import annotations

from celery import shared_task

from .emails import report_weekly_email_send
from .rollups import MARGIN, RESCAN_MARGIN, rollups_refresh


@shared_task(name="rewards.tasks.report_weekly_email", acks_late=True,
             reject_on_worker_lost=True)
def report_weekly_email() -> int:
    """Beat, Mondays: e-mail last week's reports to the ReportSettings list."""
    return report_weekly_email_send()


@shared_task(name="rewards.tasks.report_rollups_refresh")
def report_rollups_refresh() -> int:
    """Beat, every minute: recount what changed (looking back MARGIN, for transactions that
    committed after a report's refresh had looked), so a report has little left to do."""
    return rollups_refresh(margin=MARGIN).periods


@shared_task(name="rewards.tasks.report_rollups_rescan")
def report_rollups_rescan() -> int:
    """Beat, daily: recount everything changed in the last day (a change that committed more
    than MARGIN after its timestamp is found here)."""
    return rollups_refresh(margin=RESCAN_MARGIN).periods
