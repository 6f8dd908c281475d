"""LINE Official Account through the Messaging API: webhooks in, reply or push out.

LINE has no public posts for a brand to answer: a person who added the account as a friend
chats with it one to one. Inbound: `message`, `follow` and `unfollow` webhook events, signed
with `X-Line-Signature` (base64 HMAC-SHA256 of the raw body with the channel secret); the sender
is named by id only, so the parser looks up their profile (`GET /v2/bot/profile/{userId}`).
Outbound: an answer to a message uses that message's reply token while it is fresh (free of
charge, no retry key possible), otherwise a push message carrying `X-Line-Retry-Key` (our
outreach's idempotency key): LINE accepts one request per key and answers a repeat with 409,
which counts as delivered.

Account: `platform_user_id` = the bot's user id (the webhook's `destination`). config:
`base_url` (default https://api.line.me). credentials: `channel_secret` (signs webhooks),
`access_token` (a long-lived channel access token).

Why not the official `line-bot-sdk`: it is on PyPI (3.27), but its v3 client brings twelve
packages (aiohttp among them) for three HTTP calls, and runs on its own urllib3 client outside
`ApiSession`, which gives every other client its timeouts, error classes (transient, rate
limited, permanent) and quota records. The signature check is six lines (below).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import requests
from django.utils import timezone

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    MessageIn,
    PermanentError,
    PlatformError,
    PostResult,
    WebhookItems,
)
from advocates.platforms.http import (
    ApiSession,
    HttpPlatformClient,
    JsonWebhooks,
    QuotaHeaders,
    WebhookRejected,
    WebhookRequest,
    check_fresh,
    from_epoch,
    hmac_sha256,
    same,
    signed_body_read,
)

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

API_URL = "https://api.line.me"
SIGNATURE_HEADER = "X-Line-Signature"
# LINE redelivers a webhook it could not deliver for a while; anything older is a replay.
WEBHOOK_MAX_AGE = timedelta(hours=48)
# A reply token is valid for one use, and LINE only guarantees it within one minute of the
# webhook; past this we push instead of risking a refused reply.
REPLY_TOKEN_WINDOW = timedelta(seconds=50)
MAX_TEXT = 5000  # LINE's limit for one text message


class AlreadyAccepted(PlatformError):
    """LINE's 409 for a push whose retry key it accepted before: the message went out."""

    def __init__(self, body: dict[str, Any], request_id: str) -> None:
        super().__init__("push already accepted for this retry key")
        self.body = body
        self.request_id = request_id


def line_signature(channel_secret: str, body: bytes) -> str:
    return base64.b64encode(hmac_sha256(channel_secret, body)).decode()


def _classify(response: requests.Response) -> Exception | None:
    if response.status_code == 409 and response.request.headers.get("X-Line-Retry-Key"):
        try:
            body = response.json()
        except ValueError:
            body = {}
        return AlreadyAccepted(body if isinstance(body, dict) else {},
                               response.headers.get("x-line-accepted-request-id", ""))
    return None


