"""A fake Google Business Profile API: reviews.list (pageSize, pageToken, nextPageToken,
averageRating, totalReviewCount), reviews.get, reviews.updateReply (PUT …/reply), and the
OAuth 2.0 token endpoint. Also Pub/Sub push envelopes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

ACCOUNT = "accounts/112233445566"
LOCATIONS = {f"{ACCOUNT}/locations/1001": "Kansha Shibuya",
             f"{ACCOUNT}/locations/1002": "Kansha Kyoto"}
STARS = ["ONE", "TWO", "THREE", "FOUR", "FIVE"]


def review(n: int, location: str = f"{ACCOUNT}/locations/1001", *, stars: int = 5,
           anonymous: bool = False) -> dict[str, Any]:
    review_id = f"AbFvOq{n:06d}xyz"
    stamp = f"2026-11-{10 + n // 1440:02d}T{(n // 60) % 24:02d}:{n % 60:02d}:00.123456789Z"
    return {
        "name": f"{location}/reviews/{review_id}", "reviewId": review_id,
        "reviewer": {"displayName": f"Reviewer {n % 4}", "isAnonymous": anonymous,
                     "profilePhotoUrl": f"https://lh3.googleusercontent.com/a/photo{n % 4}"},
        "starRating": STARS[stars - 1], "comment": f"Great coffee and kind staff #{n}",
        "createTime": stamp, "updateTime": stamp,
    }


def push(notification: dict[str, Any], *, message_id: str = "9001",
         publish_time: str | None = None) -> bytes:
    return json.dumps({"message": {
        "data": base64.b64encode(json.dumps(notification).encode()).decode(),
        "attributes": {}, "messageId": message_id, "message_id": message_id,
        "publishTime": publish_time or datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }, "subscription": "projects/kansha/subscriptions/gbp-push"}).encode()


class FakeGoogle(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.reviews: dict[str, list[dict[str, Any]]] = {name: [] for name in LOCATIONS}
        self.replies: dict[str, dict[str, Any]] = {}
        self.token = "ya29.first"
        self.on("GET", rf"/({ACCOUNT}/locations/\d+)/reviews", self._list)
        self.on("GET", rf"/({ACCOUNT}/locations/\d+/reviews/[\w-]+)", self._get)
        self.on("PUT", rf"/({ACCOUNT}/locations/\d+/reviews/[\w-]+)/reply", self._reply)
        self.on("POST", r"/token", self._token)

    def _authorized(self, req: Recorded) -> bool:
        return req.headers.get("authorization") == f"Bearer {self.token}"

    def _list(self, req: Recorded, match) -> Reply:
        if not self._authorized(req):
            return Reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        pool = sorted(self.reviews[match.group(1)], key=lambda r: r["updateTime"], reverse=True)
        start = int(req.q("pageToken") or 0)
        size = int(req.q("pageSize") or 50)
        body: dict[str, Any] = {"reviews": pool[start:start + size], "averageRating": 4.6,
                                "totalReviewCount": len(pool)}
        if start + size < len(pool):
            body["nextPageToken"] = str(start + size)
        return Reply(200, body)

    def _get(self, req: Recorded, match) -> Reply:
        for reviews in self.reviews.values():
            for r in reviews:
                if r["name"] == match.group(1):
                    return Reply(200, r)
        return Reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

    def _reply(self, req: Recorded, match) -> Reply:
        self.replies[match.group(1)] = {"comment": req.json()["comment"],
                                        "updateTime": "2026-11-21T00:00:00Z"}
        return Reply(200, self.replies[match.group(1)])

    def _token(self, req: Recorded, match) -> Reply:
        self.token = "ya29.refreshed"
        return Reply(200, {"access_token": self.token, "expires_in": 3599,
                           "scope": "https://www.googleapis.com/auth/business.manage",
                           "token_type": "Bearer"})
