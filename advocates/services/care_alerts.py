"""SLA alerts for care items and answers: once when one is due soon, once when it is overdue;
and for a conversation's resolution: once when it is due soon, once when it is overdue.

An item needs an alert while nobody has responded: it is still proposed, snoozed, approved,
sending or failed (sent and rejected items are done; resolving a conversation rejects what
was pending in it, so no alert follows a resolution). Its due time is `Outreach.sla_due_at`,
counted from when the person posted.

`care_alerts_send` (beat, every minute) first records the alerts that became due as
`CareAlert` rows, one per item and stage (a unique constraint: a second sweep, or two at once,
record nothing more), then sends each recorded alert that still has a channel to send:
Slack (the incoming webhook in Settings › Detector settings) and e-mail (to the assignee, or
the care team's address). An item first seen already overdue gets only the overdue alert.

Sending happens outside any transaction: a sender claims the alert for a few minutes with a
conditional update (so two sweeps never send it both), re-checks that the item still waits,
then sends each pending channel and records it. A channel that fails for now stays pending
for the next sweep; one refused for good is recorded as failed with the reason. Slack's
incoming webhooks take no idempotency key, so a crash between Slack's answer and our record
can repeat that one Slack message at the next sweep; it never repeats otherwise.

Resolution alerts work the same way for an unresolved conversation whose
`Conversation.resolution_due_at` has come (or comes within `care_alert_soon_minutes`):
recorded as `CareAlert` rows on the conversation, sent to its assignee or the care team's
address and the Slack channel, cancelled if it is resolved before they go out, never
recorded once it is resolved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from advocates.models import (
    AlertChannelState,
    CareAlert,
    CareAlertStage,
    Conversation,
    ConversationStatus,
    DetectorSettings,
    Outreach,
    OutreachKind,
    OutreachStatus,
)
from advocates.platforms.base import PermanentError, TransientError
from advocates.slack import slack_post

logger = logging.getLogger(__name__)

CARE_KINDS = (OutreachKind.CARE, OutreachKind.ANSWER)
# Nobody has responded yet: these still owe the person a first response.
WAITING = (OutreachStatus.PROPOSED, OutreachStatus.SNOOZED, OutreachStatus.APPROVED,
           OutreachStatus.SENDING, OutreachStatus.FAILED)
CLAIM = timedelta(minutes=5)
BATCH = 500
CS = AlertChannelState


@dataclass(frozen=True)
class AlertSent:
    slack: bool = False
    email: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class AlertsSent:
    recorded: int  # new alerts (item × stage) recorded this sweep
    slack: int  # Slack messages sent
    emails: int  # e-mails sent
    cancelled: int  # alerts dropped because the item was answered or withdrawn meanwhile


def care_alerts_record(*, now: datetime) -> int:
    """Record the alerts that became due: overdue items, and items due within the settings'
    `care_alert_soon_minutes` that were not overdue yet. Returns how many are new."""
    config = DetectorSettings.load()
    waiting = Outreach.objects.filter(kind__in=CARE_KINDS, status__in=WAITING,
                                      sla_due_at__isnull=False)
    stages = [(CareAlertStage.BREACHED, Q(sla_due_at__lte=now))]
    if config.care_alert_soon_minutes:
        soon = now + timedelta(minutes=config.care_alert_soon_minutes)
        stages.append((CareAlertStage.DUE_SOON, Q(sla_due_at__gt=now, sla_due_at__lte=soon)))
    slack = CS.PENDING if config.care_slack_webhook_url else CS.SKIPPED
    new = 0
    for stage, due in stages:
        ids = list(waiting.filter(due).exclude(alerts__stage=stage)
                   .order_by("sla_due_at").values_list("id", flat=True)[:BATCH])
        CareAlert.objects.bulk_create(
            [CareAlert(outreach_id=pk, stage=stage, created_at=now, slack=slack)
             for pk in ids], ignore_conflicts=True)  # a concurrent sweep's row wins
        new += len(ids)
    return new + _resolution_alerts_record(config=config, now=now, slack=slack)


def _resolution_alerts_record(*, config: DetectorSettings, now: datetime, slack: str) -> int:
    """The resolution stages, for unresolved conversations with a resolution due time."""
    unresolved = Conversation.objects.exclude(status=ConversationStatus.RESOLVED).filter(
        resolution_due_at__isnull=False)
    stages = [(CareAlertStage.RESOLUTION_BREACHED, Q(resolution_due_at__lte=now))]
    if config.care_alert_soon_minutes:
        soon = now + timedelta(minutes=config.care_alert_soon_minutes)
        stages.append((CareAlertStage.RESOLUTION_DUE_SOON,
                       Q(resolution_due_at__gt=now, resolution_due_at__lte=soon)))
    new = 0
    for stage, due in stages:
        ids = list(unresolved.filter(due).exclude(alerts__stage=stage)
                   .order_by("resolution_due_at").values_list("id", flat=True)[:BATCH])
        CareAlert.objects.bulk_create(
            [CareAlert(conversation_id=pk, stage=stage, created_at=now, slack=slack)
             for pk in ids], ignore_conflicts=True)
        new += len(ids)
    return new


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else _("nobody")


def _text(alert: CareAlert, *, now: datetime) -> tuple[str, str]:
    """(subject, body) of the alert, in the site's language."""
    if alert.conversation is not None:
        return _resolution_text(alert.conversation, stage=alert.stage, now=now)
    item = alert.outreach
    if item is None:  # the table's check constraint: one of the two is set
        raise ValueError(f"care alert #{alert.pk} names neither an item nor a conversation")
    who = item.identity.handle or item.identity.display_name or item.identity.platform_user_id
    due = item.sla_due_at or now  # recorded only for items with a due time
    minutes = abs(int((now - due).total_seconds() // 60))
    words = {"kind": item.get_kind_display(), "id": item.pk, "who": who,
             "platform": item.get_platform_display(), "minutes": minutes,
             "assignee": _name(item.assignee)}
    if alert.stage == CareAlertStage.BREACHED:
        subject = _("Overdue: %(kind)s #%(id)s for %(who)s on %(platform)s") % words
        lead = _("Overdue by %(minutes)s minutes; assigned to %(assignee)s.") % words
    else:
        subject = _("Due soon: %(kind)s #%(id)s for %(who)s on %(platform)s") % words
        lead = _("Due in %(minutes)s minutes; assigned to %(assignee)s.") % words
    said = (item.mention.text if item.mention else "")[:300]
    path = reverse("kansha_conversations:detail", args=[item.conversation_id]) \
        if item.conversation_id else reverse("kansha_outreach:queue")
    url = settings.WAGTAILADMIN_BASE_URL.rstrip("/") + path
    body = "\n".join(line for line in (lead, f"“{said}”" if said else "", url) if line)
    return subject, body


def _resolution_text(conversation: Conversation, *, stage: str,
                     now: datetime) -> tuple[str, str]:
    identity = conversation.identity
    due = conversation.resolution_due_at or now  # recorded only with a due time
    words = {"id": conversation.pk,
             "who": identity.handle or identity.display_name or identity.platform_user_id,
             "platform": conversation.get_platform_display(),
             "minutes": abs(int((now - due).total_seconds() // 60)),
             "assignee": _name(conversation.assignee)}
    if stage == CareAlertStage.RESOLUTION_BREACHED:
        subject = _("Resolution overdue: conversation #%(id)s with %(who)s on %(platform)s") \
            % words
        lead = _("Not resolved %(minutes)s minutes after it was due; assigned to "
                 "%(assignee)s.") % words
    else:
        subject = _("Resolution due soon: conversation #%(id)s with %(who)s on %(platform)s") \
            % words
        lead = _("To be resolved within %(minutes)s minutes; assigned to %(assignee)s.") \
            % words
    url = settings.WAGTAILADMIN_BASE_URL.rstrip("/") + reverse(
        "kansha_conversations:detail", args=[conversation.pk])
    return subject, f"{lead}\n{url}"


def _still_due(alert: CareAlert) -> bool:
    """Whether what the alert is about still waits: the item unanswered, or the conversation
    unresolved."""
    if alert.conversation is not None:
        return alert.conversation.status != ConversationStatus.RESOLVED
    return alert.outreach is not None and alert.outreach.status in WAITING


def care_alert_send(*, alert_id: int, now: datetime | None = None) -> AlertSent | None:
    """Send one recorded alert's pending channels; say what went out. Returns None when
    another sender holds it or nothing is left to send."""
    now = now or timezone.now()
    claimed = CareAlert.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), pk=alert_id,
        cancelled_at__isnull=True).filter(Q(slack=CS.PENDING) | Q(email=CS.PENDING)).update(
            claimed_until=now + CLAIM)
    if not claimed:
        return None
    alert = CareAlert.objects.select_related(
        "outreach__identity", "outreach__assignee", "outreach__mention",
        "conversation__identity", "conversation__assignee").get(pk=alert_id)
    if not _still_due(alert):  # answered, withdrawn or resolved since it was recorded
        CareAlert.objects.filter(pk=alert_id).update(cancelled_at=now, claimed_until=None)
        return AlertSent(cancelled=True)
    config = DetectorSettings.load()
    with override(settings.LANGUAGE_CODE):
        subject, body = _text(alert, now=now)
    errors: list[str] = []
    updates: dict[str, object] = {"claimed_until": None, "attempts": alert.attempts + 1}
    if alert.slack == CS.PENDING:
        state = _deliver(lambda: slack_post(url=config.care_slack_webhook_url,
                                            text=f"*{subject}*\n{body}"), errors, "Slack")
        updates["slack"] = state
        if state == CS.SENT:
            updates["slack_sent_at"] = now
    if alert.email == CS.PENDING:
        owner = alert.conversation if alert.conversation is not None else alert.outreach
        assignee = owner.assignee if owner is not None else None
        to = (assignee.email if assignee and assignee.email else "") or config.care_alert_email
        if not to:
            updates["email"] = CS.SKIPPED
        else:
            state = _deliver(lambda: _email(to=to, subject=subject, body=body), errors,
                             "e-mail")
            updates["email"], updates["email_to"] = state, to
            if state == CS.SENT:
                updates["email_sent_at"] = now
    updates["last_error"] = "; ".join(errors)[:2000]
    CareAlert.objects.filter(pk=alert_id).update(**updates)
    return AlertSent(slack="slack_sent_at" in updates, email="email_sent_at" in updates)


def _email(*, to: str, subject: str, body: str) -> None:
    try:
        EmailMessage(subject=subject, body=body, to=[to]).send()
    except OSError as exc:  # SMTP down, refused connection: try again next sweep
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc


def _deliver(send, errors: list[str], channel: str) -> str:
    try:
        send()
    except TransientError as exc:
        errors.append(f"{channel}: {exc}")
        return CS.PENDING
    except PermanentError as exc:
        errors.append(f"{channel}: {exc}")
        logger.warning("care alert %s refused: %s", channel, exc)
        return CS.FAILED
    return CS.SENT


def care_alerts_send(*, now: datetime | None = None) -> AlertsSent:
    """The sweep: record the alerts that became due, then send every alert still pending."""
    now = now or timezone.now()
    recorded = care_alerts_record(now=now)
    slack = emails = cancelled = 0
    pending = (CareAlert.objects.filter(cancelled_at__isnull=True)
               .filter(Q(slack=CS.PENDING) | Q(email=CS.PENDING))
               .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
               .order_by("created_at", "pk").values_list("pk", flat=True)[:BATCH])
    for alert_id in list(pending):
        sent = care_alert_send(alert_id=alert_id, now=now)
        if sent is not None:
            slack, emails, cancelled = (slack + sent.slack, emails + sent.email,
                                        cancelled + sent.cancelled)
    return AlertsSent(recorded=recorded, slack=slack, emails=emails, cancelled=cancelled)
