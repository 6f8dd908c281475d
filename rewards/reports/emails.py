"""The weekly report e-mail: last week's reports as XLSX, to the list in ReportSettings."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards.models import ReportSettings

from . import ReportParams, report_build
from .exports import report_filename, report_xlsx

logger = logging.getLogger(__name__)

WEEKLY_REPORTS = ("ambassador", "redemptions", "liability")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def last_week(today: date) -> tuple[date, date]:
    """Monday to Sunday of the week before the one holding `today` (UTC dates)."""
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def report_weekly_email_send(*, today: date | None = None) -> int:
    """Send last week's reports, one XLSX attachment each, in one message to the recipients
    set in ReportSettings. Reads only (but for report_build bringing the report rollups up to
    date); returns the number of messages sent (0 when no recipients are set). Beat runs it on
    Mondays; running it twice sends it twice (a resend is harmless, a missed week is not)."""
    recipients = ReportSettings.load().recipient_list()
    if not recipients:
        logger.info("weekly report e-mail: no recipients set in Report settings")
        return 0
    date_from, date_to = last_week(today or timezone.now().date())
    params = ReportParams(date_from=date_from, date_to=date_to, period="week")
    brand = getattr(settings, "KANSHA_BRAND_NAME", "Kansha")
    span = {"brand": brand, "start": f"{date_from:%Y-%m-%d}", "end": f"{date_to:%Y-%m-%d}"}
    # In the site's language (LANGUAGE_CODE), like the admin's defaults.
    message = EmailMessage(
        subject=_("%(brand)s: weekly reports %(start)s to %(end)s") % span,
        body=_("Attached: the ambassador program, redemption and liability reports for "
               "%(start)s to %(end)s (UTC), as spreadsheets.\n\n"
               "Amounts are in minor units of their currency (cents, yen) and are never "
               "added across currencies. The same reports, with filters and charts, are "
               "under Reports in the Kansha admin.\n") % span,
        to=recipients)
    for name in WEEKLY_REPORTS:
        report = report_build(name=name, params=params)
        message.attach(f"{report_filename(report)}.xlsx",
                       report_xlsx(report), XLSX)
    return message.send()
