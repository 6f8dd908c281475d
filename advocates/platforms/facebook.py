"""Facebook Pages: `feed` webhooks, `/{page-id}/tagged` polling, comment replies, Messenger.

Also the Meta plumbing Instagram shares: the Graph API session (Meta's rate-limit error codes
and `X-App-Usage` / `X-Business-Use-Case-Usage` headers), the `hub.challenge` handshake and the
`X-Hub-Signature-256` check.

Account: `platform_user_id` = the Page id. config: `base_url` (default
https://graph.facebook.com/v21.0). credentials: `access_token` (a Page access token: long-lived
Page tokens do not expire, so there is nothing to refresh), `app_secret` (signs webhooks),
`verify_token` (our choice, entered in the app dashboard for the handshake).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from django.utils import timezone

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    MessageIn,
    PermanentError,
    PollPage,
    PostResult,
    RateLimited,
    TransientError,
    WebhookItems,
)
from advocates.platforms.http import (
    SHAPE_ERRORS,
    ApiSession,
    HttpPlatformClient,
    JsonWebhooks,
    WebhookMalformed,
    WebhookRejected,
    WebhookRequest,
    check_fresh,
    from_epoch,
    from_iso,
    items_read,
    outbound_once,
    same,
    shape_error_reason,
    signed_body_read,
    walk_back,
)
from advocates.schemas import MentionIn, MentionKindName

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
# Meta retries a failed delivery for up to 36 hours; anything older than this is a replay.
WEBHOOK_MAX_AGE = timedelta(hours=48)
# Graph API error codes that mean "throttled" (app, user, page, custom and BUC limits).
RATE_LIMIT_CODES = {4, 17, 32, 613, *range(80001, 80015)}
PAGE_SIZE = 50


class MetaUsageQuota:
    """Meta reports usage as percentages in JSON headers, not as a remaining count.

    remaining = 100 − the highest percentage; reset = now + estimated_time_to_regain_access
    (minutes) when Meta gives one.
    """

    def read(self, headers: Any) -> tuple[int | None, datetime | None]:
        percents: list[float] = []
        regain = 0
        for name in ("X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage"):
            raw = headers.get(name)
            if not raw:
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            blocks = [data] if name != "X-Business-Use-Case-Usage" else [
                b for v in data.values() for b in (v if isinstance(v, list) else [v])]
            for block in blocks:
                percents += [float(block.get(k) or 0) for k in
                             ("call_count", "total_time", "total_cputime")]
                regain = max(regain, int(block.get("estimated_time_to_regain_access") or 0))
        if not percents:
            return None, None
        reset = timezone.now() + timedelta(minutes=regain) if regain else None
        return max(0, int(100 - max(percents))), reset


def classify_graph_error(response: requests.Response) -> Exception | None:
    """Meta throttling comes as HTTP 400/403 with an error code, not always as a 429."""
    try:
        error = (response.json() or {}).get("error") or {}
    except ValueError:
        return None
    if error.get("code") in RATE_LIMIT_CODES:
        _, reset = MetaUsageQuota().read(response.headers)
        return RateLimited(reset or timezone.now() + timedelta(hours=1),
                           f"Graph API throttled (code {error.get('code')})")
    if error.get("is_transient"):
        return TransientError(f"Graph API transient error: {error.get('message')}")
    return None


def graph_session(state: AccountState, base_url: str, token: Callable[[], str]) -> ApiSession:
    return ApiSession(state=state, base_url=base_url, quota=MetaUsageQuota(),
                      auth=lambda: {"Authorization": f"Bearer {token()}"},
                      classify=classify_graph_error)


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class MetaWebhooks:
    """The handshake and signature scheme Facebook and Instagram webhooks share."""

    webhook_object: ClassVar[str]

    def webhook_handshake(self, request: WebhookRequest) -> tuple[int, str, str]:
        if request.query.get("hub.mode") != "subscribe":
            raise WebhookRejected(400, "hub.mode must be subscribe")
        token = request.query.get("hub.verify_token") or ""
        if not same(token, self.secret("verify_token")):  # type: ignore[attr-defined]
            raise WebhookRejected(403, "hub.verify_token does not match")
        return 200, "text/plain", request.query.get("hub.challenge") or ""

    def webhook_verify(self, request: WebhookRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise WebhookRejected(403, f"{SIGNATURE_HEADER} header missing")
        expected = meta_signature(self.secret("app_secret"), request.body)  # type: ignore
        if not same(given.lower(), expected):
            raise WebhookRejected(403, "signature does not match")
        # Only a signed body's timestamps are worth trusting, so freshness is checked after.
        with signed_body_read():
            body = self.webhook_body(request)  # type: ignore[attr-defined]
            if body.get("object") != self.webhook_object:
                raise WebhookRejected(400, f"object is not {self.webhook_object!r}")
            entries = body.get("entry") or []
            if not isinstance(entries, list):
                raise WebhookMalformed("malformed payload: entry is not a list")
            # Stale only if every dated entry is (as for X): an odd entry without a time is
            # rejected on its own when the delivery is read, and must not cost the good
            # entries beside it; the signature covers the whole body, so no fresh entry can
            # be added to a replayed one.
            moments = [m for e in entries if isinstance(e, dict)
                       if (m := _entry_time(e.get("time"))) is not None]
            if entries or moments:
                now = timezone.now()
                fresh = [m for m in moments if m <= now + timedelta(minutes=5)]
                check_fresh(max(fresh or moments, default=None), max_age=WEBHOOK_MAX_AGE,
                            what="entry.time")


def meta_changes_read(body: dict[str, Any], read: Callable[[dict[str, Any]], Any]
                      ) -> WebhookItems:
    """`read` over every change of every entry of a Meta webhook body (`items_read`): an odd
    entry or change is rejected on its own, the readable ones beside it still count."""
    found = WebhookItems()
    entries = body.get("entry")

    def changes(entry: dict[str, Any]) -> None:
        items, raws, rejected = items_read(entry.get("changes"), read)
        found.items.extend(items)
        found.raw_payloads.extend(raws)
        found.rejected.extend(rejected)
        return None

    found.rejected.extend(items_read(entries, changes)[2])
    return found


def meta_message_ids(body: dict[str, Any]) -> list[str]:
    """The `message.mid` of every messaging event in a Meta webhook body (for dedupe keys)."""
    return sorted(str((event.get("message") or {}).get("mid") or "")
                  for entry in body.get("entry") or [] if isinstance(entry, dict)
                  for event in entry.get("messaging") or [] if isinstance(event, dict)
                  and isinstance(event.get("message"), dict))


def meta_messages_read(body: dict[str, Any], *, brand_id: str
                       ) -> tuple[list[MessageIn], list[str]]:
    """The direct messages people sent the brand in a Meta webhook delivery (Messenger for a
    Page, Instagram Messaging for a professional account): each entry's `messaging` events
    with a `message` (sender.id, recipient.id, timestamp in ms, message.mid, message.text).

    Echoes of what the brand sent (`message.is_echo`, or the brand as sender) and the other
    events (deliveries, reads, reactions, postbacks) are skipped; an odd event is rejected on
    its own (the reason names no contents) and the readable ones beside it still count.
    """
    messages: list[MessageIn] = []
    rejected: list[str] = []
    entries = body.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        events = entry.get("messaging") if isinstance(entry, dict) else None
        if events is None:
            continue
        if not isinstance(events, list):
            rejected.append("malformed payload: messaging is not a list")
            continue
        for event in events:
            try:
                message = _messaging_event(event, brand_id=brand_id)
            except SHAPE_ERRORS as exc:
                rejected.append(str(exc) if isinstance(exc, _Unreadable)
                                else shape_error_reason(exc))
                continue
            if message is not None:
                messages.append(message)
    return messages, rejected


class _Unreadable(ValueError):
    """A messaging event whose missing field says why it was skipped."""


def _messaging_event(event: Any, *, brand_id: str) -> MessageIn | None:
    if not isinstance(event, dict):
        raise _Unreadable("malformed payload: a messaging event is not an object")
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None  # deliveries, reads, reactions, postbacks; the brand's own echoes
    sender = (event.get("sender") or {}).get("id")
    sent_at = _entry_time(event.get("timestamp"))
    if not isinstance(sender, str) or not sender or not isinstance(message.get("mid"), str) \
            or not message["mid"] or sent_at is None:
        raise _Unreadable("direct message without a mid, a sender or a time")
    if sender == brand_id:
        return None
    raw: dict[str, Any] = {"recipient_id": str((event.get("recipient") or {}).get("id") or ""),
                           "sender_id": sender}
    attachments = message.get("attachments")
    if isinstance(attachments, list) and attachments:
        raw["attachments"] = [str((a or {}).get("type") or "") for a in attachments
                              if isinstance(a, dict)]
    return MessageIn(external_id=message["mid"], author_id=sender, sent_at=sent_at,
                     text=str(message.get("text") or ""), raw=raw)


def _entry_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 1e12:  # some objects send milliseconds
        value = value / 1000
    return from_epoch(value)


class FacebookClient(MetaWebhooks, JsonWebhooks, HttpPlatformClient):
    policy = policies.FACEBOOK
    webhook_object = "page"

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = graph_session(state, self.conf("base_url", GRAPH_URL),
                                 lambda: self.secret("access_token"))

    @property
    def page_id(self) -> str:
        if not self.account.platform_user_id:
            raise PermanentError(f"{self.account}: platform_user_id (the Page id) is unset")
        return self.account.platform_user_id

    # --- inbound: /{page-id}/tagged ----------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of posts the Page is tagged in, newest first; resumes with `walk_back`."""
        params: dict[str, Any] = {"fields": "id,message,created_time,from,permalink_url",
                                  "limit": PAGE_SIZE}
        if cursor.get("page"):
            params["after"] = cursor["page"]
        body = self.api.get(f"/{self.page_id}/tagged", params=params)
        paging = body.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
        kept, new_cursor, more = walk_back(
            entries=body.get("data") or [], cursor=cursor, next_page=after,
            ts=lambda e: from_iso(e.get("created_time")), uid=lambda e: e["id"])
        def read(post: dict[str, Any]) -> tuple[MentionIn, dict[str, Any]] | None:
            author = post.get("from") or {}
            if not author.get("id") or author["id"] == self.page_id:
                return None
            return MentionIn(
                platform="facebook", external_id=post["id"], author_id=author["id"],
                author_handle=author.get("name", "")[:200], author_name=author.get("name", ""),
                text=post.get("message", ""), kind="tag",
                posted_at=from_iso(post.get("created_time")) or timezone.now(),
                url=post.get("permalink_url") or f"https://www.facebook.com/{post['id']}"
            ), {"via": "tagged", **post}

        items, raws, rejected = items_read(kept, read)
        return PollPage(items=items, raw_payloads=raws, cursor=new_cursor, more=more,
                        rejected=rejected)

    def check(self) -> dict[str, Any]:
        page = self.api.get(f"/{self.page_id}", params={"fields": "id,name"})
        return {"ok": True, "user": page.get("name"),
                "quota_remaining": self.account.quota_remaining,
                "quota_reset_at": self.account.quota_reset_at}

    # --- inbound: feed webhooks ----------------------------------------------------------------
    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        parts = []
        for entry in body.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                parts.append(":".join(str(value.get(k, "")) for k in (
                    "item", "verb", "comment_id", "post_id", "created_time")))
        parts += [f"mid:{mid}" for mid in meta_message_ids(body)]
        if not parts:
            return super().webhook_dedupe_key(body)
        key = f"facebook:{self.account.pk}:" + "|".join(sorted(parts))
        if len(key) > 191:
            key = f"facebook:{self.account.pk}:sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return key

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        def read(change: dict[str, Any]) -> tuple[MentionIn, dict[str, Any]] | None:
            if change.get("field") != "feed":
                return None
            value = change.get("value") or {}
            item = feed_change_item(value, page_id=self.page_id)
            return None if item is None else (item, {"via": "feed", **value})

        found = meta_changes_read(body, read)
        # Messenger: a person's messages to the Page, keyed by their page-scoped id (PSID),
        # which is also where `send_dm` answers them.
        messages, unread = meta_messages_read(body, brand_id=self.page_id)
        return WebhookItems(items=found.items, raw_payloads=found.raw_payloads,
                            rejected=found.rejected + unread, messages=messages)

    # --- outbound ------------------------------------------------------------------------------
    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        def send() -> PostResult:
            body = self.api.post(f"/{in_reply_to}/comments", data={"message": text})
            return PostResult(id=body["id"], url=f"https://www.facebook.com/{body['id']}",
                              raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="reply",
                             target=in_reply_to, send=send,
                             find_earlier=lambda: self._earlier_comment(in_reply_to, text))

    def _earlier_comment(self, object_id: str, text: str) -> PostResult | None:
        body = self.api.get(f"/{object_id}/comments", params={
            "fields": "id,from,message", "order": "reverse_chronological", "limit": 50})
        for comment in body.get("data") or []:
            if (comment.get("from") or {}).get("id") == self.page_id \
                    and comment.get("message") == text:
                return PostResult(id=comment["id"], raw=comment)
        return None

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        def send() -> PostResult:
            body = self.api.post(f"/{self.page_id}/messages", json={
                "recipient": {"id": recipient_id}, "messaging_type": "RESPONSE",
                "message": {"text": text}})
            return PostResult(id=body.get("message_id", ""), raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="dm",
                             target=recipient_id, send=send)


