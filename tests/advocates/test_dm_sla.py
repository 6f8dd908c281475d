"""A conversation that starts with a direct message (no public post) has SLAs like a
complaint: a care item for the message, due the care SLA for its priority after the
message's platform time, and a resolution due from the same moment. It counts in the menu's
overdue badge, is alerted like a complaint, and a direct-message reply answers it.

The clock is frozen the project's way: the messages carry fixed platform times and each
sweep or count is given its `now`."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from advocates import selectors
from advocates.models import (
    Advocate,
    Conversation,
    Outreach,
    OutreachKind,
    OutreachStatus,
)
from advocates.platforms.base import MessageIn
from advocates.routing_rules import message_priority
from advocates.services import outreach_deliver
from advocates.services.care_alerts import care_alerts_send
from advocates.services.conversations import conversation_reply
from advocates.services.threads import messages_receive
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.fakes.slack_server import FakeSlack
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

SENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the DM's platform time


@pytest.fixture
def slack():
    with FakeSlack() as server:
        yield server


def _dm(n: int, text: str = "Hi, my order never arrived. Can you help?", *,
        at: datetime = SENT, author: str = "") -> Conversation:
    messages_receive(platform="sandbox", messages=[MessageIn(
        external_id=f"dm-sla-{n}", author_id=author or f"dm-author-{n}", sent_at=at,
        text=text, author_handle=f"@dm_fan{n}", author_name=f"Rei {n}")])
    return Conversation.objects.get(messages__external_id=f"dm-sla-{n}")


def test_a_dm_started_conversation_is_due_from_the_message_time_by_priority():
    brand_settings(care_sla_minutes=60, resolution_sla_minutes=1440)
    quiet = _dm(1)
    priority = message_priority("Hi, my order never arrived. Can you help?", None)
    brand_settings(care_sla_by_priority=f"{priority + 1}: 15",
                   resolution_sla_by_priority=f"{priority + 1}: 240")
    urgent = _dm(2, "I got food poisoning from your sandwich")  # a severe cue: higher priority

    care = Outreach.objects.get(conversation=quiet)
    assert (care.kind, care.mention_id, care.status) == (OutreachKind.CARE, None, "proposed")
    assert care.priority == priority
    assert care.sla_due_at == SENT + timedelta(minutes=60)  # from the DM, not from now
    assert quiet.resolution_due_at == SENT + timedelta(minutes=1440)
    assert "care: direct message" in care.reasons[0]

    severe = Outreach.objects.get(conversation=urgent)
    assert severe.priority > priority
    assert severe.sla_due_at == SENT + timedelta(minutes=15)
    assert urgent.resolution_due_at == SENT + timedelta(minutes=240)


def test_a_redelivered_dm_and_a_dm_in_an_open_case_start_no_second_clock():
    brand_settings(care_sla_minutes=60)
    _dm(3)
    _dm(3)  # the webhook delivered again
    assert Outreach.objects.filter(kind=OutreachKind.CARE, mention__isnull=True).count() == 1

    (mention,) = ingest_and_detect([item(
        4, "@kanshacoffee my order was wrong and cold, terrible service",
        author_id="dm-author-5")])
    complaint = Outreach.objects.get(mention=mention)
    _dm(5, at=SENT + timedelta(minutes=3))  # their DM joins the complaint's conversation
    assert list(Outreach.objects.filter(conversation=complaint.conversation_id)) == [complaint]


def test_an_overdue_dm_counts_in_the_badge_and_is_alerted_once(slack):
    brand_settings(care_sla_minutes=60, resolution_sla_minutes=0, care_alert_soon_minutes=0,
                   care_alert_email="care@kansha.example",
                   care_slack_webhook_url=slack.webhook_url)
    conversation = _dm(6)
    due = SENT + timedelta(minutes=60)

    assert selectors.care_overdue_count(now=due - timedelta(minutes=1)) == 0
    assert selectors.care_overdue_count(now=due + timedelta(minutes=1)) == 1
    care_alerts_send(now=due + timedelta(minutes=1))
    care_alerts_send(now=due + timedelta(minutes=2))

    care = Outreach.objects.get(conversation=conversation)
    assert len(slack.messages) == len(mail.outbox) == 1
    assert mail.outbox[0].subject == f"Overdue: Care #{care.pk} for @dm_fan6 on Sandbox"
    assert mail.outbox[0].to == ["care@kansha.example"]
    assert f"/admin/conversations/{conversation.pk}/" in mail.outbox[0].body


def test_a_dm_reply_answers_the_dm_care_item_and_stops_its_alerts(slack):
    brand_settings(care_sla_minutes=60, resolution_sla_minutes=0, care_alert_soon_minutes=0,
                   care_slack_webhook_url=slack.webhook_url, care_alert_email="")
    conversation = _dm(7, at=datetime.now(UTC) - timedelta(minutes=5))
    staff = user_in_role(SOCIAL_STAFF, username="aoi")

    reply = conversation_reply(conversation_id=conversation.pk, user=staff,
                               text="Sorry! Sending a new one today.", channel="dm",
                               token=str(uuid.uuid4()))
    outreach_deliver(outreach_id=reply.pk)

    care = Outreach.objects.get(conversation=conversation, kind=OutreachKind.CARE)
    assert care.pk == reply.pk  # taken over, not a second row beside a stale proposal
    assert care.status == OutreachStatus.SENT
    assert care_alerts_send(now=datetime.now(UTC) + timedelta(hours=2)).recorded == 0
    assert slack.messages == []


def test_an_opted_out_sender_gets_a_conversation_but_no_care_item():
    brand_settings(care_sla_minutes=60, resolution_sla_minutes=600)
    _dm(8)
    advocate = Advocate.objects.get(identities__platform_user_id="dm-author-8")
    Advocate.objects.filter(pk=advocate.pk).update(opted_out_at=SENT)
    Conversation.objects.filter(advocate=advocate).update(status="resolved", outcome="fixed")

    again = _dm(9, author="dm-author-8", at=SENT + timedelta(days=1))
    assert not Outreach.objects.filter(conversation=again).exists()
    assert again.resolution_due_at == SENT + timedelta(days=1, minutes=600)


def test_the_queue_shows_the_dm_care_item_with_a_way_to_its_conversation(client):
    brand_settings(care_sla_minutes=60)
    conversation = _dm(10, at=datetime.now(UTC) - timedelta(minutes=90))
    client.force_login(user_in_role(SOCIAL_STAFF, username="queue-viewer"))

    html = client.get(reverse("kansha_outreach:queue"), {"kind": "care"}).content.decode()

    assert "A direct message: read it and answer it in the conversation." in html
    assert reverse("kansha_conversations:detail", args=[conversation.pk]) in html
    assert "kq-sla--overdue" in html
