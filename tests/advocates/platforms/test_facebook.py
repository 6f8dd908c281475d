"""Facebook Pages: the real client against a fake Graph API and signed feed webhooks."""

import time
import uuid

import pytest

from advocates.models import ConversationMessage, Mention, MessageKind, WebhookDelivery
from advocates.services import outreach_deliver
from advocates.services.conversations import conversation_reply
from advocates.services.platforms import brand_account_client, brand_account_poll
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.facebook_server import (
    PAGE_ID,
    FakeFacebook,
    feed_change,
    feed_delivery,
    messaging_delivery,
    messaging_event,
    sign,
    tagged_post,
)
from tests.roles import SOCIAL_STAFF, user_in_role

APP_SECRET = "fb-app-secret"


@pytest.fixture
def fake():
    with FakeFacebook() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("facebook", fake.url, {"access_token": "page-token",
                                          "app_secret": APP_SECRET, "verify_token": "v"},
                   handle="Kansha Coffee", platform_user_id=PAGE_ID)


def test_feed_webhook_signatures_and_mentions(deliver, account):
    url = f"/webhooks/facebook/{account.pk}/"
    body = feed_delivery(feed_change("comment", n=1), feed_change("status", n=2),
                         feed_change("comment", n=3, verb="edited"),
                         feed_change("post", n=4, from_id=PAGE_ID),
                         feed_change("reaction", n=5))
    stale = feed_delivery(feed_change("comment", n=9),
                          entry_time=int(time.time()) - 5 * 24 * 3600)

    assert deliver(url, body).status_code == 403
    assert deliver(url, body, headers={"X-Hub-Signature-256": sign(body, "wrong")}
                   ).status_code == 403
    assert deliver(url, stale, headers={"X-Hub-Signature-256": sign(stale, APP_SECRET)}
                   ).status_code == 400
    assert WebhookDelivery.objects.count() == 0

    ok = deliver(url, body, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)})
    assert ok.status_code == 200
    kinds = dict(Mention.objects.filter(platform="facebook").values_list("external_id", "kind"))
    assert kinds == {"3001_6001": "comment", f"{PAGE_ID}_3002": "post"}
    assert Mention.objects.get(external_id="3001_6001").in_reply_to == f"{PAGE_ID}_3001"
    again = deliver(url, body, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)})
    assert again.json()["stored"] is False
    assert WebhookDelivery.objects.count() == 1


def test_tagged_posts_are_polled_and_resume_after_a_restart(fake, account):
    fake.tagged = [tagged_post(n) for n in range(1, 6)]
    assert brand_account_poll(account_id=account.pk).created == 5
    call = fake.calls("GET", f"/{PAGE_ID}/tagged")[0]
    assert call.headers["authorization"] == "Bearer page-token"
    assert call.q("fields") == "id,message,created_time,from,permalink_url"
    fake.tagged += [tagged_post(n) for n in range(6, 66)]

    assert brand_account_poll(account_id=account.pk, max_pages=1).created == 50
    again = brand_account_poll(account_id=reloaded(account).pk)
    assert (again.created, again.duplicate) == (10, 0)
    mention = Mention.objects.get(external_id=tagged_post(1)["id"])
    assert (mention.kind, mention.author.handle) == ("tag", "Diner 1")
    assert reloaded(account).quota_remaining == 90  # from X-App-Usage: 10 % used


def test_comment_reply_is_posted_once(fake, account):
    client = brand_account_client(account)
    result = client.reply(in_reply_to="3001_6001", text="Thank you!", idempotency_key="k")
    fresh = brand_account_client(reloaded(account))
    again = fresh.reply(in_reply_to="3001_6001", text="Thank you!",
                        idempotency_key="k")
    posts = fake.calls("POST", "/3001_6001/comments")
    assert len(posts) == 1
    assert posts[0].form() == {"message": ["Thank you!"]}
    assert result.id == again.id == "3001_6001_1"


def test_messenger_dm(fake, account):
    result = brand_account_client(account).send_dm(recipient_id="771", text="Your code: ABC",
                                             idempotency_key="dm-1")
    assert fake.calls("POST", f"/{PAGE_ID}/messages")[0].json() == {
        "recipient": {"id": "771"}, "messaging_type": "RESPONSE",
        "message": {"text": "Your code: ABC"}}
    assert result.id == "m_abc123"


# --- Messenger: direct messages in (`messaging` webhook events) -------------------------------

def test_a_messenger_message_lands_in_the_senders_conversation_once(deliver, account, fake):
    url = f"/webhooks/facebook/{account.pk}/"
    body = messaging_delivery(
        messaging_event(1, text="My order never came"),
        messaging_event(2, sender=PAGE_ID, recipient="7100000000000001", echo=True),
        {"sender": {"id": "7100000000000001"}, "recipient": {"id": PAGE_ID},
         "timestamp": int(time.time() * 1000), "read": {"watermark": 1}},
        {"sender": {"id": "7100000000000002"}, "message": {"text": "no mid"}})

    assert deliver(url, body).status_code == 403
    assert deliver(url, body, headers={"X-Hub-Signature-256": sign(body, "wrong")}
                   ).status_code == 403
    ok = deliver(url, body, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)})
    assert ok.json()["stored"] is True
    again = deliver(url, body, headers={"X-Hub-Signature-256": sign(body, APP_SECRET)})
    assert again.json()["stored"] is False

    message = ConversationMessage.objects.get()
    assert (message.kind, message.platform, message.text, message.external_id) == (
        MessageKind.DM_IN, "facebook", "My order never came", "m_mid.0001")
    assert message.conversation.identity.platform_user_id == "7100000000000001"
    assert Mention.objects.count() == 0
    assert "direct message without a mid, a sender or a time" in \
        WebhookDelivery.objects.get().error

    # The same message in a later delivery (Meta retries) adds nothing.
    later = messaging_delivery(messaging_event(1, text="My order never came"),
                               messaging_event(3, text="Still nothing"))
    deliver(url, later, headers={"X-Hub-Signature-256": sign(later, APP_SECRET)})
    assert list(ConversationMessage.objects.order_by("at", "pk")
                .values_list("external_id", flat=True)) == ["m_mid.0001", "m_mid.0003"]

    staff = user_in_role(SOCIAL_STAFF, username="fb-dm-staff")
    dm = conversation_reply(conversation_id=message.conversation_id, user=staff,
                            text="So sorry, a refund is on its way.", channel="dm",
                            token=str(uuid.uuid4()))
    outreach_deliver(outreach_id=dm.pk)
    assert fake.calls("POST", f"/{PAGE_ID}/messages")[0].json()["recipient"] == {
        "id": "7100000000000001"}


def test_a_stale_messenger_delivery_is_refused(deliver, account):
    stale = messaging_delivery(messaging_event(1),
                               entry_time_ms=int((time.time() - 5 * 24 * 3600) * 1000))
    assert deliver(f"/webhooks/facebook/{account.pk}/", stale,
                   headers={"X-Hub-Signature-256": sign(stale, APP_SECRET)}).status_code == 400
    assert not ConversationMessage.objects.exists()
