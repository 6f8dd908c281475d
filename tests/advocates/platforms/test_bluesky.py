"""Bluesky: the real client against a fake PDS serving the documented XRPC payloads."""

import time

import pytest

from advocates.models import Mention, SocialIdentity
from advocates.platforms.bluesky import BlueskyClient, jetstream_consume
from advocates.platforms.credentials import credentials_decrypt
from advocates.services.platforms import brand_account_poll
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.bluesky_server import BRAND_DID, FAN_DID, FakeBluesky, jetstream_frame, note
from tests.fakes.platform_server import Reply

LIST = "/xrpc/app.bsky.notification.listNotifications"


@pytest.fixture
def fake():
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("bluesky", fake.url, {"identifier": "kansha.example",
                                         "app_password": "app-pass-word"},
                   handle="kansha.example", platform_user_id=BRAND_DID)


def test_notifications_become_mentions_after_a_session_is_created(fake, account):
    root = {"uri": f"at://{BRAND_DID}/app.bsky.feed.post/3lroot", "cid": "bafyroot"}
    fake.notifications = [note(1), note(2, reason="reply", reply_root=root),
                          note(3, reason="quote"), note(4, reason="like")]

    assert brand_account_poll(account_id=account.pk).created == 3

    login = fake.calls("POST", "/xrpc/com.atproto.server.createSession")[0]
    assert login.json() == {"identifier": "kansha.example", "password": "app-pass-word"}
    listed = fake.calls("GET", LIST)[0]
    assert listed.headers["authorization"] == "Bearer access-1"
    assert listed.query["reasons"] == ["mention", "reply", "quote"]
    kinds = dict(Mention.objects.filter(platform="bluesky").values_list("external_id", "kind"))
    assert sorted(kinds.values()) == ["post", "quote", "reply"]
    reply = Mention.objects.get(kind="reply")
    assert reply.in_reply_to == root["uri"]
    assert reply.url == "https://bsky.app/profile/fan.bsky.social/post/3lfan00002"
    identity = SocialIdentity.objects.get(platform="bluesky")
    assert (identity.platform_user_id, identity.handle) == (FAN_DID, "@fan.bsky.social")
    stored = reloaded(account).credentials_encrypted
    assert "access-1" not in stored
    assert credentials_decrypt(stored)["refresh_jwt"] == "refresh-1"


def test_an_expired_access_token_is_refreshed(fake, account):
    fake.notifications = [note(1)]
    brand_account_poll(account_id=account.pk)
    fake.once("GET", LIST, Reply(400, {"error": "ExpiredToken", "message": "Token has expired"}))
    fake.notifications.append(note(2))

    assert brand_account_poll(account_id=reloaded(account).pk).created == 1

    refresh = fake.calls("POST", "/xrpc/com.atproto.server.refreshSession")[0]
    assert refresh.headers["authorization"] == "Bearer refresh-1"
    assert fake.calls("GET", LIST)[-1].headers["authorization"] == "Bearer access-2"
    assert credentials_decrypt(reloaded(account).credentials_encrypted)["access_jwt"] == \
        "access-2"


def test_paging_back_resumes_after_a_restart_and_stops_at_the_high_water_mark(fake, account):
    fake.notifications = [note(n) for n in range(1, 11)]
    assert brand_account_poll(account_id=account.pk).created == 10
    fake.notifications += [note(n) for n in range(11, 131)]  # 120 new: 3 pages of 50

    first = brand_account_poll(account_id=account.pk, max_pages=1)  # the process dies here
    assert first.created == 50
    cursor = reloaded(account).cursor["poll"]
    assert cursor["page_cursor"] == "50"

    second = brand_account_poll(account_id=account.pk)
    assert (second.created, second.duplicate) == (70, 0)
    assert [c.q("cursor") for c in fake.calls("GET", LIST)] == [None, None, "50", "100"]
    assert reloaded(account).cursor["poll"] == {"seen_at": note(130)["indexedAt"],
                                                "seen_uris": [note(130)["uri"]]}
    assert Mention.objects.filter(platform="bluesky").count() == 130

    fake.notifications.append(note(131))
    assert brand_account_poll(account_id=account.pk).created == 1


