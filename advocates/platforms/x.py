"""X (API v2): mentions timeline, filtered stream, Account Activity webhooks (posts and direct
messages), replies, retweets, direct messages.

Account: `platform_user_id` = the brand's user id, `handle` = its @username.
config: `base_url` (default https://api.x.com).
credentials: `access_token` + `refresh_token` (OAuth 2.0 user context, scopes tweet.read
tweet.write users.read offline.access), `client_id` (+ `client_secret` for confidential
clients), `bearer_token` (app-only, for the filtered stream), `consumer_secret` (the app's
API secret: CRC answers and webhook signatures).

Policy (`policies.X`, X's automation rules): reply only to posts that mention the brand, at most
once per post. Both are checked here too, before any request, with what X says about the post; a
refusal is a `PermanentError("policy: ...")`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    MessageIn,
    PermanentError,
    PollPage,
    PostResult,
    StreamEvent,
    WebhookItems,
)
from advocates.platforms.http import (
    SHAPE_ERRORS,
    ApiSession,
    HttpPlatformClient,
    JsonWebhooks,
    QuotaHeaders,
    WebhookRejected,
    WebhookRequest,
    check_fresh,
    from_epoch,
    from_iso,
    hmac_sha256,
    items_read,
    ledger_result_id,
    ledger_target_taken,
    outbound_once,
    same,
    shape_error_reason,
    signed_body_read,
)
from advocates.schemas import MentionIn, MentionKindName

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

BASE_URL = "https://api.x.com"
QUOTA = QuotaHeaders(remaining="x-rate-limit-remaining", reset="x-rate-limit-reset",
                     limit="x-rate-limit-limit", reset_kind="epoch")
TWEET_FIELDS = ("created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,"
                "entities,lang")
USER_FIELDS = "username,name,public_metrics,verified,created_at"
PAGE_SIZE = 100
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
# X retries a failed delivery for five minutes, and the Account Activity Replay API
# re-delivers events up to five days old to the same webhook; a day's margin on top. An older
# event can only be a replay of a captured delivery.
WEBHOOK_MAX_AGE = timedelta(days=6)


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The CRC answer: "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))."""
    digest = hmac_sha256(consumer_secret, crc_token.encode())
    return "sha256=" + base64.b64encode(digest).decode()


def webhook_signature(consumer_secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac_sha256(consumer_secret, body)).decode()


def _kind(tweet: dict[str, Any]) -> tuple[MentionKindName, str]:
    """(mention kind, replied-to id) from a v2 tweet's referenced_tweets."""
    refs = {r.get("type"): r.get("id") for r in tweet.get("referenced_tweets") or []}
    if "replied_to" in refs:
        return "reply", refs["replied_to"] or ""
    if "quoted" in refs:
        return "quote", ""
    return "post", ""


def _lang(tweet: dict[str, Any]) -> str:
    # "und" (undetermined), "zxx" (no text), "qme" (media only)… are not languages.
    lang = tweet.get("lang") or ""
    return "" if lang in {"und", "zxx", "qme", "qht", "qam", "art"} else lang[:8]


def tweet_item(tweet: dict[str, Any], user: dict[str, Any] | None) -> MentionIn:
    """A v2 tweet (plus its expanded author) as a mention."""
    user = user or {}
    username = user.get("username") or tweet.get("author_id", "")
    kind, replied_to = _kind(tweet)
    posted_at = from_iso(tweet.get("created_at")) or timezone.now()
    return MentionIn(
        platform="x", external_id=tweet["id"], author_id=tweet.get("author_id") or user["id"],
        author_handle=f"@{username}", author_name=user.get("name", ""),
        text=tweet.get("text", ""), posted_at=posted_at, kind=kind,
        url=f"https://x.com/{username}/status/{tweet['id']}", language=_lang(tweet),
        in_reply_to=replied_to,
        followers=(user.get("public_metrics") or {}).get("followers_count"),
    )


