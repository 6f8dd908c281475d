"""LINE Official Account: signed webhooks bring messages and follows into the person's
conversation; our answers go out by reply token while it is fresh, otherwise by push with
the outreach's idempotency key as LINE's retry key."""

import time
import uuid

import pytest

from advocates.models import (
    Conversation,
    ConversationMessage,
    MessageKind,
    Outreach,
    OutreachStatus,
    WebhookDelivery,
)
from advocates.services import outreach_deliver
from advocates.services.conversations import conversation_reply
from advocates.services.platforms import brand_account_client
from tests.fakes.line_server import (
    BOT_ID,
    USER_ID,
    FakeLine,
    follow_event,
    message_event,
    signature,
    webhook_body,
)
from tests.roles import SOCIAL_STAFF, user_in_role

SECRET = "line-channel-secret"


@pytest.fixture
def fake():
    with FakeLine() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("line", fake.url, {"channel_secret": SECRET, "access_token": "line-token"},
                   handle="@kansha", platform_user_id=BOT_ID)


@pytest.fixture
def url(account):
    return f"/webhooks/line/{account.pk}/"


def _signed(deliver, url, body: bytes, secret: str = SECRET):
    return deliver(url, body, HTTP_X_LINE_SIGNATURE=signature(secret, body))


def test_a_signed_webhook_is_accepted_and_a_bad_or_missing_signature_is_403(deliver, url):
    body = webhook_body(message_event(1))

    assert deliver(url, body).status_code == 403
    assert _signed(deliver, url, body, secret="not-the-secret").status_code == 403
    assert WebhookDelivery.objects.count() == 0

    assert _signed(deliver, url, body).status_code == 200
    message = ConversationMessage.objects.get(kind=MessageKind.DM_IN)
    assert (message.text, message.platform) == ("注文番号は4411です", "line")
    assert message.raw["reply_token"] == "reply-token-1"
    conversation = message.conversation
    assert conversation.identity.platform_user_id == USER_ID
    assert conversation.identity.display_name == "さくら"  # from the profile lookup


def test_the_consoles_empty_verify_request_is_accepted(deliver, url):
    assert _signed(deliver, url, webhook_body()).status_code == 200
    assert not ConversationMessage.objects.exists()


def test_a_stale_event_is_refused(deliver, url):
    old = message_event(2, timestamp_ms=int((time.time() - 3 * 24 * 3600) * 1000))
    assert _signed(deliver, url, webhook_body(old)).status_code == 400


def test_a_replay_or_a_redelivery_stores_one_message(deliver, url):
    first = webhook_body(message_event(3))
    again = webhook_body(message_event(3, redelivery=True))  # LINE marks its redeliveries

    assert _signed(deliver, url, first).json()["stored"] is True
    assert _signed(deliver, url, first).json()["stored"] is False
    assert _signed(deliver, url, again).json()["stored"] is False
    assert ConversationMessage.objects.filter(kind=MessageKind.DM_IN).count() == 1


def test_follow_and_unfollow_are_events_in_an_open_conversation_only(deliver, url):
    assert _signed(deliver, url, webhook_body(follow_event(1))).status_code == 200
    assert not Conversation.objects.exists()  # a new friend is not a case

    _signed(deliver, url, webhook_body(message_event(4)))
    _signed(deliver, url, webhook_body(follow_event(2, "unfollow")))

    kinds = list(Conversation.objects.get().messages.values_list("kind", "text"))
    assert kinds[0][0] == MessageKind.DM_IN
    assert kinds[1] == (MessageKind.EVENT, "unfollowed or blocked the account: direct "
                                           "messages will not reach them")


def _staff_reply(text: str) -> Outreach:
    staff = user_in_role(SOCIAL_STAFF, username=f"s{uuid.uuid4().hex[:6]}")
    return conversation_reply(conversation_id=Conversation.objects.get().pk, user=staff,
                              text=text, channel="dm", token=str(uuid.uuid4()))


def test_an_answer_within_the_window_uses_the_reply_token_once(deliver, url, fake):
    fake.valid_tokens.add("reply-token-5")
    _signed(deliver, url, webhook_body(message_event(5)))

    answer = _staff_reply("ご連絡ありがとうございます。確認いたします。")
    outreach_deliver(outreach_id=answer.pk)
    outreach_deliver(outreach_id=answer.pk)  # a duplicate task: nothing more is sent

    answer.refresh_from_db()
    assert answer.status == OutreachStatus.SENT
    assert [d["via"] for d in fake.delivered] == ["reply"]
    assert fake.delivered[0]["token"] == "reply-token-5"
    assert answer.platform_result_id == fake.delivered[0]["sentMessages"][0]["id"]
    assert not fake.calls("POST", "/v2/bot/message/push")


def test_an_expired_reply_token_falls_back_to_a_push_with_the_retry_key(deliver, url, fake):
    _signed(deliver, url, webhook_body(message_event(6)))  # its token is not valid any more

    answer = _staff_reply("お待たせしました。返金の手続きをいたしました。")
    outreach_deliver(outreach_id=answer.pk)

    assert [d["via"] for d in fake.delivered] == ["push"]
    push = fake.calls("POST", "/v2/bot/message/push")[0]
    assert push.headers["x-line-retry-key"] == str(answer.idempotency_key)
    assert push.json()["to"] == USER_ID


def test_a_retried_push_after_an_unclear_failure_is_not_sent_twice(deliver, url, fake,
                                                                    account):
    _signed(deliver, url, webhook_body(message_event(7,
            timestamp_ms=int((time.time() - 600) * 1000))))
    answer = _staff_reply("確認が取れました。")
    client = brand_account_client(account)

    first = client.send_dm(recipient_id=USER_ID, text="確認が取れました。",
                           idempotency_key=str(answer.idempotency_key))
    # The answer was lost on the way back: our ledger forgets it, LINE does not.
    client.state.ledger_put(str(answer.idempotency_key), {"action": "push", "pending": True})
    second = client.send_dm(recipient_id=USER_ID, text="確認が取れました。",
                            idempotency_key=str(answer.idempotency_key))

    assert len(fake.delivered) == 1
    assert len(fake.calls("POST", "/v2/bot/message/push")) == 2  # the second one got a 409
    assert first.id == second.id


def test_the_whole_dm_round_trip_lands_in_one_conversation(deliver, url, fake):
    _signed(deliver, url, webhook_body(message_event(8, text="Wi-Fiのパスワードが違います")))
    answer = _staff_reply("申し訳ございません。新しいパスワードをお送りします。")
    outreach_deliver(outreach_id=answer.pk)
    _signed(deliver, url, webhook_body(message_event(9, text="つながりました！")))

    conversation = Conversation.objects.get()
    assert list(conversation.messages.values_list("kind", flat=True)) == [
        MessageKind.DM_IN, MessageKind.DM_OUT, MessageKind.DM_IN]
    assert conversation.status == "open"  # the customer spoke last
