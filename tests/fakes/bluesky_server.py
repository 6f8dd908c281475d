"""A fake Bluesky PDS: createSession/refreshSession, listNotifications (newest first, opaque
cursor), getPosts, getProfiles, createRecord/listRecords/deleteRecord, with ratelimit-*
headers. Also Jetstream commit frames (served by tests/fakes/jetstream_server.py)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

BRAND_DID = "did:plc:kanshabrand000000000000"
FAN_DID = "did:plc:fan1111111111111111111111"


def note(n: int, *, reason: str = "mention", reply_root: dict | None = None) -> dict[str, Any]:
    uri = f"at://{FAN_DID}/app.bsky.feed.post/3lfan{n:05d}"
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post", "text": f"@kansha.example the best hojicha latte #{n}",
        "createdAt": f"2026-11-20T11:{n % 60:02d}:00.000Z", "langs": ["en"],
        "facets": [{"index": {"byteStart": 0, "byteEnd": 15}, "features": [
            {"$type": "app.bsky.richtext.facet#mention", "did": BRAND_DID}]}],
    }
    if reply_root:
        record["reply"] = {"root": reply_root, "parent": reply_root}
    return {"uri": uri, "cid": f"bafyreicid{n:05d}", "reason": reason,
            "author": {"did": FAN_DID, "handle": "fan.bsky.social", "displayName": "Bsky Fan"},
            "record": record, "isRead": False,
            "indexedAt": f"2026-11-20T{11 + n // 60:02d}:{n % 60:02d}:01.000Z", "labels": []}


class FakeBluesky(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.notifications: list[dict[str, Any]] = []
        self.records: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {FAN_DID: profile(FAN_DID)}
        self.sessions = 0
        self.remaining = 3000
        self.on("POST", r"/xrpc/com.atproto.server.createSession", self._create_session)
        self.on("POST", r"/xrpc/com.atproto.server.refreshSession", self._refresh_session)
        self.on("GET", r"/xrpc/com.atproto.server.getSession",
                lambda r, m: self._rl(Reply(200, {"did": BRAND_DID, "handle": "kansha.example"})))
        self.on("GET", r"/xrpc/app.bsky.notification.listNotifications", self._list)
        self.on("GET", r"/xrpc/app.bsky.feed.getPosts", self._get_posts)
        self.on("GET", r"/xrpc/app.bsky.actor.getProfiles", self._get_profiles)
        self.on("POST", r"/xrpc/com.atproto.repo.createRecord", self._create_record)
        self.on("GET", r"/xrpc/com.atproto.repo.listRecords", self._list_records)
        self.on("POST", r"/xrpc/com.atproto.repo.deleteRecord", self._delete_record)

    def _rl(self, reply: Reply) -> Reply:
        self.remaining = max(self.remaining - 1, 0)
        reply.headers.update({"ratelimit-limit": "3000", "ratelimit-remaining":
                              str(self.remaining), "ratelimit-reset": str(int(time.time()) + 300),
                              "ratelimit-policy": "3000;w=300"})
        return reply

    def _create_session(self, req: Recorded, match) -> Reply:
        body = req.json()
        if body != {"identifier": "kansha.example", "password": "app-pass-word"}:
            return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid password"})
        self.sessions += 1
        return Reply(200, {"did": BRAND_DID, "handle": "kansha.example",
                           "accessJwt": f"access-{self.sessions}",
                           "refreshJwt": f"refresh-{self.sessions}"})

    def _refresh_session(self, req: Recorded, match) -> Reply:
        if req.headers.get("authorization") != f"Bearer refresh-{self.sessions}":
            return Reply(400, {"error": "ExpiredToken"})
        self.sessions += 1
        return Reply(200, {"did": BRAND_DID, "handle": "kansha.example",
                           "accessJwt": f"access-{self.sessions}",
                           "refreshJwt": f"refresh-{self.sessions}"})

    def _authorized(self, req: Recorded) -> bool:
        return req.headers.get("authorization") == f"Bearer access-{self.sessions}"

    def _list(self, req: Recorded, match) -> Reply:
        if not self._authorized(req):
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        reasons = req.query.get("reasons") or []
        pool = sorted((n for n in self.notifications if not reasons or n["reason"] in reasons),
                      key=lambda n: n["indexedAt"], reverse=True)
        start = int(req.q("cursor") or 0)
        limit = int(req.q("limit") or 50)
        page = pool[start:start + limit]
        body: dict[str, Any] = {"notifications": page, "seenAt": "2026-11-20T00:00:00.000Z"}
        if start + limit < len(pool):
            body["cursor"] = str(start + limit)
        return self._rl(Reply(200, body))

    def _get_posts(self, req: Recorded, match) -> Reply:
        uris = set(req.query.get("uris") or [])
        posts = [{"uri": n["uri"], "cid": n["cid"], "record": n["record"],
                  "author": n["author"], "indexedAt": n["indexedAt"]}
                 for n in self.notifications if n["uri"] in uris]
        return self._rl(Reply(200, {"posts": posts}))

    def _get_profiles(self, req: Recorded, match) -> Reply:
        if not self._authorized(req):
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        actors = req.query.get("actors") or []
        if len(actors) > 25:  # the lexicon's maxLength
            return Reply(400, {"error": "InvalidRequest", "message": "actors too long"})
        return self._rl(Reply(200, {"profiles": [self.profiles[a] for a in actors
                                                 if a in self.profiles]}))

    def _create_record(self, req: Recorded, match) -> Reply:
        body = req.json()
        embed = body["record"].get("embed") or {}
        if embed.get("$type") == "app.bsky.embed.record" and not {"uri", "cid"} <= set(
                embed.get("record") or {}):
            return Reply(400, {"error": "InvalidRequest",
                               "message": "Invalid app.bsky.embed.record: strongRef needed"})
        rkey = f"3lbrand{len(self.records) + 1:04d}"
        uri = f"at://{body['repo']}/{body['collection']}/{rkey}"
        self.records[uri] = {"uri": uri, "cid": f"bafyreibrand{len(self.records) + 1}",
                             "value": body["record"], "collection": body["collection"]}
        return self._rl(Reply(200, {"uri": uri, "cid": self.records[uri]["cid"],
                                    "commit": {"cid": "bafycommit", "rev": "3lrev"},
                                    "validationStatus": "valid"}))

    def _list_records(self, req: Recorded, match) -> Reply:
        records = [{"uri": r["uri"], "cid": r["cid"], "value": r["value"]}
                   for r in reversed(list(self.records.values()))
                   if r["collection"] == req.q("collection")]
        return self._rl(Reply(200, {"records": records}))

    def _delete_record(self, req: Recorded, match) -> Reply:
        body = req.json()
        uri = f"at://{body['repo']}/{body['collection']}/{body['rkey']}"
        self.records.pop(uri, None)
        return self._rl(Reply(200, {"commit": {"cid": "bafycommit2", "rev": "3lrev2"}}))


def profile(did: str, handle: str = "fan.bsky.social", name: str = "Bsky Fan",
            followers: int = 128) -> dict[str, Any]:
    """An app.bsky.actor.defs#profileViewDetailed."""
    return {"did": did, "handle": handle, "displayName": name, "followersCount": followers,
            "followsCount": 50, "postsCount": 900, "indexedAt": "2026-01-01T00:00:00.000Z",
            "labels": []}


def jetstream_frame(n: int, *, did: str = FAN_DID, mention: bool = True,
                    operation: str = "create", time_us: int | None = None) -> str:
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": f"jetstream post {n}",
                              "createdAt": "2026-11-20T12:00:00.000Z", "langs": ["ja"]}
    if mention:
        record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 5}, "features": [
            {"$type": "app.bsky.richtext.facet#mention", "did": BRAND_DID}]}]
    return json.dumps({"did": did, "time_us": time_us or 1732100000000000 + n, "kind": "commit",
                       "commit": {"rev": f"3lrev{n}", "operation": operation,
                                  "collection": "app.bsky.feed.post", "rkey": f"3ljet{n:04d}",
                                  "record": record, "cid": f"bafyjet{n}"}})