class LineClient(JsonWebhooks, HttpPlatformClient):
    policy = policies.LINE

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = ApiSession(
            state=state, base_url=self.conf("base_url", API_URL),
            auth=lambda: {"Authorization": f"Bearer {self.secret('access_token')}"},
            quota=QuotaHeaders(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset"),
            classify=_classify)

    # --- webhooks --------------------------------------------------------------------------
    def webhook_verify(self, request: WebhookRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            raise WebhookRejected(403, f"{SIGNATURE_HEADER} header missing")
        if not same(given, line_signature(self.secret("channel_secret"), request.body)):
            raise WebhookRejected(403, "signature does not match")
        # Signed: a body too deep or too odd to read is acknowledged and stored as rejected,
        # never a 500 (tests/reliability/test_signed_input.py).
        with signed_body_read():
            try:
                body = json.loads(request.body)
            except ValueError:
                raise WebhookRejected(400, "body is not JSON") from None
            events = body.get("events") if isinstance(body, dict) else None
            if not isinstance(events, list):
                raise WebhookRejected(400, "events must be a list")
            # An empty list is the console's "Verify" request: accepted, nothing to do.
            for event in events:
                stamp = event.get("timestamp") if isinstance(event, dict) else None
                check_fresh(from_epoch(stamp / 1000) if isinstance(stamp, int | float) else None,
                            max_age=WEBHOOK_MAX_AGE, what="event timestamp")

    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        # A redelivery sets deliveryContext.isRedelivery, so the bodies differ: the event ids
        # are what stays the same.
        ids = sorted(str(e.get("webhookEventId")) for e in body.get("events") or []
                     if isinstance(e, dict) and e.get("webhookEventId"))
        if not ids:
            return super().webhook_dedupe_key(body)
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        return f"line:{self.account.pk}:events:{digest}"

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        """The one-to-one messages and follows in a delivery (group chats are not care)."""
        messages: list[MessageIn] = []
        rejected: list[str] = []
        names: dict[str, str] = {}
        for event in body.get("events") or []:
            source = event.get("source") or {}
            kind = event.get("type")
            if source.get("type") != "user" or kind not in ("message", "follow", "unfollow"):
                continue
            user_id, stamp = source.get("userId"), event.get("timestamp")
            if not user_id or not isinstance(stamp, int | float):
                rejected.append(f"{kind} event without a user id or timestamp")
                continue
            sent_at = from_epoch(stamp / 1000) or timezone.now()
            if kind != "unfollow" and user_id not in names:
                names[user_id] = self._display_name(user_id)
            if kind == "message":
                message = event.get("message") or {}
                if not message.get("id"):
                    rejected.append("message event without a message id")
                    continue
                text = message.get("text") if message.get("type") == "text" else \
                    f"[{message.get('type', 'message')}]"
                messages.append(MessageIn(
                    external_id=str(message["id"]), author_id=user_id, sent_at=sent_at,
                    text=str(text or ""), author_name=names.get(user_id, ""),
                    raw={"reply_token": event.get("replyToken", ""),
                         "webhook_event_id": event.get("webhookEventId", ""),
                         "message_type": message.get("type", "")}))
            else:
                event_id = event.get("webhookEventId") or f"{kind}:{user_id}:{stamp}"
                messages.append(MessageIn(
                    external_id=f"event:{event_id}", author_id=user_id, sent_at=sent_at,
                    event=kind, author_name=names.get(user_id, "")))
        return WebhookItems(rejected=rejected, messages=messages)

    def _display_name(self, user_id: str) -> str:
        try:
            profile = self.api.get(f"/v2/bot/profile/{user_id}")
        except PermanentError:  # not a friend (any more): the message is kept without a name
            return ""
        return str(profile.get("displayName") or "")

    # --- messages out ------------------------------------------------------------------------
    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        """Message a person: by reply token to their newest message while it is fresh,
        otherwise by push."""
        newest = self.state.inbound_message(author_id=recipient_id)
        return self._answer(recipient_id, newest, text, idempotency_key)

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        """Answer one stored message (by its id) in its chat."""
        message = self.state.inbound_message(external_id=in_reply_to)
        if message is None:
            raise PermanentError(f"no stored LINE message {in_reply_to}")
        return self._answer(message["author_id"], message, text, idempotency_key)

    def _answer(self, user_id: str, message: dict[str, Any] | None, text: str,
                idempotency_key: str) -> PostResult:
        if not text.strip() or len(text) > MAX_TEXT:
            raise PermanentError(f"a LINE text message needs 1 to {MAX_TEXT} characters")
        entry = self.state.ledger().get(idempotency_key)
        if entry and entry.get("id"):
            return PostResult(id=entry["id"], url="", raw={"replayed": True})
        token = ((message or {}).get("raw") or {}).get("reply_token") or ""
        fresh = message is not None and timezone.now() - message["at"] < REPLY_TOKEN_WINDOW
        # Only a first attempt uses the reply token: a reply cannot carry a retry key, so a
        # retry after an unclear failure pushes with the key instead.
        if token and fresh and entry is None:
            self.state.ledger_put(idempotency_key, {
                "action": "reply", "target": user_id, "pending": True,
                "at": timezone.now().isoformat()})
            try:
                answer = self.api.post("/v2/bot/message/reply", json={
                    "replyToken": token, "messages": [{"type": "text", "text": text}]})
            except PermanentError as exc:  # expired or used: push instead
                logger.info("LINE reply token refused (%s); pushing", exc)
            else:
                return self._sent(idempotency_key, "reply", user_id, answer)
        try:
            answer = self.api.post(
                "/v2/bot/message/push", headers={"X-Line-Retry-Key": idempotency_key},
                json={"to": user_id, "messages": [{"type": "text", "text": text}]})
        except AlreadyAccepted as done:
            answer = {**done.body, "accepted_request_id": done.request_id}
        return self._sent(idempotency_key, "push", user_id, answer)

    def _sent(self, key: str, how: str, user_id: str, answer: dict[str, Any]) -> PostResult:
        sent = answer.get("sentMessages") or []
        message_id = str(sent[0].get("id")) if sent and sent[0].get("id") else f"{how}:{key}"
        self.state.ledger_put(key, {"action": how, "target": user_id, "id": message_id,
                                    "at": timezone.now().isoformat()})
        return PostResult(id=message_id, url="", raw={"via": how, **answer})

    def check(self) -> dict[str, Any]:
        info = self.api.get("/v2/bot/info")
        return {"ok": True, "user_id": info.get("userId"), "basic_id": info.get("basicId"),
                "remaining": self.account.quota_remaining}
