"""Snoozing a whole conversation: its pending care items are snoozed as long, they come back
when due, and the customer's next message wakes the conversation."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates.models import Conversation, Outreach, OutreachKind, OutreachStatus
from advocates.services import outreach_unsnooze_due
from advocates.services.conversations import conversation_snooze
from advocates.services.threads import conversation_message_receive
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]


def _complaint() -> Outreach:
    brand_settings()
    posted = datetime.now(UTC) - timedelta(minutes=2)
    (mention,) = ingest_and_detect([item(
        1, "@kanshacoffee my order was wrong and cold, terrible service",
        posted_at=posted.isoformat())])
    return Outreach.objects.get(mention=mention, kind=OutreachKind.CARE)


def test_snoozing_a_conversation_snoozes_its_care_items_until_then():
    care = _complaint()
    staff = user_in_role(SOCIAL_STAFF)
    until = timezone.now() + timedelta(hours=4)

    conversation = conversation_snooze(conversation_id=care.conversation_id, user=staff,
                                       until=until)

    care.refresh_from_db()
    assert (care.status, care.snoozed_until) == (OutreachStatus.SNOOZED, until)
    assert conversation.snoozed_until == until
    assert conversation.messages.filter(raw__action="snoozed").count() == 1
    assert outreach_unsnooze_due(now=until + timedelta(seconds=1)) == 1
    care.refresh_from_db()
    assert care.status == OutreachStatus.PROPOSED

    with pytest.raises(ValidationError):
        conversation_snooze(conversation_id=care.conversation_id, user=staff,
                            until=timezone.now() - timedelta(minutes=1))


def test_the_customers_next_message_wakes_it_and_the_admin_snoozes_by_hours():
    care = _complaint()
    staff = user_in_role(SOCIAL_STAFF)
    client = Client()
    client.force_login(staff)

    client.post(reverse("kansha_conversations:snooze", args=[care.conversation_id]),
                {"hours": "24"})
    conversation = Conversation.objects.get(pk=care.conversation_id)
    assert conversation.snoozed_until > timezone.now() + timedelta(hours=23)
    page = client.get(reverse("kansha_conversations:detail", args=[conversation.pk]))
    assert "Snoozed until" in page.content.decode()

    conversation_message_receive(identity=conversation.identity, external_id="dm-1",
                                 text="hello?", at=timezone.now(), raw={},
                                 now=timezone.now())
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
