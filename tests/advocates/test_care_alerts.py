"""SLA alerts: a care item that nobody answers gets one Slack message and one e-mail when it
is due soon and one of each when it is overdue, never more, and none once it is answered or
its conversation is resolved. The clock is frozen: each sweep is given its `now`."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from advocates.models import CareAlert, Outreach, OutreachKind
from advocates.services import outreach_approve, outreach_deliver
from advocates.services.care_alerts import care_alerts_send
from advocates.services.conversations import conversation_assign, conversation_resolve
from cms.celery import app as celery_app
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.fakes.platform_server import Reply
from tests.fakes.slack_server import PATH, FakeSlack
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

COMPLAINT = "@kanshacoffee my order was wrong and cold, terrible service"


@pytest.fixture
def slack():
    with FakeSlack() as server:
        yield server


@pytest.fixture(autouse=True)
def _brand(slack):
    brand_settings(care_sla_minutes=60, care_alert_soon_minutes=15,
                   care_alert_email="care@kansha.example",
                   care_slack_webhook_url=slack.webhook_url,
                   resolution_sla_minutes=0)  # first responses here; resolutions in
    # tests/advocates/test_resolution_sla.py


def _complaint(n: int, posted_at: datetime) -> Outreach:
    (mention,) = ingest_and_detect([item(n, COMPLAINT, posted_at=posted_at.isoformat())])
    return Outreach.objects.get(mention=mention, kind=OutreachKind.CARE)


def test_an_unanswered_complaint_alerts_once_when_due_soon_and_once_at_breach(slack):
    posted = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    care = _complaint(1, posted)
    due = posted + timedelta(minutes=60)
    assert care.sla_due_at == due  # from the posting time

    assert care_alerts_send(now=due - timedelta(minutes=20)).recorded == 0
    assert (slack.messages, mail.outbox) == ([], [])

    care_alerts_send(now=due - timedelta(minutes=10))
    care_alerts_send(now=due - timedelta(minutes=5))
    assert len(slack.messages) == len(mail.outbox) == 1
    assert slack.messages[0]["text"].startswith("*Due soon: Care #")
    assert "Due in 10 minutes; assigned to nobody." in slack.messages[0]["text"]

    at_breach = care_alerts_send(now=due + timedelta(seconds=30))
    assert (at_breach.slack, at_breach.emails) == (1, 1)
    for later in (2, 30, 600):
        care_alerts_send(now=due + timedelta(minutes=later))

    assert len(slack.messages) == len(mail.outbox) == 2
    breach_slack, breach_mail = slack.messages[1]["text"], mail.outbox[1]
    assert breach_slack.startswith(f"*Overdue: Care #{care.pk} for @fan_r1 on Sandbox*")
    assert COMPLAINT in breach_slack
    assert f"/admin/conversations/{care.conversation_id}/" in breach_slack
    assert breach_mail.subject == f"Overdue: Care #{care.pk} for @fan_r1 on Sandbox"
    assert breach_mail.to == ["care@kansha.example"]
    assert set(CareAlert.objects.values_list("stage", "slack", "email")) == {
        ("due_soon", "sent", "sent"), ("breached", "sent", "sent")}


def test_a_complaint_found_three_weeks_late_gets_only_the_overdue_alert(slack):
    posted = datetime.now(UTC) - timedelta(days=21)
    care = _complaint(2, posted)
    assert care.sla_due_at == care.mention.posted_at + timedelta(minutes=60)

    care_alerts_send()
    care_alerts_send()

    assert len(slack.messages) == len(mail.outbox) == 1
    assert slack.messages[0]["text"].startswith("*Overdue:")
    assert "Overdue by 30180 minutes" in slack.messages[0]["text"]


def test_no_alert_after_the_conversation_is_resolved_or_the_item_answered(slack):
    posted = datetime.now(UTC) - timedelta(minutes=5)
    resolved, answered = _complaint(3, posted), _complaint(4, posted)
    staff = user_in_role(SOCIAL_STAFF, username="kei")
    conversation_resolve(conversation_id=resolved.conversation_id, user=staff,
                         outcome="refunded")
    outreach_approve(outreach_id=answered.pk, user=staff, final_text="So sorry! DM us?")
    outreach_deliver(outreach_id=answered.pk)

    sweep = care_alerts_send(now=posted + timedelta(hours=2))

    assert sweep.recorded == 0
    assert (slack.messages, mail.outbox) == ([], [])


def test_an_item_resolved_between_recording_and_sending_is_not_alerted(slack):
    posted = datetime.now(UTC) - timedelta(minutes=5)
    care = _complaint(5, posted)
    slack.on("POST", PATH, Reply(503, "service unavailable"))  # Slack down for this sweep
    mail.outbox.clear()
    brand_settings(care_alert_email="")  # no e-mail channel either: all waits on Slack

    care_alerts_send(now=posted + timedelta(minutes=61))
    conversation_resolve(conversation_id=care.conversation_id,
                         user=user_in_role(SOCIAL_STAFF, username="mio"), outcome="fixed")
    slack.routes.pop(0)  # Slack is back
    sweep = care_alerts_send(now=posted + timedelta(minutes=62))

    assert sweep.cancelled == 1
    assert slack.messages == []
    assert CareAlert.objects.get().cancelled_at is not None


def test_slack_down_for_now_is_retried_without_a_second_email_and_a_revoked_hook_stops(slack):
    posted = datetime.now(UTC) - timedelta(minutes=5)
    first, second = _complaint(6, posted), _complaint(7, posted)
    staff = user_in_role(SOCIAL_STAFF, username="rin")  # rin@example.com
    conversation_assign(conversation_id=second.conversation_id, user=staff, assignee=staff)
    slack.once("POST", PATH, Reply(500, "oops"))

    care_alerts_send(now=posted + timedelta(minutes=61))
    care_alerts_send(now=posted + timedelta(minutes=62))

    assert len(slack.messages) == 2  # one failed once and went out at the next sweep
    assert sorted(m.to[0] for m in mail.outbox) == ["care@kansha.example", "rin@example.com"]
    assert "assigned to rin" in next(m.body for m in mail.outbox if m.to == ["rin@example.com"])

    slack.revoke()
    third = _complaint(8, posted)
    care_alerts_send(now=posted + timedelta(minutes=63))
    care_alerts_send(now=posted + timedelta(minutes=64))
    alert = CareAlert.objects.get(outreach=third)
    assert (alert.slack, alert.email) == ("failed", "sent")
    assert "404" in alert.last_error
    assert len(slack.calls("POST", PATH)) == 4  # the revoked hook was tried once
    assert first.pk != second.pk


def test_beat_runs_the_sweep_every_minute(settings, slack):
    entry = settings.CELERY_BEAT_SCHEDULE["care-alerts"]
    assert entry["schedule"] == 60.0
    _complaint(9, datetime.now(UTC) - timedelta(hours=2))

    sent = celery_app.tasks[entry["task"]].apply().get()

    assert sent == 2  # one Slack message, one e-mail
    assert celery_app.tasks[entry["task"]].apply().get() == 0
