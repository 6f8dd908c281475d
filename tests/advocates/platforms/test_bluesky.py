"""Bluesky: the real client against a fake PDS serving the documented XRPC payloads."""

import time
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from advocates.management.commands import platforms as platforms_command
from advocates.models import Mention, SocialIdentity
from advocates.platforms.base import RateLimited, TransientError
from advocates.platforms.bluesky import JETSTREAM_REWIND_US
from advocates.platforms.credentials import credentials_decrypt
from advocates.services.platforms import brand_account_client, brand_account_poll
from advocates.services.streams import stream_consume
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.bluesky_server import (
    BRAND_DID,
    FAN_DID,
    FakeBluesky,
    jetstream_frame,
    note,
    profile,
)
from tests.fakes.jetstream_server import FakeJetstream
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
    client = brand_account_client(reloaded(account))

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
    brand_account_client(account).reply(in_reply_to=note(5)["uri"], text="hi", idempotency_key="k")
    assert fake.calls("GET", "/xrpc/app.bsky.feed.getPosts")[0].query["uris"] == [note(5)["uri"]]
    ref = {"uri": note(5)["uri"], "cid": "bafyreicid00005"}
    assert fake.calls("POST", "/xrpc/com.atproto.repo.createRecord")[0].json()["record"][
        "reply"] == {"root": ref, "parent": ref}


def test_repost_and_undo(fake, account):
    fake.notifications = [note(1)]
    client = brand_account_client(account)
    result = client.reshare(external_id=note(1)["uri"], idempotency_key="rp-1")
    create = fake.calls("POST", "/xrpc/com.atproto.repo.createRecord")[0].json()
    assert create["collection"] == "app.bsky.feed.repost"
    assert create["record"]["subject"] == {"uri": note(1)["uri"], "cid": "bafyreicid00001"}
    client.undo_reshare(external_id=note(1)["uri"], idempotency_key="urp-1")
    delete = fake.calls("POST", "/xrpc/com.atproto.repo.deleteRecord")[0].json()
    assert delete == {"repo": BRAND_DID, "collection": "app.bsky.feed.repost",
                      "rkey": result.id.rsplit("/", 1)[-1]}
    assert fake.records == {}


def test_a_reshare_with_a_disclosure_line_is_a_quote_post_and_undo_deletes_it(fake, account):
    # A repost record carries no text: the line rides on a post embedding the original.
    fake.notifications = [note(1)]
    client = brand_account_client(account)
    line = "#ad @fan.bsky.social has received a reward from Kansha Coffee."
    result = client.reshare(external_id=note(1)["uri"], idempotency_key="qp-1", text=line)

    create = fake.calls("POST", "/xrpc/com.atproto.repo.createRecord")[0].json()
    assert create["collection"] == "app.bsky.feed.post"
    assert create["record"]["text"] == line
    assert create["record"]["embed"] == {"$type": "app.bsky.embed.record", "record": {
        "uri": note(1)["uri"], "cid": "bafyreicid00001"}}
    assert client.reshare(external_id=note(1)["uri"], idempotency_key="qp-1",
                          text=line).id == result.id
    assert len(fake.records) == 1

    client.undo_reshare(external_id=note(1)["uri"], idempotency_key="uqp-1")
    delete = fake.calls("POST", "/xrpc/com.atproto.repo.deleteRecord")[0].json()
    assert delete == {"repo": BRAND_DID, "collection": "app.bsky.feed.post",
                      "rkey": result.id.rsplit("/", 1)[-1]}
    assert fake.records == {}


def test_jetstream_frames_mentioning_the_brand_become_mentions(fake, account):
    frames = [jetstream_frame(1), jetstream_frame(2, mention=False),
              jetstream_frame(3, did=BRAND_DID), jetstream_frame(4, operation="delete"),
              '{"did": "did:plc:x", "time_us": 1, "kind": "identity"}', "not json", "[]",
              '{"did": "did:plc:y", "time_us": 2, "kind": "commit", "commit": "junk"}',
              jetstream_frame(5)]

    assert stream_consume(account=account, frames=frames) == 2

    ids = set(Mention.objects.filter(source="stream").values_list("external_id", flat=True))
    assert ids == {f"at://{FAN_DID}/app.bsky.feed.post/3ljet0001",
                   f"at://{FAN_DID}/app.bsky.feed.post/3ljet0005"}
    assert reloaded(account).cursor["jetstream"] == {"time_us": 1732100000000005}
    client = brand_account_client(account)
    assert "cursor=1732100000000005" in client.jetstream_url(1732100000000005)


