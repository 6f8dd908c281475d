"""Mastodon: the real client against a fake instance serving the documented payloads."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from advocates.models import (
    BrandAccount,
    ConversationMessage,
    Mention,
    MessageKind,
    SocialIdentity,
)
from advocates.platforms.base import PermanentError
from advocates.services import outreach_deliver
from advocates.services.conversations import conversation_reply
from advocates.services.platforms import brand_account_client, brand_account_poll
from advocates.services.streams import stream_consume
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.mastodon_server import BRAND_ID, FakeMastodon, notification
from tests.fakes.platform_server import Reply
from tests.roles import SOCIAL_STAFF, user_in_role


@pytest.fixture
def fake():
    with FakeMastodon() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("mastodon", fake.url, {"access_token": "masto-token"},
                   handle="@kansha@social.example", platform_user_id=BRAND_ID)


def test_mention_notifications_become_mentions_with_identities(fake, account):
    fake.notifications = [notification(1), notification(2, reply_to="112999"),
                          notification(3, kind="favourite")]

    assert brand_account_poll(account_id=account.pk).created == 2

    call = fake.calls("GET", "/api/v1/notifications")[0]
    assert call.query["types[]"] == ["mention"]
    assert call.headers["authorization"] == "Bearer masto-token"
    mention = Mention.objects.get(platform="mastodon", external_id="113002")
    assert mention.text == "@kansha Lovely beans & service #2"
    assert (mention.kind, mention.in_reply_to) == ("reply", "112999")
    identity = SocialIdentity.objects.get(platform="mastodon")
    assert (identity.handle, identity.follower_count) == ("@fan1@remote.example", 41)
    assert reloaded(account).cursor["poll"] == {"min_id": "502"}


def test_polling_resumes_from_min_id_after_a_restart_without_gaps_or_duplicates(fake, account):
    fake.notifications = [notification(1)]
    brand_account_poll(account_id=account.pk)
    fake.notifications += [notification(n) for n in range(2, 102)]  # 100 new: 3 pages of 40

    first = brand_account_poll(account_id=account.pk, max_pages=1)  # then the process dies
    assert first.created == 40
    assert reloaded(account).cursor["poll"] == {"min_id": "541"}

    second = brand_account_poll(account_id=reloaded(account).pk)
    assert (second.created, second.duplicate) == (60, 0)
    min_ids = [c.q("min_id") for c in fake.calls("GET", "/api/v1/notifications")]
    assert min_ids == [None, "501", "541", "581"]
    assert Mention.objects.filter(platform="mastodon").count() == 101


def test_429_defers_until_the_instance_reset_time(fake, account):
    reset = (datetime.now(UTC) + timedelta(minutes=4)).replace(microsecond=0)
    fake.once("GET", "/api/v1/notifications", Reply(429, {"error": "Too many requests"}, {
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()}))

    outcome = brand_account_poll(account_id=account.pk)

    assert outcome.deferred_until == reset
    assert brand_account_poll(account_id=account.pk).skipped == "quota exhausted"
    assert len(fake.calls("GET", "/api/v1/notifications")) == 1


def test_reply_mentions_the_author_carries_the_idempotency_key_and_returns_the_id(fake, account):
    fake.notifications = [notification(1)]
    brand_account_poll(account_id=account.pk)
    client = brand_account_client(reloaded(account))

    result = client.reply(in_reply_to="113001", text="Thank you!", idempotency_key="out-7")
    retried = client.reply(in_reply_to="113001", text="Thank you!", idempotency_key="out-7")

    post = fake.calls("POST", "/api/v1/statuses")[0]
    assert post.json() == {"status": "@fan1@remote.example Thank you!",
                           "in_reply_to_id": "113001", "visibility": "public"}
    assert post.headers["idempotency-key"] == "out-7"
    assert result.id == retried.id == "114001"
    assert result.url == "https://social.example/@kansha/114001"
    assert len(fake.statuses) == 1


def test_reblog_and_unreblog(fake, account):
    client = brand_account_client(account)
    result = client.reshare(external_id="113001", idempotency_key="rb-1")
    assert fake.calls("POST", "/api/v1/statuses/113001/reblog")
    assert result.id == "115001"
    assert client.reshare(external_id="113001", idempotency_key="rb-1").id == "115001"
    assert len(fake.calls("POST", "/api/v1/statuses/113001/reblog")) == 1
    client.undo_reshare(external_id="113001", idempotency_key="urb-1")
    assert fake.calls("POST", "/api/v1/statuses/113001/unreblog")


def test_a_reshare_with_a_disclosure_line_is_a_quote_and_undo_deletes_it(fake, account):
    # A reblog carries no text: the line rides on a quote (quoted_status_id, Mastodon 4.5+).
    fake.notifications = [notification(1)]
    client = brand_account_client(account)
    line = "#ad @fan1 has received a reward from Kansha Coffee."
    result = client.reshare(external_id="113001", idempotency_key="qt-1", text=line)

    post = fake.calls("POST", "/api/v1/statuses")[0]
    assert post.json() == {"status": line, "quoted_status_id": "113001", "visibility": "public"}
    assert post.headers["idempotency-key"] == "qt-1"
    assert fake.statuses[result.id]["quote"]["state"] == "accepted"
    assert not fake.calls("POST", "/api/v1/statuses/113001/reblog")
    assert client.reshare(external_id="113001", idempotency_key="qt-1", text=line).id \
        == result.id
    assert len(fake.calls("POST", "/api/v1/statuses")) == 1

    client.undo_reshare(external_id="113001", idempotency_key="uqt-1")
    assert fake.calls("DELETE", f"/api/v1/statuses/{result.id}")
    assert not fake.calls("POST", "/api/v1/statuses/113001/unreblog")
    assert fake.statuses == {}


def test_a_quote_the_author_does_not_allow_is_refused_and_nothing_is_posted(fake, account):
    denied = notification(1)
    denied["status"]["quote_approval"] = {"automatic": [], "manual": [],
                                          "current_user": "denied"}
    fake.notifications = [denied]
    client = brand_account_client(account)

    with pytest.raises(PermanentError, match="422"):
        client.reshare(external_id="113001", idempotency_key="qt-2", text="#ad")
    assert fake.statuses == {}
    assert "qt-2" not in client.state.ledger()


def test_streaming_notification_events_become_mentions(fake, account):
    fake.stream = [":)", *fake.sse(notification(7)), ":thump",
                   *fake.sse(notification(8, kind="follow")),
                   *fake.sse({"id": "1"}, event="update"), *fake.sse(notification(9))]

    assert stream_consume(account=account) == 2

    assert set(Mention.objects.filter(source="stream").values_list("external_id", flat=True)) \
        == {"113007", "113009"}
    assert fake.calls("GET", "/api/v1/streaming/user/notification")[0].headers[
        "authorization"] == "Bearer masto-token"


# --- direct-visibility mentions are direct messages --------------------------------------------

def test_a_direct_mention_is_a_message_in_the_senders_conversation_never_a_mention(
        fake, account):
    fake.notifications = [notification(1), notification(2, visibility="direct")]

    assert brand_account_poll(account_id=account.pk).created == 1
    BrandAccount.objects.filter(pk=account.pk).update(cursor={})  # the same page again
    brand_account_poll(account_id=account.pk)

    assert list(Mention.objects.values_list("external_id", flat=True)) == ["113001"]
    message = ConversationMessage.objects.get()
    assert (message.kind, message.platform, message.external_id, message.text) == (
        MessageKind.DM_IN, "mastodon", "113002", "Lovely beans & service #2")
    identity = message.conversation.identity
    assert (identity.platform_user_id, identity.handle) == (
        "fan1@remote.example", "@fan1@remote.example")

    staff = user_in_role(SOCIAL_STAFF, username="masto-dm-staff")
    dm = conversation_reply(conversation_id=message.conversation_id, user=staff,
                            text="Thank you, see you soon!", channel="dm",
                            token=str(uuid.uuid4()))
    outreach_deliver(outreach_id=dm.pk)
    dm.refresh_from_db()
    assert dm.status == "sent"
    sent = fake.calls("POST", "/api/v1/statuses")[0].json()
    assert (sent["status"], sent["visibility"]) == (
        "@fan1@remote.example Thank you, see you soon!", "direct")


def test_the_stream_leaves_direct_mentions_to_the_poll(fake, account):
    fake.stream = [*fake.sse(notification(7, visibility="direct")), *fake.sse(notification(8))]

    assert stream_consume(account=account) == 1

    assert list(Mention.objects.values_list("external_id", flat=True)) == ["113008"]
