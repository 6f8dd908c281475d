"""A fake Foursquare v2 API (check-in replies, users/self) and push payload builders in the
shape of the User and Venue Push APIs (form fields `checkin`, `user`, `secret`)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.platform_server import FakeServer, Recorded, Reply

VENUE_ID = "4b8c5e2ef964a520b1d032e3"


def checkin(n: int = 1, *, venue_id: str = VENUE_ID, created: int | None = None,
            with_user: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": f"5f3a{n:020d}", "createdAt": created or int(time.time()), "type": "checkin",
        "shout": f"Afternoon cortado ☕ #{n}", "timeZoneOffset": 540,
        "venue": {"id": venue_id, "name": "Kansha Coffee Shibuya",
                  "location": {"address": "1-2-3 Jinnan", "city": "Shibuya", "cc": "JP"},
                  "categories": [{"id": "4bf58dd8d48988d1e0931735", "name": "Coffee Shop",
                                  "primary": True}]},
    }
    if with_user:
        data["user"] = {"id": "33445566", "firstName": "Aiko", "lastName": "T."}
    return data


def user_push(item: dict[str, Any], secret: str | None) -> str:
    fields = {"checkin": json.dumps(item), "user": json.dumps({
        "id": "33445566", "firstName": "Aiko", "lastName": "T.", "gender": "female",
        "relationship": "self", "photo": {"prefix": "https://fastly.4sqi.net/img/user/",
                                          "suffix": "/abc.jpg"}})}
    if secret is not None:
        fields["secret"] = secret
    return urlencode(fields)


def venue_push(item: dict[str, Any], secret: str | None) -> str:
    fields = {"checkin": json.dumps(item)}
    if secret is not None:
        fields["secret"] = secret
    return urlencode(fields)


class FakeFoursquare(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.replies: list[dict[str, Any]] = []
        self.on("POST", r"/checkins/(\w+)/reply", self._reply)
        self.on("GET", r"/users/self", lambda r, m: Reply(200, {
            "meta": {"code": 200}, "response": {"user": {"id": "1", "firstName": "Kansha"}}},
            {"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "499"}))

    def _reply(self, req: Recorded, match) -> Reply:
        form = {k: v[0] for k, v in req.form().items()}
        self.replies.append({"checkin": match.group(1), **form})
        return Reply(200, {"meta": {"code": 200}, "response": {"reply": {
            "id": f"reply{len(self.replies)}", "createdAt": int(time.time()),
            "text": form["text"]}}}, {"X-RateLimit-Limit": "500",
                                      "X-RateLimit-Remaining": str(500 - len(self.replies))})
