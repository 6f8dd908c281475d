"""X (API v2): the real client against a fake X serving the documented payloads."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from advocates.models import (
    BrandAccount,
    Conversation,
    ConversationMessage,
    Mention,
    MessageKind,
    OutreachStatus,
    SocialIdentity,
    WebhookDelivery,
)
from advocates.platforms.base import PermanentError, TransientError
from advocates.platforms.credentials import credentials_decrypt
from advocates.platforms.x import event_time
from advocates.services import outreach_deliver
from advocates.services.conversations import conversation_reply
from advocates.services.platforms import (
    brand_account_client,
    brand_account_poll,
    brand_accounts_poll_due,
)
from advocates.services.streams import stream_consume
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.platform_server import Reply
from tests.fakes.x_server import BRAND, BRAND_ID, FakeX, dm_event, tweet
from tests.roles import SOCIAL_STAFF, user_in_role

CONSUMER_SECRET = "x-consumer-secret"


@pytest.fixture
def fake():
    with FakeX() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("x", fake.url, {
        "access_token": "access-1", "refresh_token": "refresh-1", "client_id": "cid",
        "bearer_token": "app-bearer", "consumer_secret": CONSUMER_SECRET,
    }, handle=f"@{BRAND}", platform_user_id=BRAND_ID)


def test_poll_turns_mentions_into_mentions_with_identities(fake, account):
    fake.mentions = [tweet(1), tweet(2), tweet(3, reply_to="1460323737035677001")]

    outcome = brand_account_poll(account_id=account.pk)

    assert outcome.created == 3
    call = fake.calls("GET", f"/2/users/{BRAND_ID}/mentions")[0]
    assert call.headers["authorization"] == "Bearer access-1"
    assert call.q("since_id") is None
    assert "author_id" in call.q("expansions")
    reply = Mention.objects.get(external_id="1460323737035677003")
    assert (reply.kind, reply.in_reply_to, reply.source) == ("reply", "1460323737035677001",
                                                             "poll")
    assert reply.url == "https://x.com/fan_of_coffee/status/1460323737035677003"
    identity = SocialIdentity.objects.get(platform="x", platform_user_id="2244994945")
    assert (identity.handle, identity.follower_count) == ("@fan_of_coffee", 321)
    assert reloaded(account).cursor["poll"] == {"since_id": "1460323737035677003"}


def test_pagination_resumes_after_restart_without_gaps_or_duplicates(fake, account):
    fake.mentions = [tweet(n) for n in range(1, 251)]  # 3 pages of 100

    first = brand_account_poll(account_id=account.pk, max_pages=1)  # the process dies here
    assert (first.created, first.pages) == (100, 1)
    cursor = reloaded(account).cursor["poll"]
    assert cursor["next_token"]
    assert cursor["newest_id"] == tweet(250)["id"]

    fake.mentions.append(tweet(251))  # arrives while we were down
    second = brand_account_poll(account_id=account.pk)  # a fresh process, same DB row
    assert second.created == 150
    resumed = fake.calls("GET", f"/2/users/{BRAND_ID}/mentions")[1]
    assert resumed.q("pagination_token") == cursor["next_token"]
    assert reloaded(account).cursor["poll"] == {"since_id": tweet(250)["id"]}

    third = brand_account_poll(account_id=account.pk)
    assert (third.created, third.duplicate) == (1, 0)
    assert fake.calls("GET", f"/2/users/{BRAND_ID}/mentions")[-1].q("since_id") == \
        tweet(250)["id"]
    assert Mention.objects.filter(platform="x").count() == 251


def test_429_defers_polling_until_the_reset_time(fake, account):
    reset = int(time.time()) + 600
    fake.once("GET", f"/2/users/{BRAND_ID}/mentions", Reply(429, {"title": "Too Many Requests"},
              {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0",
               "x-rate-limit-reset": str(reset)}))
    fake.mentions = [tweet(1)]

    outcome = brand_account_poll(account_id=account.pk)

    assert int(outcome.deferred_until.timestamp()) == reset
    row = reloaded(account)
    assert row.quota_remaining == 0
    assert int(row.quota_reset_at.timestamp()) == reset
    calls_before = len(fake.requests)
    assert brand_account_poll(account_id=account.pk).skipped == "quota exhausted"
    assert account.pk not in brand_accounts_poll_due()
    assert len(fake.requests) == calls_before  # nothing was requested while deferred

    BrandAccount.objects.filter(pk=account.pk).update(
        quota_reset_at=timezone.now() - timedelta(seconds=1))  # the reset time has passed
    assert brand_account_poll(account_id=account.pk).created == 1


def test_quota_exhaustion_from_headers_stops_the_poller_before_a_429(fake, account):
    fake.mentions = [tweet(n) for n in range(1, 301)]
    fake.rate_remaining = 2  # the next answer says remaining=1, then 0

    outcome = brand_account_poll(account_id=account.pk)

    assert outcome.pages == 2
    assert outcome.deferred_until is not None
    assert reloaded(account).quota_remaining == 0
    assert account.pk not in brand_accounts_poll_due()
    # The cursor holds the next page: when the quota resets, polling resumes exactly there.
    assert reloaded(account).cursor["poll"]["next_token"]


def test_reply_posts_the_documented_body_and_returns_the_new_id(fake, account):
    fake.mentions = [tweet(1)]
    brand_account_poll(account_id=account.pk)

    fresh = brand_account_client(reloaded(account))
    result = fresh.reply(in_reply_to=tweet(1)["id"], text="Thank you!",
                         idempotency_key="k-1")

    post = fake.calls("POST", "/2/tweets")[0]
    assert post.json() == {"text": "Thank you!",
                           "reply": {"in_reply_to_tweet_id": tweet(1)["id"]}}
    assert post.headers["authorization"] == "Bearer access-1"
    assert result.id == fake.posted[0]["id"]
    assert result.url == f"https://x.com/{BRAND}/status/{result.id}"


def test_reply_is_refused_before_any_request_when_the_post_does_not_mention_the_brand(
        fake, account):
    fake.mentions = [tweet(1, mention=False, text="nice coffee somewhere")]

    refusal = "policy: X automation rule: reply only to posts that mention"
    fresh = brand_account_client(account)
    with pytest.raises(PermanentError, match=refusal):
        fresh.reply(in_reply_to=tweet(1)["id"], text="hi", idempotency_key="k")

    assert fake.calls("POST") == []


def test_reply_goes_out_at_most_once_per_post(fake, account):
    fake.mentions = [tweet(1)]
    client = brand_account_client(account)
    first = client.reply(in_reply_to=tweet(1)["id"], text="Thanks!", idempotency_key="k-1")

    fresh = brand_account_client(reloaded(account))
    again = fresh.reply(in_reply_to=tweet(1)["id"], text="Thanks!",
                        idempotency_key="k-1")  # a retried delivery
    assert again.id == first.id
    with pytest.raises(PermanentError, match="policy: already replied"):
        client.reply(in_reply_to=tweet(1)["id"], text="Thanks again!", idempotency_key="k-2")
    assert len(fake.calls("POST", "/2/tweets")) == 1


def test_a_retry_after_an_ambiguous_failure_finds_the_earlier_reply(fake, account):
    fake.mentions = [tweet(1)]

    def posted_then_failed(req, match):
        fake._post_tweet(req, match)  # the platform did post…
        return Reply(503, {"title": "Service Unavailable"})  # …but we never heard back

    fake.on("POST", "/2/tweets", posted_then_failed)
    client = brand_account_client(account)
    with pytest.raises(Exception, match="503"):
        client.reply(in_reply_to=tweet(1)["id"], text="Thanks!", idempotency_key="k-1")

    fresh = brand_account_client(reloaded(account))
    result = fresh.reply(in_reply_to=tweet(1)["id"], text="Thanks!",
                         idempotency_key="k-1")
    assert result.id == fake.posted[0]["id"]
    assert len(fake.posted) == 1


def test_retweet_and_undo(fake, account):
    client = brand_account_client(account)
    result = client.reshare(external_id="1460323737035677001", idempotency_key="r-1")
    assert fake.calls("POST", f"/2/users/{BRAND_ID}/retweets")[0].json() == {
        "tweet_id": "1460323737035677001"}
    assert result.id == "1460323737035677001"
    client.undo_reshare(external_id="1460323737035677001", idempotency_key="u-1")
    assert fake.calls("DELETE", f"/2/users/{BRAND_ID}/retweets/1460323737035677001")


def test_a_reshare_with_a_disclosure_line_is_a_quote_post_and_undo_deletes_it(fake, account):
    # A retweet carries no text: the line rides on a quote post (POST /2/tweets quote_tweet_id).
    client = brand_account_client(account)
    line = "#ad @fan_of_coffee has received a reward from Kansha Coffee."
    result = client.reshare(external_id="1460323737035677001", idempotency_key="q-1",
                            text=line)

    assert fake.posted == [{"id": result.id, "text": line,
                            "quote_tweet_id": "1460323737035677001"}]
    assert not fake.calls("POST", f"/2/users/{BRAND_ID}/retweets")
    assert result.url == f"https://x.com/{BRAND}/status/{result.id}"
    # A retry with the same key posts nothing twice.
    assert client.reshare(external_id="1460323737035677001", idempotency_key="q-1",
                          text=line).id == result.id
    assert len(fake.posted) == 1

    client.undo_reshare(external_id="1460323737035677001", idempotency_key="uq-1")
    assert fake.calls("DELETE", f"/2/tweets/{result.id}")
    assert not fake.calls("DELETE", f"/2/users/{BRAND_ID}/retweets/1460323737035677001")
    assert fake.posted == []


def test_an_ambiguous_quote_failure_is_found_on_retry_not_posted_twice(fake, account):
    def posted_then_failed(req, match):
        fake._post_tweet(req, match)
        return Reply(503, {"title": "Service Unavailable"})

    fake.on("POST", "/2/tweets", posted_then_failed)
    client = brand_account_client(account)
    with pytest.raises(TransientError):
        client.reshare(external_id="1460323737035677001", idempotency_key="q-2", text="#ad")

    result = brand_account_client(reloaded(account)).reshare(
        external_id="1460323737035677001", idempotency_key="q-2", text="#ad")
    assert len(fake.posted) == 1
    assert result.id == fake.posted[0]["id"]


def test_expired_access_token_is_refreshed_and_stored_encrypted(fake, account):
    fake.once("GET", f"/2/users/{BRAND_ID}/mentions", Reply(401, {"title": "Unauthorized"}))
    fake.mentions = [tweet(1)]

    assert brand_account_poll(account_id=account.pk).created == 1

    refresh = fake.calls("POST", "/2/oauth2/token")[0]
    assert refresh.form()["grant_type"] == ["refresh_token"]
    assert refresh.form()["refresh_token"] == ["refresh-1"]
    retried = fake.calls("GET", f"/2/users/{BRAND_ID}/mentions")[-1]
    assert retried.headers["authorization"] == "Bearer new-access"
    stored = reloaded(account).credentials_encrypted
    assert "new-access" not in stored
    assert credentials_decrypt(stored)["refresh_token"] == "new-refresh"


def test_stream_rules_are_synced_and_stream_lines_become_mentions(fake, account):
    client = brand_account_client(account)
    fake.rules = [{"id": "7", "value": "old rule", "tag": "old"}]
    change = client.stream_rules_sync(client.brand_rule())
    assert change["deleted"] == ["7"]
    assert [r["value"] for r in fake.rules] == [f"@{BRAND} -from:{BRAND} -is:retweet"]
    assert fake.calls("POST", "/2/tweets/search/stream/rules")[0].json() == {
        "delete": {"ids": ["7"]}}

    fake.stream_frames = [fake.stream_frame(tweet(5)), "", fake.stream_frame(tweet(6)),
                          json.dumps({"errors": [{"title": "operational-disconnect"}]})]
    assert stream_consume(account=account) == 2
    assert Mention.objects.filter(platform="x", source="stream").count() == 2
    assert fake.calls("GET", "/2/tweets/search/stream")[0].headers["authorization"] == \
        "Bearer app-bearer"


# --- webhooks (Account Activity API) ----------------------------------------------------------
def _signature(body: bytes, secret: str = CONSUMER_SECRET) -> str:
    return "sha256=" + base64.b64encode(
        hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _tweet_event(n: int = 1, *, mention: bool = True, at: datetime | None = None) -> dict:
    """A v1.1 Tweet object as Account Activity delivers it (created_at and timestamp_ms)."""
    at = at or datetime.now(UTC)
    text = f"@{BRAND} great pour-over" if mention else "no brand here"
    return {
        "created_at": at.strftime("%a %b %d %H:%M:%S +0000 %Y"), "id_str": f"17{n}",
        "text": text, "timestamp_ms": str(int(at.timestamp() * 1000)),
        "user": {"id_str": "55", "screen_name": "latte_lover", "name": "Latte Lover",
                 "followers_count": 80},
        "entities": {"user_mentions": [{"id_str": BRAND_ID, "screen_name": BRAND}]
                     if mention else []},
    }


def _activity(n: int = 1, *, mention: bool = True, at: datetime | None = None) -> bytes:
    return json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [
        _tweet_event(n, mention=mention, at=at)]}).encode()


def test_crc_challenge_answers_the_hmac_of_the_token(client, account):
    response = client.get(f"/webhooks/x/{account.pk}/", {"crc_token": "challenge-123"})
    expected = base64.b64encode(hmac.new(CONSUMER_SECRET.encode(), b"challenge-123",
                                         hashlib.sha256).digest()).decode()
    assert response.status_code == 200
    assert response.json() == {"response_token": f"sha256={expected}"}


def test_webhook_signatures_valid_invalid_missing_and_stale(deliver, account):
    url = f"/webhooks/x/{account.pk}/"
    body = _activity(1)
    stale = _activity(2, at=datetime.now(UTC) - timedelta(days=7))  # a replayed capture
    future = _activity(3, at=datetime.now(UTC) + timedelta(hours=1))

    missing = deliver(url, body)
    invalid = deliver(url, body,
                      headers={"x-twitter-webhooks-signature": _signature(body, "wrong")})
    assert (missing.status_code, invalid.status_code) == (403, 403)
    # Authenticity is checked first: a stale body with a wrong signature is a 403, not a 400.
    assert deliver(url, stale, headers={"x-twitter-webhooks-signature": _signature(
        stale, "wrong")}).status_code == 403
    old = deliver(url, stale, headers={"x-twitter-webhooks-signature": _signature(stale)})
    assert (old.status_code, old.json()["error"].split(":")[0]) == (400, "events")
    assert deliver(url, future, headers={"x-twitter-webhooks-signature": _signature(future)}
                   ).status_code == 400
    assert WebhookDelivery.objects.count() == 0
    assert Mention.objects.count() == 0

    valid = deliver(url, body,
                    headers={"x-twitter-webhooks-signature": _signature(body)})
    assert valid.status_code == 200
    mention = Mention.objects.get(platform="x", external_id="171")
    assert (mention.source, mention.author.handle) == ("webhook", "@latte_lover")

    again = deliver(url, body,
                    headers={"x-twitter-webhooks-signature": _signature(body)})
    assert again.status_code == 200
    assert again.json()["stored"] is False
    assert WebhookDelivery.objects.count() == 1
    assert Mention.objects.count() == 1


def test_a_signed_delivery_holding_nul_is_stored_with_the_character_replaced(deliver, account):
    """X signed it, so it is genuine: refusing it would make X redeliver it, and PostgreSQL
    cannot store NUL (it answered 500 before)."""
    event = _tweet_event(9)
    event["text"] = f"@{BRAND} great\u0000 pour-over"
    body = json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [event]}).encode()
    assert b"\\u0000" in body

    response = deliver(f"/webhooks/x/{account.pk}/", body,
                       headers={"x-twitter-webhooks-signature": _signature(body)})

    assert response.status_code == 200
    stored = WebhookDelivery.objects.get()
    assert stored.body["tweet_create_events"][0]["text"] == f"@{BRAND} great\ufffd pour-over"
    assert Mention.objects.get(external_id="179").text == f"@{BRAND} great\ufffd pour-over"


def test_a_delivery_with_one_fresh_event_is_stored_and_undated_ones_are_not_judged(
        deliver, account):
    url = f"/webhooks/x/{account.pk}/"
    week_ago = datetime.now(UTC) - timedelta(days=7)
    mixed = json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [
        _tweet_event(4, at=week_ago), _tweet_event(5)]}).encode()
    revoke = json.dumps({"for_user_id": BRAND_ID, "user_event": {"revoke": {
        "date_time": "2026-11-30T10:00:00.000Z", "target": {"app_id": "1"},
        "source": {"user_id": BRAND_ID}}}}).encode()

    for body in (mixed, revoke):
        response = deliver(url, body, headers={"x-twitter-webhooks-signature": _signature(body)})
        assert response.status_code == 200
    assert WebhookDelivery.objects.count() == 2
    assert set(Mention.objects.values_list("external_id", flat=True)) == {"174", "175"}


def test_event_times_of_each_account_activity_shape():
    assert event_time({"created_at": "Wed Oct 10 20:19:24 +0000 2018"}) == datetime(
        2018, 10, 10, 20, 19, 24, tzinfo=UTC)
    assert event_time({"created_at": "Wed Oct 10 20:19:24 +0000 2018",
                       "timestamp_ms": "1539202764123"}).timestamp() == 1539202764.123
    like = {"id": "a7ba59eab0bfcba386f7acedac279542", "timestamp_ms": 1517588749178,
            "favorited_status": {"created_at": "Mon Jan 01 00:00:00 +0000 2018"}}
    assert event_time(like).timestamp() == 1517588749.178
    follow = {"type": "follow", "created_timestamp": "1517588749178"}
    assert event_time(follow).timestamp() == 1517588749.178
    assert event_time({"type": "message_create", "id": "1"}) is None


def test_webhook_events_that_do_not_mention_the_brand_make_no_mentions(deliver, account):
    body = _activity(2, mention=False)
    response = deliver(f"/webhooks/x/{account.pk}/", body,
                           headers={"x-twitter-webhooks-signature": _signature(body)})
    assert response.status_code == 200
    assert WebhookDelivery.objects.get().processed_at is not None
    assert Mention.objects.count() == 0


def test_a_keyword_only_post_is_not_proposed_and_delivery_would_refuse_it_too(fake, account):
    """The queue's guard and the client's check ask the same `x_automation_rule` about the
    same post: a tracked term is not an @-mention, so neither side would reply to it."""
    from advocates.models import Outreach
    from advocates.policies import X_RULE
    from advocates.services import mentions_detect
    from tests.advocates.routing_helpers import brand_settings

    brand_settings(cooldown_days=0, tracked_handles=f"{BRAND}")  # typed without its "@"
    keyword_only = tweet(1, mention=False,
                         text="Kansha Coffee has the best cortado in town, thank you!")
    at_mention = tweet(2, text=f"@{BRAND} has the best cortado in town, thank you!")
    fake.mentions = [keyword_only, at_mention]

    brand_account_poll(account_id=account.pk)
    mentions_detect(mention_ids=list(Mention.objects.values_list("id", flat=True)))  # + route

    bare = Mention.objects.get(external_id=keyword_only["id"])
    named = Mention.objects.get(external_id=at_mention["id"])
    if named.route != "thank":
        pytest.skip(f"the detector did not call the post thankable: {named.skip_reason}")
    assert (bare.route, bare.skip_reason) == ("none", X_RULE)
    assert not Outreach.objects.filter(mention=bare).exists()
    assert Outreach.objects.filter(mention=named, dedupe_key__startswith="thank:").exists()

    client = brand_account_client(reloaded(account))
    assert client.reply_policy(in_reply_to=keyword_only["id"]) == (
        f"policy: {X_RULE} (post {keyword_only['id']})")
    assert client.reply_policy(in_reply_to=at_mention["id"]) == ""


def test_the_queue_delivery_and_the_client_ask_the_one_x_policy_object(fake, account,
                                                                      monkeypatch):
    """Routing's guard, delivery's check and the X client's check each ask
    `PlatformPolicy.reply_refusal` on the one `policies.X` object: a refusal invented here
    reaches all three. A side that kept a list or a rule of its own would let the post through,
    and this test would fail."""
    from advocates import policies
    from advocates.models import Outreach, OutreachStatus
    from advocates.services import mentions_detect
    from advocates.services.outreach import outreach_approve, outreach_deliver
    from tests.advocates.routing_helpers import brand_settings

    invented = "invented by the test"
    asked: list[policies.PlatformPolicy] = []
    refuse = False
    real = policies.PlatformPolicy.reply_refusal

    def spy(self, target):
        asked.append(self)
        return invented if refuse else real(self, target)

    monkeypatch.setattr(policies.PlatformPolicy, "reply_refusal", spy)
    brand_settings(cooldown_days=0, tracked_handles=f"@{BRAND}")
    fake.mentions = [tweet(n, text=f"@{BRAND} has the best cortado in town, thank you! #{n}")
                     for n in (1, 2)]
    brand_account_poll(account_id=account.pk)
    first, second = Mention.objects.order_by("external_id")

    refuse = True  # routing
    mentions_detect(mention_ids=[first.pk])
    first.refresh_from_db()
    assert (first.route, first.skip_reason) == ("none", invented)
    assert not Outreach.objects.filter(mention=first).exists()
    assert asked
    assert all(policy is policies.X for policy in asked)

    refuse = False
    mentions_detect(mention_ids=[second.pk])
    thanks = Outreach.objects.get(mention=second, dedupe_key__startswith="thank:")
    outreach_approve(outreach_id=thanks.pk, user=None)
    client = brand_account_client(reloaded(account))
    assert client.reply_policy(in_reply_to=second.external_id) == ""

    asked.clear()
    refuse = True  # delivery, then the client itself
    failed = outreach_deliver(outreach_id=thanks.pk)
    assert failed.status == OutreachStatus.FAILED
    assert invented in failed.last_error
    assert client.reply_policy(in_reply_to=second.external_id) == (
        f"policy: {invented} (post {second.external_id})")
    assert len(asked) == 2
    assert all(policy is policies.X for policy in asked)
    assert not fake.calls("POST", "/2/tweets")  # nothing was sent


# --- direct messages (Account Activity `direct_message_events`) --------------------------------

def _dm(n: int, **kwargs) -> bytes:
    return json.dumps(dm_event(n, **kwargs)).encode()


def test_a_direct_message_event_lands_in_the_senders_conversation_once(deliver, account):
    url = f"/webhooks/x/{account.pk}/"
    body = _dm(1, text="Order 4411, the latte was cold")

    assert deliver(url, body).status_code == 403  # unsigned
    assert deliver(url, body, headers={"x-twitter-webhooks-signature": _signature(body)}
                   ).json()["stored"] is True
    assert deliver(url, body, headers={"x-twitter-webhooks-signature": _signature(body)}
                   ).json()["stored"] is False

    message = ConversationMessage.objects.get()
    assert (message.kind, message.platform, message.text) == (
        MessageKind.DM_IN, "x", "Order 4411, the latte was cold")
    assert message.external_id == "1861500000000000001"
    identity = message.conversation.identity
    assert (identity.platform_user_id, identity.handle, identity.display_name) == (
        "2244994945", "@fan_of_coffee", "Coffee Fan")
    assert Mention.objects.count() == 0
    assert WebhookDelivery.objects.get().error == ""


def test_the_brands_own_direct_messages_and_other_events_store_nothing(deliver, account):
    own = dm_event(2, sender=BRAND_ID)
    own["direct_message_events"].append({"type": "message_create", "id": "x-3"})  # no sender
    body = json.dumps(own).encode()
    stale = _dm(4, timestamp_ms=int((time.time() - 8 * 24 * 3600) * 1000))

    response = deliver(f"/webhooks/x/{account.pk}/", body,
                       headers={"x-twitter-webhooks-signature": _signature(body)})
    assert response.status_code == 200
    assert deliver(f"/webhooks/x/{account.pk}/", stale,
                   headers={"x-twitter-webhooks-signature": _signature(stale)}
                   ).status_code == 400
    assert not ConversationMessage.objects.exists()
    assert "direct message without an id, a sender or a time" in \
        WebhookDelivery.objects.get().error


def test_a_staff_dm_goes_to_the_dm_endpoint_once(deliver, account, fake):
    body = _dm(5)
    deliver(f"/webhooks/x/{account.pk}/", body,
            headers={"x-twitter-webhooks-signature": _signature(body)})
    staff = user_in_role(SOCIAL_STAFF, username="dm-staff")
    dm = conversation_reply(conversation_id=Conversation.objects.get().pk, user=staff,
                            text="Sorry! A new latte is on us.", channel="dm",
                            token=str(uuid.uuid4()))

    outreach_deliver(outreach_id=dm.pk)
    outreach_deliver(outreach_id=dm.pk)

    dm.refresh_from_db()
    assert dm.status == OutreachStatus.SENT
    assert fake.dms == [{"id": dm.platform_result_id, "to": "2244994945",
                         "text": "Sorry! A new latte is on us."}]


@pytest.mark.usefixtures("db", "default_data")
def test_a_rewarded_advocates_post_is_reshared_on_x_as_a_quote_with_the_disclosure_line(
        fake, account):
    """Routing proposes the reshare with the line, delivery sends it through the X client, which
    quotes the post (a retweet could not carry the line)."""
    from advocates.models import Outreach, OutreachKind, OutreachStatus
    from advocates.services import advocate_reward_received, mentions_detect
    from advocates.services.outreach import outreach_approve, outreach_deliver
    from tests.advocates.routing_helpers import brand_settings

    brand_settings(cooldown_days=0, tracked_handles=f"@{BRAND}", reshare_enabled=True,
                   reshare_requires_consent=False, brand_name="Kansha Coffee")
    fake.mentions = [tweet(1, text=f"@{BRAND} has the best cortado in town, thank you!")]
    brand_account_poll(account_id=account.pk)
    mention = Mention.objects.get()
    advocate_reward_received(advocate_id=mention.author.advocate_id, at=timezone.now())
    mentions_detect(mention_ids=[mention.pk])
    mention.refresh_from_db()
    if mention.route != "thank":
        pytest.skip(f"the detector did not call the post thankable: {mention.skip_reason}")

    reshare = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    line = "#ad @fan_of_coffee has received a reward from Kansha Coffee."
    assert reshare.proposed_text == line
    outreach_approve(outreach_id=reshare.pk, user=None)
    sent = outreach_deliver(outreach_id=reshare.pk)

    assert sent.status == OutreachStatus.SENT, sent.last_error
    assert fake.posted == [{"id": sent.platform_result_id, "text": line,
                            "quote_tweet_id": mention.external_id}]
    assert not fake.calls("POST", f"/2/users/{BRAND_ID}/retweets")
