"""Resolution SLAs per priority (Settings › Detector settings): a conversation is due to be
resolved the resolution SLA for its items' priority after the person posted; it is alerted
once when that is due soon and once when it is overdue (Slack and e-mail), never once it is
resolved; the settings refuse lines that are not "priority: minutes".

The clock is frozen the project's way: each sweep is given its `now`, and the posts carry
fixed posting times."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from advocates.models import CareAlert, Conversation, DetectorSettings, Outreach, OutreachKind
from advocates.services import outreach_approve, outreach_deliver
from advocates.services.care_alerts import care_alerts_send
from advocates.services.conversations import conversation_assign, conversation_resolve
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.fakes.platform_server import Reply
from tests.fakes.slack_server import PATH, FakeSlack
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

SEVERE = "@kanshacoffee food poisoning after your sandwich, terrible, I got sick"
MILD = "@kanshacoffee the latte was a bit cold today, disappointing"


@pytest.fixture
def slack():
    with FakeSlack() as server:
        yield server


def _care(n: int, text: str, posted: datetime, **overrides) -> Outreach:
    (mention,) = ingest_and_detect([item(n, text, posted_at=posted.isoformat(), **overrides)])
    return Outreach.objects.select_related("conversation").get(mention=mention,
                                                                kind=OutreachKind.CARE)


def _answered(care: Outreach) -> None:
    """Answer the item so only the resolution clock is left running."""
    staff = user_in_role(SOCIAL_STAFF, username=f"answerer{care.pk}")
    outreach_approve(outreach_id=care.pk, user=staff, final_text="So sorry! Please DM us.")
    outreach_deliver(outreach_id=care.pk)


def test_the_resolution_is_due_by_priority_from_the_posting_time():
    posted = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    brand_settings(resolution_sla_minutes=600)
    mild = _care(1, MILD, posted)
    threshold = mild.priority + 1
    brand_settings(resolution_sla_by_priority=f"{threshold}: 120")
    urgent = _care(2, SEVERE, posted)
    assert urgent.priority >= threshold

    assert mild.conversation.resolution_due_at == posted + timedelta(minutes=600)
    assert urgent.conversation.resolution_due_at == posted + timedelta(minutes=120)


def test_a_more_urgent_complaint_joining_brings_the_resolution_forward():
    posted = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    brand_settings(resolution_sla_minutes=600)
    mild = _care(3, MILD, posted, author_id="author-same")
    brand_settings(resolution_sla_by_priority=f"{mild.priority + 1}: 120")
    later = posted + timedelta(minutes=30)
    urgent = _care(4, SEVERE, later, author_id="author-same")
    assert urgent.conversation_id == mild.conversation_id

    conversation = Conversation.objects.get(pk=mild.conversation_id)
    assert conversation.resolution_due_at == later + timedelta(minutes=120)  # 11:30, not 19:00

    _care(5, MILD, later + timedelta(minutes=5), author_id="author-same")  # a milder one
    conversation.refresh_from_db()
    assert conversation.resolution_due_at == later + timedelta(minutes=120)  # stays


def test_an_unresolved_conversation_is_alerted_once_due_soon_and_once_overdue(slack):
    posted = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    brand_settings(care_sla_minutes=60, resolution_sla_minutes=240, care_alert_soon_minutes=15,
                   care_alert_email="care@kansha.example",
                   care_slack_webhook_url=slack.webhook_url)
    care = _care(6, MILD, posted)
    _answered(care)  # the first response went out: only the resolution is left
    due = posted + timedelta(minutes=240)
    assert care.conversation.resolution_due_at == due

    assert care_alerts_send(now=due - timedelta(minutes=20)).recorded == 0
    care_alerts_send(now=due - timedelta(minutes=10))
    care_alerts_send(now=due - timedelta(minutes=5))
    assert len(slack.messages) == len(mail.outbox) == 1
    assert slack.messages[0]["text"].startswith(
        f"*Resolution due soon: conversation #{care.conversation_id} with @fan_r6 on Sandbox*")
    assert "To be resolved within 10 minutes; assigned to nobody." in slack.messages[0]["text"]

    staff = user_in_role(SOCIAL_STAFF, username="hana", first_name="Hana", last_name="Mori")
    conversation_assign(conversation_id=care.conversation_id, user=staff, assignee=staff)
    for later in (1, 2, 90):
        care_alerts_send(now=due + timedelta(minutes=later))

    assert len(slack.messages) == len(mail.outbox) == 2
    breach = mail.outbox[1]
    assert breach.subject == (f"Resolution overdue: conversation #{care.conversation_id} "
                              "with @fan_r6 on Sandbox")
    assert breach.to == [staff.email]  # the assignee, not the care channel
    assert "Not resolved 1 minutes after it was due; assigned to Hana Mori." in breach.body
    assert f"/admin/conversations/{care.conversation_id}/" in breach.body
    assert set(CareAlert.objects.filter(conversation=care.conversation_id)
               .values_list("stage", "slack", "email")) == {
        ("resolution_due_soon", "sent", "sent"), ("resolution_breached", "sent", "sent")}
    assert not CareAlert.objects.filter(outreach=care).exists()  # answered in time


def test_no_resolution_alert_once_resolved_even_if_recorded_before(slack):
    posted = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    brand_settings(resolution_sla_minutes=120, care_alert_soon_minutes=0,
                   care_alert_email="", care_slack_webhook_url=slack.webhook_url)
    resolved, pending = _care(7, MILD, posted), _care(8, MILD, posted)
    _answered(resolved)
    _answered(pending)
    staff = user_in_role(SOCIAL_STAFF, username="kei")
    conversation_resolve(conversation_id=resolved.conversation_id, user=staff,
                         outcome="explained")

    slack.on("POST", PATH, Reply(503, "down"))  # recorded, not sent yet
    first = care_alerts_send(now=posted + timedelta(minutes=121))
    assert first.recorded == 1  # the resolved conversation is not even recorded
    conversation_resolve(conversation_id=pending.conversation_id, user=staff, outcome="fixed")
    slack.routes.pop(0)
    second = care_alerts_send(now=posted + timedelta(minutes=122))

    assert (second.cancelled, slack.messages) == (1, [])
    assert CareAlert.objects.get().cancelled_at is not None


def test_no_resolution_sla_when_it_is_off():
    brand_settings(resolution_sla_minutes=0)
    care = _care(9, MILD, datetime.now(UTC) - timedelta(days=3))
    assert care.conversation.resolution_due_at is None
    care_alerts_send()
    assert not CareAlert.objects.filter(conversation__isnull=False).exists()


def test_resolution_lines_fall_back_and_bad_lines_are_refused():
    prefs = DetectorSettings(resolution_sla_minutes=1440,
                             resolution_sla_by_priority="70: 240\n40: 480")
    assert [prefs.resolution_sla_minutes_for(priority=p) for p in (0, 39, 40, 69, 70, 100)] == [
        1440, 1440, 480, 480, 240, 240]
    prefs.resolution_sla_minutes = 0
    assert prefs.resolution_sla_minutes_for(priority=10) is None  # off below every line
    assert prefs.resolution_sla_minutes_for(priority=80) == 240
    prefs.resolution_sla_by_priority = "urgent: 60"  # saved around the form: the plain SLA
    assert prefs.resolution_sla_minutes_for(priority=90) is None

    with pytest.raises(ValidationError) as caught:
        DetectorSettings(resolution_sla_by_priority="high: 60").clean()
    assert "resolution_sla_by_priority" in caught.value.message_dict
    assert "priority: minutes" in caught.value.message_dict["resolution_sla_by_priority"][0]


def test_the_conversation_view_the_inbox_and_the_queue_show_the_resolution_due():
    brand_settings(resolution_sla_minutes=120)
    overdue = _care(10, MILD, datetime.now(UTC) - timedelta(hours=3))
    soon = _care(11, MILD, datetime.now(UTC) - timedelta(minutes=90))
    client = Client()
    client.force_login(user_in_role(SOCIAL_STAFF, username="viewer"))

    page = client.get(reverse("kansha_conversations:detail",
                              args=[overdue.conversation_id])).content.decode()
    assert 'data-resolution="overdue"' in page
    assert "Resolution overdue" in page
    due = overdue.conversation.resolution_due_at.strftime("%Y-%m-%d %H:%M")
    assert f"was due {due}" in page

    inbox = client.get(reverse("kansha_conversations:inbox")).content.decode()
    assert 'data-resolution="overdue"' in inbox
    assert 'data-resolution="due_soon"' in inbox

    queue = client.get(reverse("kansha_outreach:queue"), {"kind": "care"}).content.decode()
    assert queue.count('data-resolution="overdue"') == 1
    assert queue.count('data-resolution="due_soon"') == 1
    assert soon.conversation.resolution_due_at.strftime("resolve by %Y-%m-%d %H:%M") in queue
