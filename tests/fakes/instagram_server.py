"""A fake Graph API for an Instagram professional account: the IG user node's
mentioned_media / mentioned_comment fields, /{ig-user-id}/tags, POST /{ig-user-id}/mentions,
media containers + media_publish, the User Profile API (GET /{IGSID}?fields=name,username). Also
signed `mentions` and `messaging` webhook deliveries."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.fakes.facebook_server import sign, usage
from tests.fakes.platform_server import FakeServer, Recorded, Reply

IG_ID = "17841400000000001"

__all__ = ["IG_ID", "FakeInstagram", "media", "mentions_delivery", "sign"]


def media(n: int, *, username: str = "latte.art") -> dict[str, Any]:
    return {"id": f"1789{n:011d}", "caption": f"Morning at @kanshacoffee ☕ #{n}",
            "media_type": "IMAGE", "media_url": f"https://cdn.example/ig/{n}.jpg",
            "permalink": f"https://www.instagram.com/p/C{n:05d}/",
            "timestamp": f"2026-11-20T{7 + n // 60:02d}:{n % 60:02d}:00+0000", "username": username,
            "like_count": n}


def comment(n: int, media_id: str) -> dict[str, Any]:
    return {"id": f"1790{n:011d}", "text": f"@kanshacoffee you must try this! #{n}",
            "timestamp": f"2026-11-20T07:{n % 60:02d}:30+0000", "username": "bean.fan",
            "like_count": 0, "media": {"id": media_id,
                                       "permalink": "https://www.instagram.com/p/Cxyz/"}}


def mentions_delivery(*values: dict[str, str], entry_time: int | None = None) -> bytes:
    return json.dumps({"object": "instagram", "entry": [{
        "id": IG_ID, "time": entry_time or int(time.time()),
        "changes": [{"field": "mentions", "value": v} for v in values]}]}).encode()


class FakeInstagram(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.tagged: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        # IGSID -> {"name", "username"}; an unknown IGSID answers as Graph does (code 100)
        self.profiles: dict[str, dict[str, str]] = {}
        self.on("GET", r"/(\d+)", self._profile)  # routes added later take precedence
        self.on("GET", rf"/{IG_ID}", self._node)
        self.on("GET", rf"/{IG_ID}/tags", self._tags)
        self.on("POST", rf"/{IG_ID}/mentions", self._mention_reply)
        self.on("POST", rf"/{IG_ID}/media", lambda r, m: Reply(200, {"id": "cont-1"}, usage()))
        self.on("POST", rf"/{IG_ID}/media_publish", self._publish)

    def _node(self, req: Recorded, match) -> Reply:
        fields = req.q("fields") or ""
        found = re.match(r"mentioned_(media|comment)\.(?:media|comment)_id\((\d+)\)", fields)
        if not found:
            return Reply(200, {"id": IG_ID, "username": "kanshacoffee"}, usage())
        what, object_id = found.groups()
        source = self.media if what == "media" else self.comments
        if object_id not in source:
            return Reply(400, {"error": {"message": "Invalid media id", "code": 100}})
        return Reply(200, {f"mentioned_{what}": source[object_id], "id": IG_ID}, usage())

    def _profile(self, req: Recorded, match) -> Reply:
        found = self.profiles.get(match.group(1))
        if found is None:
            return Reply(400, {"error": {"message": "Unsupported get request", "code": 100}})
        return Reply(200, {"id": match.group(1), **found}, usage())

    def _tags(self, req: Recorded, match) -> Reply:
        pool = sorted(self.tagged, key=lambda p: p["timestamp"], reverse=True)
        start = int((req.q("after") or "c0")[1:])
        limit = int(req.q("limit") or 25)
        page = pool[start:start + limit]
        paging: dict[str, Any] = {"cursors": {"before": f"c{start}", "after": f"c{start + limit}"}}
        if start + limit < len(pool):
            paging["next"] = f"{self.url}/{IG_ID}/tags?after=c{start + limit}"
        return Reply(200, {"data": page, "paging": paging}, usage())

    def _mention_reply(self, req: Recorded, match) -> Reply:
        form = {k: v[0] for k, v in req.form().items()}
        self.replies.append(form)
        return Reply(200, {"id": f"1791{len(self.replies):011d}"}, usage())

    def _publish(self, req: Recorded, match) -> Reply:
        self.published.append({k: v[0] for k, v in req.form().items()})
        return Reply(200, {"id": f"1792{len(self.published):011d}"}, usage())