FEED_ITEMS: dict[str, MentionKindName] = {
    "comment": "comment", "post": "post", "status": "post", "photo": "post", "video": "post",
    "share": "post"}


def feed_change_item(value: dict[str, Any], *, page_id: str) -> MentionIn | None:
    """A `feed` change value as a mention, or None (our own posts, edits, removals, likes)."""
    if value.get("verb") != "add" or value.get("item") not in FEED_ITEMS:
        return None
    author = value.get("from") or {}
    if not author.get("id") or author["id"] == page_id:
        return None
    kind = FEED_ITEMS[value["item"]]
    external_id = value.get("comment_id") if kind == "comment" else value.get("post_id")
    if not external_id:
        return None
    created = value.get("created_time")
    posted_at = (from_epoch(created) if isinstance(created, int | float)
                 else from_iso(created)) or timezone.now()
    in_reply_to = ""
    if kind == "comment":
        in_reply_to = value.get("parent_id") or value.get("post_id") or ""
    return MentionIn(
        platform="facebook", external_id=str(external_id), author_id=str(author["id"]),
        author_handle=author.get("name", "")[:200], author_name=author.get("name", "")[:200],
        text=value.get("message", ""), kind=kind, posted_at=posted_at,
        url=value.get("permalink_url") or f"https://www.facebook.com/{external_id}",
        in_reply_to=in_reply_to)