def test_429_defers_until_ratelimit_reset(fake, account):
    reset = int(time.time()) + 300
    fake.once("GET", LIST, Reply(429, {"error": "RateLimitExceeded"},
                                 {"ratelimit-remaining": "0", "ratelimit-reset": str(reset)}))
    outcome = brand_account_poll(account_id=account.pk)
    assert int(outcome.deferred_until.timestamp()) == reset
    assert brand_account_poll(account_id=account.pk).skipped == "quota exhausted"


def test_reply_uses_the_thread_root_and_the_parent_as_strong_refs(fake, account):
    root = {"uri": f"at://{BRAND_DID}/app.bsky.feed.post/3lroot", "cid": "bafyroot"}
    fake.notifications = [note(1, reason="reply", reply_root=root)]
    brand_account_poll(account_id=account.pk)
    client = BlueskyClient(reloaded(account))

    result = client.reply(in_reply_to=note(1)["uri"], text="Thank you!", idempotency_key="k-1")

    create = fake.calls("POST", "/xrpc/com.atproto.repo.createRecord")[0].json()
    assert create["repo"] == BRAND_DID
    assert create["collection"] == "app.bsky.feed.post"
    assert create["record"]["$type"] == "app.bsky.feed.post"
    assert create["record"]["text"] == "Thank you!"
    assert create["record"]["reply"] == {
        "root": root, "parent": {"uri": note(1)["uri"], "cid": "bafyreicid00001"}}
    assert result.id == f"at://{BRAND_DID}/app.bsky.feed.post/3lbrand0001"
    assert result.url == "https://bsky.app/profile/kansha.example/post/3lbrand0001"
    assert client.reply(in_reply_to=note(1)["uri"], text="Thank you!",
                        idempotency_key="k-1").id == result.id
    assert len(fake.records) == 1


def test_reply_to_a_top_level_post_fetches_it_and_uses_it_as_root(fake, account):
    fake.notifications = [note(5)]  # not ingested: the client must look the post up
    BlueskyClient(account).reply(in_reply_to=note(5)["uri"], text="hi", idempotency_key="k")
    assert fake.calls("GET", "/xrpc/app.bsky.feed.getPosts")[0].query["uris"] == [note(5)["uri"]]
    ref = {"uri": note(5)["uri"], "cid": "bafyreicid00005"}
    assert fake.calls("POST", "/xrpc/com.atproto.repo.createRecord")[0].json()["record"][
        "reply"] == {"root": ref, "parent": ref}


def test_repost_and_undo(fake, account):
    fake.notifications = [note(1)]
    client = BlueskyClient(account)
    result = client.reshare(external_id=note(1)["uri"], idempotency_key="rp-1")
    create = fake.calls("POST", "/xrpc/com.atproto.repo.createRecord")[0].json()
    assert create["collection"] == "app.bsky.feed.repost"
    assert create["record"]["subject"] == {"uri": note(1)["uri"], "cid": "bafyreicid00001"}
    client.undo_reshare(external_id=note(1)["uri"], idempotency_key="urp-1")
    delete = fake.calls("POST", "/xrpc/com.atproto.repo.deleteRecord")[0].json()
    assert delete == {"repo": BRAND_DID, "collection": "app.bsky.feed.repost",
                      "rkey": result.id.rsplit("/", 1)[-1]}
    assert fake.records == {}


def test_jetstream_frames_mentioning_the_brand_become_mentions(account):
    frames = [jetstream_frame(1), jetstream_frame(2, mention=False),
              jetstream_frame(3, did=BRAND_DID), jetstream_frame(4, operation="delete"),
              '{"did": "did:plc:x", "time_us": 1, "kind": "identity"}', jetstream_frame(5)]

    assert jetstream_consume(account=account, frames=frames) == 2

    ids = set(Mention.objects.filter(source="stream").values_list("external_id", flat=True))
    assert ids == {f"at://{FAN_DID}/app.bsky.feed.post/3ljet0001",
                   f"at://{FAN_DID}/app.bsky.feed.post/3ljet0005"}
    assert reloaded(account).cursor["jetstream"] == {"time_us": 1732100000000005}
    assert "cursor=1732100000000005" in BlueskyClient(account).jetstream_url(1732100000000005)
