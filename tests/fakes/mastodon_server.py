"""A fake Mastodon instance: notifications (types[], min_id/since_id/max_id, Link headers),
statuses (Idempotency-Key honoured), reblog/unreblog, the user notification SSE stream, and
X-RateLimit-* headers (reset as ISO 8601)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

BRAND_ID = "109000"


def account(n: int = 1, acct: str = "") -> dict[str, Any]:
    return {"id": str(200 + n), "username": f"fan{n}", "acct": acct or f"fan{n}@remote.example",
            "display_name": f"Fan {n}", "url": f"https://remote.example/@fan{n}",
            "followers_count": 40 + n}


def notification(n: int, *, reply_to: str | None = None, kind: str = "mention",
                 visibility: str = "public") -> dict[str, Any]:
    status = {
        "id": str(113000 + n), "created_at": f"2026-11-20T10:{n % 60:02d}:00.000Z",
        "in_reply_to_id": reply_to, "visibility": visibility, "language": "en",
        "uri": f"https://remote.example/users/fan1/statuses/{n}",
        "url": f"https://remote.example/@fan1/{n}",
        "content": f'<p><span class="h-card"><a href="https://social.example/@kansha" '
                   f'class="u-url mention">@<span>kansha</span></a></span> Lovely beans &amp; '
                   f'service #{n}</p>',
        "account": account(1),
    }
    return {"id": str(500 + n), "type": kind, "created_at": status["created_at"],
            "account": account(1), "status": status}


class FakeMastodon(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.notifications: list[dict[str, Any]] = []
        self.statuses: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.stream: list[str] = []
        self.remaining = 300
        self.on("GET", r"/api/v1/notifications", self._notifications)
        self.on("POST", r"/api/v1/statuses", self._post_status)
        self.on("GET", r"/api/v1/statuses/(\d+)", self._get_status)
        self.on("DELETE", r"/api/v1/statuses/(\d+)", self._delete_status)
        self.on("POST", r"/api/v1/statuses/(\d+)/reblog", self._reblog)
        self.on("POST", r"/api/v1/statuses/(\d+)/unreblog",
                lambda r, m: self._rl(Reply(200, {"id": m.group(1), "reblogged": False})))
        self.on("GET", r"/api/v1/accounts/verify_credentials",
                lambda r, m: self._rl(Reply(200, {"id": BRAND_ID, "acct": "kansha"})))
        self.on("GET", r"/api/v1/accounts/(\d+)", lambda r, m: self._rl(Reply(200, account(1))))
        self.on("GET", r"/api/v1/streaming/user/notification",
                lambda r, m: Reply(200, lines=list(self.stream),
                                   headers={"Content-Type": "text/event-stream"}))

    def base(self) -> str:
        return self.url

    def _rl(self, reply: Reply) -> Reply:
        self.remaining = max(self.remaining - 1, 0)
        reset = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        reply.headers.update({"X-RateLimit-Limit": "300",
                              "X-RateLimit-Remaining": str(self.remaining),
                              "X-RateLimit-Reset": reset})
        return reply

    def _notifications(self, req: Recorded, match) -> Reply:
        types = req.query.get("types[]") or []
        pool = sorted((n for n in self.notifications if not types or n["type"] in types),
                      key=lambda n: int(n["id"]))
        limit = min(int(req.q("limit") or 40), 40)
        if req.q("max_id"):
            pool = [n for n in pool if int(n["id"]) < int(req.q("max_id"))]
        if req.q("since_id"):
            pool = [n for n in pool if int(n["id"]) > int(req.q("since_id"))]
        if req.q("min_id"):  # the page immediately after min_id
            page = [n for n in pool if int(n["id"]) > int(req.q("min_id"))][:limit]
        else:  # the newest page
            page = pool[-limit:]
        page = list(reversed(page))  # Mastodon answers newest first
        headers = {}
        if page:
            base = f"{self.url}/api/v1/notifications"
            headers["Link"] = (f'<{base}?max_id={page[-1]["id"]}>; rel="next", '
                               f'<{base}?min_id={page[0]["id"]}>; rel="prev"')
        return self._rl(Reply(200, page, headers))

    def _post_status(self, req: Recorded, match) -> Reply:
        key = req.headers.get("idempotency-key")
        if key and key in self.by_key:
            return self._rl(Reply(200, self.by_key[key]))
        payload = req.json()
        quote = None
        if payload.get("quoted_status_id"):
            # Mastodon 4.5+: refused when the quoted author's policy does not let us quote.
            quoted = self._find(payload["quoted_status_id"])
            if quoted is None:
                return self._rl(Reply(404, {"error": "Record not found"}))
            if (quoted.get("quote_approval") or {}).get("current_user") == "denied":
                return self._rl(Reply(422, {"error": "Validation failed: Quote is not "
                                                     "allowed by the author"}))
            quote = {"state": "accepted", "quoted_status": quoted}
        new_id = str(114000 + len(self.statuses) + 1)
        status = {"id": new_id, "url": f"https://social.example/@kansha/{new_id}",
                  "content": payload["status"], "in_reply_to_id": payload.get("in_reply_to_id"),
                  "visibility": payload.get("visibility", "public"), "quote": quote}
        self.statuses[new_id] = status
        if key:
            self.by_key[key] = status
        return self._rl(Reply(200, status))

    def _find(self, status_id: str) -> dict[str, Any] | None:
        return next((n["status"] for n in self.notifications
                     if n["status"]["id"] == status_id), None)

    def _get_status(self, req: Recorded, match) -> Reply:
        status = self._find(match.group(1))
        if status is None:
            return self._rl(Reply(404, {"error": "Record not found"}))
        return self._rl(Reply(200, status))

    def _delete_status(self, req: Recorded, match) -> Reply:
        status = self.statuses.pop(match.group(1), None)
        if status is None:
            return self._rl(Reply(404, {"error": "Record not found"}))
        return self._rl(Reply(200, {**status, "text": status["content"]}))

    def _reblog(self, req: Recorded, match) -> Reply:
        new_id = str(115000 + len(self.statuses) + 1)
        wrapper = {"id": new_id, "url": None, "uri": f"https://social.example/users/kansha/"
                   f"statuses/{new_id}/activity", "reblog": {"id": match.group(1)}}
        self.statuses[new_id] = wrapper
        return self._rl(Reply(200, wrapper))

    def sse(self, note: dict[str, Any], event: str = "notification") -> list[str]:
        return [f"event: {event}", f"data: {json.dumps(note)}", ""]