# --- Jetstream over a real WebSocket ----------------------------------------------------------
T0 = 1764570000000000  # Unix microseconds
STEP = 2_000_000  # frames two seconds apart, so the 5 s rewind replays only the last few


def _frame(n: int, *, mention: bool = True) -> str:
    return jetstream_frame(n, mention=mention, time_us=T0 + n * STEP)


def _uri(n: int) -> str:
    return f"at://{FAN_DID}/app.bsky.feed.post/3ljet{n:04d}"


@pytest.fixture
def jetstream():
    with FakeJetstream() as server:
        yield server


@pytest.fixture
def streaming(connect, fake, jetstream):
    """A Bluesky account whose PDS is the fake PDS and whose Jetstream is the fake Jetstream."""
    return connect("bluesky", fake.url, {"identifier": "kansha.example",
                                         "app_password": "app-pass-word"},
                   config={"jetstream_url": jetstream.url}, handle="kansha.example",
                   platform_user_id=BRAND_DID)


def test_jetstream_websocket_mentions_become_mentions_with_identities(fake, jetstream,
                                                                      streaming):
    fake.profiles[FAN_DID] = profile(FAN_DID, handle="matcha.fan", name="Matcha Fan",
                                     followers=321)
    jetstream.add(_frame(1), _frame(2, mention=False), _frame(3), _frame(4, mention=False),
                  {"did": FAN_DID, "time_us": T0 + 5 * STEP, "kind": "identity", "identity": {
                      "did": FAN_DID, "handle": "matcha.fan", "seq": 1,
                      "time": "2026-12-01T00:00:00Z"}},
                  {"did": FAN_DID, "time_us": T0 + 6 * STEP, "kind": "commit", "commit": {
                      "rev": "3lrevl", "operation": "create", "collection": "app.bsky.feed.like",
                      "rkey": "3llike", "cid": "bafylike", "record": {}}})

    assert stream_consume(account=streaming) == 2

    first = jetstream.connections[0]
    assert first.path == "/subscribe"
    assert first.query["wantedCollections"] == ["app.bsky.feed.post"]
    assert first.q("cursor") is None  # no saved cursor: the live tail, no backfill
    assert first.headers["user-agent"].startswith("Kansha/")
    assert fake.calls("GET", "/xrpc/app.bsky.actor.getProfiles")[0].query["actors"] == [FAN_DID]
    mention = Mention.objects.get(external_id=_uri(3))
    assert (mention.source, mention.kind, mention.text) == ("stream", "post", "jetstream post 3")
    assert mention.url == "https://bsky.app/profile/matcha.fan/post/3ljet0003"
    identity = SocialIdentity.objects.get(platform="bluesky", platform_user_id=FAN_DID)
    assert (identity.handle, identity.display_name, identity.follower_count) == (
        "@matcha.fan", "Matcha Fan", 321)
    # The cursor is the newest frame read (the identity event), not the newest mention.
    assert reloaded(streaming).cursor["jetstream"] == {"time_us": T0 + 5 * STEP}


def test_a_dropped_connection_resumes_from_the_saved_cursor_without_gaps_or_duplicates(
        jetstream, streaming):
    jetstream.add(*[_frame(n, mention=n % 2 == 1) for n in range(1, 7)])
    jetstream.plans = [("drop", 4), ("close", None)]

    with pytest.raises(TransientError, match="Jetstream connection broke"):
        stream_consume(account=streaming)
    # What was read before the break is kept, and the cursor is the last frame read.
    assert set(Mention.objects.values_list("external_id", flat=True)) == {_uri(1), _uri(3)}
    assert reloaded(streaming).cursor["jetstream"] == {"time_us": T0 + 4 * STEP}

    jetstream.add(*[_frame(n, mention=n != 8) for n in range(7, 10)])  # while we were away
    restarted = reloaded(streaming)  # a new process: the cursor comes from the database
    assert stream_consume(account=restarted) == 3  # 5, 7 and 9; 3 came again, deduplicated

    again = jetstream.connections[1]
    assert int(again.q("cursor")) == T0 + 4 * STEP - JETSTREAM_REWIND_US
    assert again.sent[0] == T0 + 2 * STEP  # replay starts a few seconds before the cursor
    assert set(Mention.objects.values_list("external_id", flat=True)) == {
        _uri(n) for n in (1, 3, 5, 7, 9)}
    assert Mention.objects.count() == 5
    assert reloaded(streaming).cursor["jetstream"] == {"time_us": T0 + 9 * STEP}


