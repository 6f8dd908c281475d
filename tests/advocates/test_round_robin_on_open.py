"""A conversation that opens (a care item, an answer or a direct message) is given at once,
round-robin, to the staff member on shift who waited longest, with an event line in its
thread; nobody on shift leaves it unassigned and its alerts go to the care channel.

The hand-off runs after commit (signal `conversations_opened` → task `conversations_assign`,
in-process in the tests), so each step runs its on-commit callbacks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from advocates.models import Conversation, MessageKind, Outreach
from advocates.platforms.base import MessageIn
from advocates.services.care_alerts import care_alerts_send
from advocates.services.conversations import care_shift_set, conversation_assign
from advocates.services.threads import messages_receive
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

COMPLAINT = "@kanshacoffee my order was wrong and cold, terrible service"


def _dm(n: int) -> Conversation:
    messages_receive(platform="sandbox", messages=[MessageIn(
        external_id=f"rr-dm-{n}", author_id=f"rr-dm-author-{n}",
        sent_at=datetime.now(UTC) - timedelta(minutes=1), text="Where is my order?",
        author_handle=f"@rr_dm{n}")])
    return Conversation.objects.get(messages__external_id=f"rr-dm-{n}")


def _complaints(*numbers: int) -> list[Conversation]:
    mentions = ingest_and_detect([item(n, COMPLAINT) for n in numbers])
    return [Outreach.objects.get(mention=m).conversation for m in mentions]


def test_three_conversations_opening_go_to_a_then_b_then_a(django_capture_on_commit_callbacks):
    brand_settings()
    ann, ben = (user_in_role(SOCIAL_STAFF, username=n) for n in ("ann", "ben"))
    care_shift_set(user=ann, on_shift=True)
    care_shift_set(user=ben, on_shift=True)
    user_in_role(SOCIAL_STAFF, username="cai")  # never on shift

    with django_capture_on_commit_callbacks(execute=True):
        (first,) = _complaints(1)
    with django_capture_on_commit_callbacks(execute=True):
        (second,) = _complaints(2)
    with django_capture_on_commit_callbacks(execute=True):
        third = _dm(3)  # a direct message opens the third

    given = [Conversation.objects.get(pk=c.pk).assignee.username
             for c in (first, second, third)]
    assert given == ["ann", "ben", "ann"]
    event = first.messages.get(kind=MessageKind.EVENT)
    assert (event.text, event.author, event.raw["via"]) == (
        "assigned to ann (round-robin when it opened)", None, "round-robin when it opened")
    # the pending care item follows its conversation (the queue's "assigned to me")
    assert Outreach.objects.get(conversation=third).assignee == ann

    with django_capture_on_commit_callbacks(execute=True):
        batch = _complaints(10, 11, 12)  # one routing batch opens three: oldest first
    assert [Conversation.objects.get(pk=c.pk).assignee.username
            for c in sorted(batch, key=lambda c: c.pk)] == ["ben", "ann", "ben"]


def test_joining_an_open_conversation_or_one_assigned_meanwhile_uses_no_turn(
        django_capture_on_commit_callbacks):
    brand_settings()
    ann, ben = (user_in_role(SOCIAL_STAFF, username=n) for n in ("ann2", "ben2"))
    care_shift_set(user=ann, on_shift=True)
    care_shift_set(user=ben, on_shift=True)

    with django_capture_on_commit_callbacks(execute=True):
        (conversation,) = _complaints(4)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_and_detect([item(5, COMPLAINT + " still waiting", author_id="author-r4")])
    conversation.refresh_from_db()
    assert conversation.assignee == ann
    assert conversation.messages.filter(kind=MessageKind.EVENT).count() == 1

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        (other,) = _complaints(6)
        conversation_assign(conversation_id=other.pk, user=ann, assignee=ann)  # by hand
    assert len(callbacks) == 1
    other.refresh_from_db()
    assert other.assignee == ann  # left as it was
    with django_capture_on_commit_callbacks(execute=True):
        (third,) = _complaints(7)
    third.refresh_from_db()
    assert third.assignee == ben  # ben's turn was not used up


def test_nobody_on_shift_leaves_it_unassigned_and_alerts_go_to_the_care_channel(
        django_capture_on_commit_callbacks):
    brand_settings(care_sla_minutes=60, care_alert_soon_minutes=0, resolution_sla_minutes=0,
                   care_alert_email="care@kansha.example", care_slack_webhook_url="")
    ann = user_in_role(SOCIAL_STAFF, username="ann3")
    care_shift_set(user=ann, on_shift=False)

    with django_capture_on_commit_callbacks(execute=True):
        (conversation,) = _complaints(8)
    with django_capture_on_commit_callbacks(execute=True):
        dm = _dm(9)

    for opened in (conversation, dm):
        opened.refresh_from_db()
        assert opened.assignee is None
        assert not opened.messages.filter(kind=MessageKind.EVENT).exists()
    care_alerts_send(now=datetime.now(UTC) + timedelta(hours=2))
    assert {m.to[0] for m in mail.outbox} == {"care@kansha.example"}
    assert len(mail.outbox) == 2
