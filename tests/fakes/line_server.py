"""A fake LINE Messaging API (reply, push with X-Line-Retry-Key, profile, bot info) and
webhook bodies in its documented shape, signed as LINE signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

BOT_ID = "U0000000000000000000000000000bot"
USER_ID = "U4af4980629a1b2c3d4e5f60718293a4b"


def signature(channel_secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
                            ).decode()


def message_event(n: int = 1, *, text: str = "注文番号は4411です", user_id: str = USER_ID,
                  timestamp_ms: int | None = None, reply_token: str | None = None,
                  redelivery: bool = False) -> dict[str, Any]:
    return {
        "type": "message", "mode": "active",
        "timestamp": timestamp_ms or int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": f"01HLINEEVENT{n:014d}",
        "deliveryContext": {"isRedelivery": redelivery},
        "replyToken": reply_token or f"reply-token-{n}",
        "message": {"id": f"4685{n:014d}", "type": "text", "quoteToken": f"q-{n}", "text": text},
    }


def follow_event(n: int, kind: str = "follow", *, user_id: str = USER_ID) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind, "mode": "active", "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": f"01HLINEFOLLOW{n:013d}", "deliveryContext": {"isRedelivery": False}}
    if kind == "follow":
        event["replyToken"] = f"reply-token-follow-{n}"
    return event


def webhook_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": BOT_ID, "events": list(events)}).encode()


class FakeLine(FakeServer):
    """Reply tokens in `valid_tokens` work once; a push repeats its retry key → 409."""

    def __init__(self) -> None:
        super().__init__()
        self.valid_tokens: set[str] = set()
        self.delivered: list[dict[str, Any]] = []  # what users received
        self._accepted: dict[str, dict[str, Any]] = {}
        self.on("POST", r"/v2/bot/message/reply", self._reply)
        self.on("POST", r"/v2/bot/message/push", self._push)
        self.on("GET", r"/v2/bot/profile/(U\w+)", lambda r, m: Reply(200, {
            "userId": m.group(1), "displayName": "さくら", "language": "ja"}))
        self.on("GET", r"/v2/bot/info", lambda r, m: Reply(200, {
            "userId": BOT_ID, "basicId": "@kansha", "displayName": "カンシャ珈琲"}))

    def _sent(self) -> dict[str, Any]:
        return {"sentMessages": [{"id": str(uuid.uuid4().int)[:18], "quoteToken": "q"}]}

    def _reply(self, req: Recorded, match) -> Reply:
        body = req.json()
        token = body.get("replyToken")
        if token not in self.valid_tokens:
            return Reply(400, {"message": "Invalid reply token"})
        self.valid_tokens.discard(token)
        answer = self._sent()
        self.delivered.append({"via": "reply", "token": token,
                               "text": body["messages"][0]["text"], **answer})
        return Reply(200, answer)

    def _push(self, req: Recorded, match) -> Reply:
        key = req.headers.get("x-line-retry-key")
        if key and key in self._accepted:
            return Reply(409, {"message": "The retry key is already accepted",
                               **self._accepted[key]},
                         {"x-line-accepted-request-id": "req-" + key[:8]})
        body = req.json()
        answer = self._sent()
        if key:
            self._accepted[key] = answer
        self.delivered.append({"via": "push", "to": body["to"],
                               "text": body["messages"][0]["text"], **answer})
        return Reply(200, answer)
