"""The reports' Celery task (named under rewards.tasks, so it routes to the reports queue)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="rewards.tasks.report_weekly_email", acks_late=True,
             reject_on_worker_lost=True)
def report_weekly_email() -> int:
    """Beat, Mondays: e-mail last week's reports to the ReportSettings list."""
    from .emails import report_weekly_email_send

    return report_weekly_email_send()
