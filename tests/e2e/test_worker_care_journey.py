"""Care that closes, on real infrastructure (PostgreSQL, Redis, a real Celery worker) against a
fake X: a complaint arrives by signed webhook and becomes a care item in a conversation; staff
reply in public asking for a DM; the customer's DM arrives by webhook into the same
conversation; staff answer by DM; the conversation is resolved with its outcome."""

import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Group

from advocates import ratelimit
from advocates.models import (
    Conversation,
    MessageKind,
    Outreach,
    OutreachKind,
    OutreachStatus,
)
from advocates.services.conversations import conversation_reply, conversation_resolve
from advocates.services.platforms import brand_account_connect
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings
from tests.conftest import wait_for
from tests.fakes.x_server import BRAND, BRAND_ID, FakeX, dm_event, signed, tweet_event

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_data")]

SECRET = "x-consumer-secret"
CUSTOMER_ID, CUSTOMER = "2244994945", "fan_of_coffee"
KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _credentials_key(settings, monkeypatch):
    settings.KANSHA_CREDENTIALS_KEY = KEY
    monkeypatch.setenv("KANSHA_CREDENTIALS_KEY", KEY)  # the worker subprocess reads it


@pytest.fixture
def fake():
    with FakeX() as server:
        yield server


def _signed_post(client, url: str, payload: dict):
    body, signature = signed(payload, SECRET)
    response = client.post(url, body, content_type="application/json",
                           headers={"x-twitter-webhooks-signature": signature})
    assert response.status_code == 200, response.content
    return response


def test_an_x_complaint_is_answered_in_public_then_by_dm_and_resolved(
        celery_worker_process, client, fake, django_user_model):
    brand_settings()
    account = brand_account_connect(
        platform="x", name="brand", handle=f"@{BRAND}", platform_user_id=BRAND_ID,
        credentials={"consumer_secret": SECRET, "access_token": "access-1"},
        config={"base_url": fake.url})
    ratelimit.reset(account)
    staff = django_user_model.objects.create_user("sora", password="pw")
    staff.groups.add(Group.objects.get_or_create(name="Social staff")[0])
    url = f"/webhooks/x/{account.pk}/"

    # 1. The complaint arrives; the worker ingests, detects and routes it: a care item.
    _signed_post(client, url, tweet_event(
        "1870000000000000001", text=f"@{BRAND} my order was wrong and cold, terrible service. "
        "Charged twice too!"))
    care = wait_for(lambda: Outreach.objects.filter(kind=OutreachKind.CARE).first(), 60)
    assert care.status == OutreachStatus.PROPOSED
    assert care.sla_due_at == care.mention.posted_at + timedelta(minutes=60)  # from posting
    conversation = care.conversation
    assert conversation is not None
    assert conversation.platform == "x"

    # 2. Staff reply in public, asking for a DM; the worker posts it as a reply to the tweet.
    public = conversation_reply(
        conversation_id=conversation.pk, user=staff, channel="public", token=str(uuid.uuid4()),
        text="So sorry, @fan_of_coffee! Please DM us your order number and we'll fix it.")
    assert public.pk == care.pk  # the care item itself, approved with staff's words
    wait_for(lambda: Outreach.objects.filter(pk=care.pk, status=OutreachStatus.SENT).exists(),
             60)
    (tweet,) = fake.posted
    assert tweet["reply"] == {"in_reply_to_tweet_id": "1870000000000000001"}
    assert tweet["text"].startswith("So sorry")
    assert Conversation.objects.get(pk=conversation.pk).status == "waiting"

    # 3. The customer's DM arrives by webhook into the same conversation, which opens again.
    dm = dm_event(1, sender=CUSTOMER_ID, screen_name=CUSTOMER, text="Order 4411, thanks")
    _signed_post(client, url, dm)
    _signed_post(client, url, dm)  # X retries: nothing more is stored
    wait_for(lambda: conversation.messages.filter(kind=MessageKind.DM_IN).exists(), 60)
    assert Conversation.objects.get(pk=conversation.pk).status == "open"
    assert Conversation.objects.count() == 1

    # 4. Staff answer by DM; the worker sends it to X's DM endpoint, once.
    answer = conversation_reply(
        conversation_id=conversation.pk, user=staff, channel="dm", token=str(uuid.uuid4()),
        text="Thank you! We have refunded the second charge; a new latte is on us.")
    wait_for(lambda: Outreach.objects.filter(pk=answer.pk, status=OutreachStatus.SENT)
             .exists(), 60)
    answer.refresh_from_db()
    assert fake.dms == [{"id": answer.platform_result_id, "to": CUSTOMER_ID,
                         "text": "Thank you! We have refunded the second charge; a new "
                                 "latte is on us."}]
    assert answer.kind == OutreachKind.CARE
    assert answer.mention is None

    # 5. Resolved with its outcome.
    conversation_resolve(conversation_id=conversation.pk, user=staff, outcome="refunded")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.outcome, conversation.resolved_by) == (
        "resolved", "refunded", staff)
    thread = list(conversation.messages.values_list("kind", "text"))
    assert [kind for kind, _ in thread] == [MessageKind.MENTION, MessageKind.REPLY,
                                            MessageKind.DM_IN, MessageKind.DM_OUT,
                                            MessageKind.EVENT]
    assert thread[2][1] == "Order 4411, thanks"
    assert thread[-1][1] == "resolved: Refunded"