def test_a_killed_process_replays_its_unsaved_batch_on_restart(jetstream, streaming):
    jetstream.add(*[_frame(n) for n in range(1, 8)])

    def killed_after(frames, n):
        for i, frame in enumerate(frames):
            if i == n:
                raise SystemExit("killed")  # not a platform error: nothing is flushed
            yield frame

    client = brand_account_client(streaming)
    with pytest.raises(SystemExit):
        stream_consume(account=streaming, batch_size=2, frames=killed_after(
            client.stream_frames(position=reloaded(streaming).cursor.get("jetstream")), 5))
    # Two batches of two were stored with their cursor; the fifth frame died with the process.
    assert Mention.objects.count() == 4
    assert reloaded(streaming).cursor["jetstream"] == {"time_us": T0 + 4 * STEP}

    assert stream_consume(account=reloaded(streaming)) == 3  # 5, 6, 7: none lost
    assert Mention.objects.count() == 7
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == [
        _uri(n) for n in range(1, 8)]


def test_a_silent_connection_is_given_up_after_the_idle_timeout(jetstream, streaming):
    streaming.config["jetstream_idle_seconds"] = 0.3
    streaming.save(update_fields=["config"])
    jetstream.add(_frame(1))
    jetstream.plans = [("hold", None)]

    with pytest.raises(TransientError, match="sent nothing for 0.3 s"):
        stream_consume(account=reloaded(streaming))
    assert Mention.objects.filter(external_id=_uri(1)).exists()
    assert reloaded(streaming).cursor["jetstream"] == {"time_us": T0 + STEP}


def test_a_429_on_connect_is_rate_limited_until_retry_after(jetstream, streaming):
    jetstream.refuse = [(429, {"Retry-After": "120"})]
    with pytest.raises(RateLimited) as caught:
        stream_consume(account=streaming)
    assert caught.value.reset_at.timestamp() == pytest.approx(time.time() + 120, abs=5)


def test_a_failed_profile_lookup_keeps_the_stored_handle(fake, jetstream, streaming):
    fake.notifications = [note(1)]
    brand_account_poll(account_id=streaming.pk)  # the poll stored @fan.bsky.social
    fake.on("GET", "/xrpc/app.bsky.actor.getProfiles", Reply(502, {"error": "UpstreamFailure"}))
    jetstream.add(_frame(1))

    assert stream_consume(account=reloaded(streaming)) == 1

    identity = SocialIdentity.objects.get(platform="bluesky", platform_user_id=FAN_DID)
    assert (identity.handle, identity.display_name) == ("@fan.bsky.social", "Bsky Fan")


def test_platforms_stream_command_reconnects_to_jetstream_with_backoff(jetstream, streaming,
                                                                       monkeypatch):
    jetstream.add(*[_frame(n) for n in range(1, 4)])
    jetstream.plans = [("drop", 2), ("drop", 0), ("close", None)]
    slept = []

    class Stop(Exception):
        pass

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == 3:
            raise Stop

    # Only the command's own pauses are recorded (the WebSocket threads keep the real clock).
    monkeypatch.setattr(platforms_command, "time", SimpleNamespace(sleep=sleep))
    out = StringIO()
    with pytest.raises(Stop):
        call_command("platforms", "stream", "--account", str(streaming.pk), stdout=out)

    assert slept == [1, 2, 1]  # backoff doubles while broken, resets after a clean end
    log = out.getvalue()
    assert "reconnecting in 1s" in log
    assert "reconnecting in 2s" in log
    assert f"#{streaming.pk} {streaming}: stream ended, 1 new" in log
    cursors = [c.q("cursor") for c in jetstream.connections]
    assert cursors == [None, str(T0 + 2 * STEP - JETSTREAM_REWIND_US),
                       str(T0 + 2 * STEP - JETSTREAM_REWIND_US)]
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == [
        _uri(n) for n in (1, 2, 3)]


def test_platforms_stream_command_once_reads_one_jetstream_connection(jetstream, streaming):
    jetstream.add(_frame(1), _frame(2, mention=False))
    out = StringIO()
    call_command("platforms", "stream", "--account", str(streaming.pk), "--once", stdout=out)
    assert "stream ended, 1 new" in out.getvalue()
    assert Mention.objects.filter(platform="bluesky", source="stream").count() == 1
