"""A fake Graph API for a Facebook Page: /{page-id}/tagged (paging cursors, newest first),
POST /{object-id}/comments, GET comments, Messenger send, with X-App-Usage headers. Also the
helpers to build signed `feed` and `messaging` (Messenger) webhook deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

PAGE_ID = "104000000000001"


def usage(percent: int = 10, regain_minutes: int = 0) -> dict[str, str]:
    return {"X-App-Usage": json.dumps({"call_count": percent, "total_time": 1,
                                       "total_cputime": 1}),
            "X-Business-Use-Case-Usage": json.dumps({PAGE_ID: [{
                "type": "pages", "call_count": percent, "total_time": 1, "total_cputime": 1,
                "estimated_time_to_regain_access": regain_minutes}]})}


def tagged_post(n: int) -> dict[str, Any]:
    return {"id": f"{900 + n}_{5000 + n}", "message": f"Brunch at Kansha Coffee #{n}",
            "created_time": f"2026-11-20T{8 + n // 60:02d}:{n % 60:02d}:00+0000",
            "from": {"id": f"77{n % 3}", "name": f"Diner {n % 3}"},
            "permalink_url": f"https://www.facebook.com/{900 + n}/posts/{5000 + n}"}


def feed_change(item: str = "comment", *, verb: str = "add", n: int = 1,
                from_id: str = "771", created: int | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "from": {"id": from_id, "name": "Diner One"}, "item": item, "verb": verb,
        "post_id": f"{PAGE_ID}_{3000 + n}", "message": f"Loved the matcha, Kansha! #{n}",
        "created_time": created or int(time.time()),
    }
    if item == "comment":
        value.update(comment_id=f"{3000 + n}_{6000 + n}", parent_id=f"{PAGE_ID}_{3000 + n}")
    return {"field": "feed", "value": value}


def feed_delivery(*changes: dict[str, Any], entry_time: int | None = None) -> bytes:
    return json.dumps({"object": "page", "entry": [{
        "id": PAGE_ID, "time": entry_time or int(time.time()), "changes": list(changes)}]}
    ).encode()


def messaging_event(n: int, *, sender: str = "7100000000000001", recipient: str = PAGE_ID,
                    text: str | None = None, echo: bool = False,
                    timestamp_ms: int | None = None) -> dict[str, Any]:
    """One Messenger Platform (or Instagram Messaging) `messages` webhook event."""
    message: dict[str, Any] = {"mid": f"m_mid.{n:04d}", "text": text or f"Hello Kansha #{n}"}
    if echo:
        message.update(is_echo=True, app_id=1517776481860111)
    return {"sender": {"id": sender}, "recipient": {"id": recipient},
            "timestamp": timestamp_ms or int(time.time() * 1000), "message": message}


def messaging_delivery(*events: dict[str, Any], obj: str = "page", entry_id: str = PAGE_ID,
                       entry_time_ms: int | None = None) -> bytes:
    return json.dumps({"object": obj, "entry": [{
        "id": entry_id, "time": entry_time_ms or int(time.time() * 1000),
        "messaging": list(events)}]}).encode()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeFacebook(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tagged: list[dict[str, Any]] = []
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.on("GET", rf"/{PAGE_ID}/tagged", self._tagged)
        self.on("GET", rf"/{PAGE_ID}", lambda r, m: Reply(200, {"id": PAGE_ID,
                                                                "name": "Kansha Coffee"},
                                                          usage()))
        self.on("POST", r"/([\d_]+)/comments", self._comment)
        self.on("GET", r"/([\d_]+)/comments", self._comments)
        self.on("POST", rf"/{PAGE_ID}/messages", lambda r, m: Reply(200, {
            "recipient_id": r.json()["recipient"]["id"], "message_id": "m_abc123"}, usage()))

    def _tagged(self, req: Recorded, match) -> Reply:
        pool = sorted(self.tagged, key=lambda p: p["created_time"], reverse=True)
        start = int((req.q("after") or "c0")[1:])
        limit = int(req.q("limit") or 25)
        page = pool[start:start + limit]
        paging: dict[str, Any] = {"cursors": {"before": f"c{start}", "after": f"c{start + limit}"}}
        if start + limit < len(pool):
            paging["next"] = f"{self.url}/{PAGE_ID}/tagged?after=c{start + limit}"
        return Reply(200, {"data": page, "paging": paging}, usage())

    def _comment(self, req: Recorded, match) -> Reply:
        message = req.form()["message"][0]
        comments = self.comments.setdefault(match.group(1), [])
        new = {"id": f"{match.group(1)}_{len(comments) + 1}", "message": message,
               "from": {"id": PAGE_ID, "name": "Kansha Coffee"}}
        comments.append(new)
        return Reply(200, {"id": new["id"]}, usage())

    def _comments(self, req: Recorded, match) -> Reply:
        return Reply(200, {"data": list(reversed(self.comments.get(match.group(1), [])))},
                     usage())