def v1_tweet_item(tweet: dict[str, Any]) -> MentionIn:
    """A v1.1 tweet object (what Account Activity webhooks deliver) as a mention."""
    user = tweet.get("user") or {}
    text = (tweet.get("extended_tweet") or {}).get("full_text") or tweet.get("full_text") \
        or tweet.get("text", "")
    try:
        posted_at = datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y")
    except (KeyError, ValueError):
        posted_at = timezone.now()
    replied_to = tweet.get("in_reply_to_status_id_str") or ""
    kind: MentionKindName = ("reply" if replied_to else "quote"
                             if tweet.get("is_quote_status") else "post")
    return MentionIn(
        platform="x", external_id=tweet["id_str"], author_id=user["id_str"],
        author_handle=f"@{user.get('screen_name', '')}", author_name=user.get("name", ""),
        text=text, posted_at=posted_at, kind=kind,
        url=f"https://x.com/{user.get('screen_name', 'i')}/status/{tweet['id_str']}",
        language=_lang(tweet),
        in_reply_to=replied_to, followers=user.get("followers_count"),
    )


class XClient(JsonWebhooks, HttpPlatformClient):
    policy = policies.X

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = ApiSession(state=state, base_url=self.conf("base_url", BASE_URL),
                              quota=QUOTA, auth=self._user_auth, refresh=self.refresh_token)
        self.app_api = ApiSession(state=state, base_url=self.conf("base_url", BASE_URL),
                                  quota=QUOTA, auth=self._app_auth)

    @property
    def user_id(self) -> str:
        if not self.account.platform_user_id:
            raise PermanentError(f"{self.account}: platform_user_id (the brand's X id) is unset")
        return self.account.platform_user_id

    @property
    def username(self) -> str:
        return self.account.handle.lstrip("@")

    # --- auth ---------------------------------------------------------------------------------
    def _user_auth(self) -> dict[str, str]:
        expires_at = from_iso(self.secrets.get("expires_at"))
        if expires_at and expires_at < timezone.now() + timedelta(seconds=30) \
                and self.secrets.get("refresh_token"):
            self.refresh_token()
        return {"Authorization": f"Bearer {self.secret('access_token')}"}

    def _app_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('bearer_token')}"}

    def refresh_token(self) -> bool:
        """OAuth 2.0 refresh (POST /2/oauth2/token); the new tokens are stored encrypted."""
        refresh = self.secrets.get("refresh_token")
        if not refresh:
            return False
        auth = None
        if self.secrets.get("client_secret"):
            auth = (self.secret("client_id"), self.secret("client_secret"))
        response = self.api.session.post(
            self.api.url("/2/oauth2/token"), auth=auth, timeout=self.api.timeout,
            data={"grant_type": "refresh_token", "refresh_token": refresh,
                  "client_id": self.secrets.get("client_id", "")})
        if response.status_code != 200:
            logger.warning("X token refresh for %s failed: %s", self.account, response.status_code)
            return False
        token = response.json()
        self.secrets_update(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token", refresh),
            expires_at=(timezone.now() + timedelta(seconds=int(token.get("expires_in", 7200))))
            .isoformat())
        return True

    # --- inbound: mentions timeline -------------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of GET /2/users/:id/mentions.

        Pages run newest → oldest inside (since_id, newest]. The newest id of the first page is
        held in the cursor while paginating (`newest_id`) and becomes `since_id` only when the
        last page is done, so a restart mid-way resumes with the same `pagination_token` and
        mentions that arrive meanwhile are picked up by the next run: no gap, no repeat.
        """
        params: dict[str, Any] = {"max_results": PAGE_SIZE, "tweet.fields": TWEET_FIELDS,
                                  "expansions": "author_id", "user.fields": USER_FIELDS}
        if cursor.get("since_id"):
            params["since_id"] = cursor["since_id"]
        if cursor.get("next_token"):
            params["pagination_token"] = cursor["next_token"]
        body = self.api.get(f"/2/users/{self.user_id}/mentions", params=params)
        meta = body.get("meta") or {}
        users = {u["id"]: u for u in (body.get("includes") or {}).get("users", [])}
        items, raws, rejected = items_read(
            body.get("data"), lambda tweet: (tweet_item(tweet, users.get(tweet.get("author_id"))),
                                             {"tweet": tweet,
                                              "author": users.get(tweet.get("author_id"))}))
        newest = cursor.get("newest_id") if cursor.get("next_token") else None
        newest = newest or meta.get("newest_id") or cursor.get("newest_id")
        if meta.get("next_token"):
            new_cursor = {"since_id": cursor.get("since_id"), "next_token": meta["next_token"],
                          "newest_id": newest}
            return PollPage(items=items, raw_payloads=raws, cursor=new_cursor, more=True,
                            rejected=rejected)
        since = newest or cursor.get("since_id")
        return PollPage(items=items, raw_payloads=raws,
                        cursor={"since_id": since} if since else {}, more=False,
                        rejected=rejected)

    def check(self) -> dict[str, Any]:
        me = self.api.get("/2/users/me", params={"user.fields": "username"})
        return {"ok": True, "user": (me.get("data") or {}).get("username"),
                "quota_remaining": self.account.quota_remaining,
                "quota_reset_at": self.account.quota_reset_at}

    # --- inbound: filtered stream ---------------------------------------------------------------
    def stream_rules_sync(self, rules: dict[str, str]) -> dict[str, Any]:
        """Make the filtered-stream rules exactly {tag: value}; return what was added/deleted."""
        current = self.app_api.get("/2/tweets/search/stream/rules").get("data") or []
        wanted = {(value, tag) for tag, value in rules.items()}
        stale = [r["id"] for r in current if (r.get("value"), r.get("tag")) not in wanted]
        have = {(r.get("value"), r.get("tag")) for r in current}
        missing = [{"value": value, "tag": tag} for value, tag in sorted(wanted - have)]
        if stale:
            self.app_api.post("/2/tweets/search/stream/rules", json={"delete": {"ids": stale}})
        if missing:
            self.app_api.post("/2/tweets/search/stream/rules", json={"add": missing})
        return {"added": missing, "deleted": stale}

    def brand_rule(self) -> dict[str, str]:
        """The default rule: posts mentioning the brand, not by the brand, no retweets."""
        return {"kansha-mentions": f"@{self.username} -from:{self.username} -is:retweet"}

    def stream_frames(self, *, position: dict[str, Any] | None = None) -> Iterator[str]:
        """GET /2/tweets/search/stream, line by line (the filtered stream cannot replay, so
        `position` is unused; the poller's cursor covers what a disconnect missed)."""
        return self.app_api.lines(
            "/2/tweets/search/stream", timeout=(5.0, 90.0),  # X sends a keep-alive every 20 s
            params={"tweet.fields": TWEET_FIELDS, "expansions": "author_id",
                    "user.fields": USER_FIELDS})

    def stream_events(self, frames: Iterable[str]) -> Iterator[StreamEvent]:
        for item, raw in stream_items(frames):
            yield StreamEvent(raw=raw, item=item)

    def stream_mentions(self, events: list[StreamEvent],
                        known: dict[str, dict[str, str]]) -> list[MentionIn]:
        return [e.item for e in events if e.item is not None]

    # --- outbound -------------------------------------------------------------------------------
    def reply_policy(self, *, in_reply_to: str, idempotency_key: str = "") -> str:
        """Why a reply to this post is not allowed ("" when it is): the policy's automation
        rule on what X says the post mentions, and one reply per post by our own ledger."""
        tweet = self._tweet_for_policy(in_reply_to)
        reason = self.policy.reply_refusal(tweet_target(
            tweet, user_id=self.account.platform_user_id, username=self.username))
        if reason:
            return f"policy: {reason} (post {in_reply_to})"
        if ledger_target_taken(self.state, action="reply", target=in_reply_to,
                               idempotency_key=idempotency_key):
            return f"policy: already replied to post {in_reply_to}"
        return ""

    def _tweet_for_policy(self, tweet_id: str) -> dict[str, Any]:
        raw = self.state.stored_post(tweet_id)
        if raw:
            tweet: dict[str, Any] = raw.get("tweet", raw)
            return tweet
        body = self.api.get(f"/2/tweets/{tweet_id}",
                            params={"tweet.fields": "entities,author_id,text"})
        return body.get("data") or {}

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        reason = self.reply_policy(in_reply_to=in_reply_to, idempotency_key=idempotency_key)
        if reason:
            raise PermanentError(reason)

        def send() -> PostResult:
            body = self.api.post("/2/tweets", json={
                "text": text, "reply": {"in_reply_to_tweet_id": in_reply_to}})
            data = body.get("data") or {}
            return PostResult(id=data["id"], url=self._url(data["id"]), raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="reply",
                             target=in_reply_to, send=send,
                             find_earlier=lambda: self._earlier("replied_to", in_reply_to))

    def _earlier(self, reference: str, tweet_id: str) -> PostResult | None:
        """Our own recent post replying to ("replied_to") or quoting ("quoted") this post, if an
        ambiguous earlier attempt did post it."""
        body = self.api.get(f"/2/users/{self.user_id}/tweets",
                            params={"max_results": 100, "tweet.fields": "referenced_tweets"})
        for tweet in body.get("data") or []:
            if {"type": reference, "id": tweet_id} in (tweet.get("referenced_tweets") or []):
                return PostResult(id=tweet["id"], url=self._url(tweet["id"]), raw=tweet)
        return None

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        if text:
            return self._quote(external_id=external_id, text=text,
                               idempotency_key=idempotency_key)

        def send() -> PostResult:
            body = self.api.post(f"/2/users/{self.user_id}/retweets",
                                 json={"tweet_id": external_id})
            # The v2 answer carries no id for the retweet itself; the retweeted post's id is
            # what undo_reshare needs.
            return PostResult(id=external_id, url=f"https://x.com/i/status/{external_id}",
                              raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="retweet",
                             target=external_id, send=send)

    def _quote(self, *, external_id: str, text: str, idempotency_key: str) -> PostResult:
        """A retweet carries no text: a reshare that must say something (a disclosure line) is a
        quote post, the text above the quoted post."""
        def send() -> PostResult:
            body = self.api.post("/2/tweets", json={"text": text, "quote_tweet_id": external_id})
            data = body.get("data") or {}
            return PostResult(id=data["id"], url=self._url(data["id"]), raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="quote",
                             target=external_id, send=send,
                             find_earlier=lambda: self._earlier("quoted", external_id))

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        quote_id = ledger_result_id(self.state, action="quote", target=external_id)
        if quote_id:
            body = self.api.json("DELETE", f"/2/tweets/{quote_id}")
            return PostResult(id=quote_id, raw=body)
        body = self.api.json("DELETE", f"/2/users/{self.user_id}/retweets/{external_id}")
        return PostResult(id=external_id, raw=body)

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        def send() -> PostResult:
            body = self.api.post(f"/2/dm_conversations/with/{recipient_id}/messages",
                                 json={"text": text})
            data = body.get("data") or {}
            return PostResult(id=data.get("dm_event_id", ""), raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="dm",
                             target=recipient_id, send=send)

    def _url(self, tweet_id: str) -> str:
        return f"https://x.com/{self.username or 'i'}/status/{tweet_id}"

    # --- webhooks (Account Activity) ------------------------------------------------------------
    def webhook_handshake(self, request: WebhookRequest) -> tuple[int, str, str]:
        crc_token = request.query.get("crc_token")
        if not crc_token:
            raise WebhookRejected(400, "crc_token missing")
        token = crc_response_token(self.secret("consumer_secret"), crc_token)
        return 200, "application/json", json.dumps({"response_token": token})

    def webhook_verify(self, request: WebhookRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise WebhookRejected(403, f"{SIGNATURE_HEADER} header missing")
        if not same(given, webhook_signature(self.secret("consumer_secret"), request.body)):
            raise WebhookRejected(403, "signature does not match")
        # X signs no header timestamp, but the signed body dates each event; only after the
        # signature matched are those dates worth trusting.
        with signed_body_read():
            check_events_fresh(self.webhook_body(request))

    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        keyed = (("tweet_create_events", "id_str", "tweets"),
                 ("direct_message_events", "id", "dms"))
        parts = []
        for field_name, id_field, label in keyed:
            events = body.get(field_name)
            if events is None:
                continue
            raw_ids = [e.get(id_field) for e in events if isinstance(e, dict)] \
                if isinstance(events, list) else [None]
            # An id that is not a non-empty string (a forged or broken event) falls back to
            # the content hash, so the delivery is still stored once.
            ids = sorted(i for i in raw_ids if isinstance(i, str) and i)
            if not ids or len(ids) != len(raw_ids):
                return super().webhook_dedupe_key(body)
            parts.append(f"{label}:{','.join(ids)}")
        if parts:
            return f"{self.platform}:{body.get('for_user_id', '')}:{':'.join(parts)}"
        return super().webhook_dedupe_key(body)

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        me = self.account.platform_user_id

        def read(tweet: dict[str, Any]) -> tuple[MentionIn, dict[str, Any]] | None:
            if (tweet.get("user") or {}).get("id_str") == me:
                return None  # our own posts come through the same feed
            if not tweet_mentions(tweet, user_id=me, username=self.username):
                return None
            return v1_tweet_item(tweet), tweet

        items, raws, rejected = items_read(body.get("tweet_create_events"), read)
        messages, unread = direct_messages_read(body, brand_id=me)
        return WebhookItems(items=items, raw_payloads=raws, rejected=rejected + unread,
                            messages=messages)


def direct_messages_read(body: dict[str, Any], *, brand_id: str
                         ) -> tuple[list[MessageIn], list[str]]:
    """The direct messages people sent the brand in an Account Activity delivery.

    `direct_message_events` holds `message_create` events both ways (what the brand sends
    comes back through the same feed: those are skipped); `users` names the senders by id.
    """
    events = body.get("direct_message_events")
    if events in (None, []):
        return [], []
    if not isinstance(events, list):
        return [], [f"malformed payload: expected a list, got {type(events).__name__}"]
    users: dict[str, Any] = body["users"] if isinstance(body.get("users"), dict) else {}
    messages: list[MessageIn] = []
    rejected: list[str] = []
    for event in events:
        try:
            message = _direct_message(event, users=users, brand_id=brand_id)
        except _Unreadable as exc:
            rejected.append(str(exc))
            continue
        except SHAPE_ERRORS as exc:  # one odd event never costs the others
            rejected.append(shape_error_reason(exc))
            continue
        if message is not None:
            messages.append(message)
    return messages, rejected


class _Unreadable(ValueError):
    """An event whose missing field says why it was skipped (no contents in the words)."""


def _direct_message(event: Any, *, users: dict[str, Any], brand_id: str) -> MessageIn | None:
    """One `message_create` event from a person as a message (None: not one for us)."""
    if not isinstance(event, dict) or event.get("type") != "message_create":
        return None  # typing indicators and read receipts come under other keys or types
    create = event.get("message_create") or {}
    sender, sent_at = create.get("sender_id"), event_time(event)
    if not isinstance(sender, str) or not sender or not isinstance(event.get("id"), str) \
            or sent_at is None:
        raise _Unreadable("direct message without an id, a sender or a time")
    if sender == brand_id:
        return None  # what the brand sends comes back through the same feed
    data = create.get("message_data") or {}
    person: dict[str, Any] = users[sender] if isinstance(users.get(sender), dict) else {}
    name = person.get("screen_name") or ""
    return MessageIn(
        external_id=event["id"], author_id=sender, sent_at=sent_at,
        text=str(data.get("text") or ""), author_handle=f"@{name}" if name else "",
        author_name=str(person.get("name") or ""),
        raw={"recipient_id": str((create.get("target") or {}).get("recipient_id") or "")})


def event_time(event: dict[str, Any]) -> datetime | None:
    """When an Account Activity event happened.

    Tweet objects carry `created_at` ("Wed Oct 10 20:19:24 +0000 2018") and, as delivered by
    the activity APIs, `timestamp_ms`; likes carry `timestamp_ms`; follows, blocks, mutes and
    direct messages `created_timestamp` (milliseconds, as a string).
    """
    for key in ("timestamp_ms", "created_timestamp"):
        raw = event.get(key)
        if raw not in (None, ""):
            try:
                moment = from_epoch(int(raw) / 1000)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                return moment
    try:
        return datetime.strptime(str(event["created_at"]), "%a %b %d %H:%M:%S %z %Y")
    except (KeyError, ValueError):
        return None


def check_events_fresh(body: dict[str, Any]) -> None:
    """Reject a delivery whose events are all older than `WEBHOOK_MAX_AGE` (or in the future).

    A delivery is stale only if every dated event in it is: one fresh event is worth storing.
    A delivery with no dated event (e.g. an authorization revoke) cannot be judged; the dedupe
    key absorbs its replays.
    """
    moments = [moment for key, events in body.items()
               if key.endswith("_events") and isinstance(events, list)
               for event in events if isinstance(event, dict)
               if (moment := event_time(event)) is not None]
    if not moments:
        return
    now = timezone.now()
    fresh_enough = [m for m in moments if m <= now + timedelta(minutes=5)]
    check_fresh(max(fresh_enough) if fresh_enough else max(moments),
                max_age=WEBHOOK_MAX_AGE, what="events")


def tweet_target(tweet: dict[str, Any], *, user_id: str, username: str) -> policies.ReplyTarget:
    """A tweet (v2 or v1.1 shape) as the automation rule sees it: whom it @-mentions."""
    entities = tweet.get("entities") or {}
    v2, v1 = entities.get("mentions") or [], entities.get("user_mentions") or []
    return policies.ReplyTarget(
        kind=_kind(tweet)[0], text=tweet.get("text") or "",
        brand_names=(f"@{username}",) if username else (),
        brand_ids=(user_id,) if user_id else (),
        mentioned_names=tuple(n for n in [*(m.get("username") for m in v2),
                                          *(m.get("screen_name") for m in v1)] if n),
        mentioned_ids=tuple(i for i in [*(m.get("id") for m in v2),
                                        *(m.get("id_str") for m in v1)] if i))


def tweet_mentions(tweet: dict[str, Any], *, user_id: str, username: str) -> bool:
    """Whether a tweet (v2 or v1.1 shape) @-mentions the brand: the policy's own test."""
    return policies.mentions_brand_account(tweet_target(tweet, user_id=user_id, username=username))


def stream_items(lines: Iterable[str]) -> Iterator[tuple[MentionIn, dict[str, Any]]]:
    """Turn filtered-stream lines into (mention, raw) pairs.

    Blank lines are X's keep-alives; an `errors` frame (e.g. operational disconnect) is logged
    and skipped.
    """
    for line in lines:
        if not line or not line.strip():
            continue
        try:
            frame = json.loads(line)
        except ValueError:
            logger.warning("X stream: unparseable line %r", line[:200])
            continue
        tweet = frame.get("data")
        if not tweet:
            logger.warning("X stream: %s", frame.get("errors") or frame)
            continue
        users = {u["id"]: u for u in (frame.get("includes") or {}).get("users", [])}
        user = users.get(tweet.get("author_id"))
        yield tweet_item(tweet, user), {"tweet": tweet, "author": user,
                                        "matching_rules": frame.get("matching_rules", [])}
