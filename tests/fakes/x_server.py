"""A fake X API v2 serving the documented shapes: mentions timeline (since_id, pagination_token,
next_token, includes.users, meta), POST /2/tweets, retweets, direct messages
(POST /2/dm_conversations/with/:participant_id/messages), stream rules, the filtered stream,
OAuth 2.0 token refresh, with x-rate-limit-* headers on every answer; and the Account Activity
webhook bodies X sends (`dm_event`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from tests.fakes.platform_server import FakeServer, Recorded, Reply

BRAND_ID = "999000"
BRAND = "kanshacoffee"


def tweet(n: int, *, author: str = "2244994945", mention: bool = True, text: str = "",
          reply_to: str = "") -> dict[str, Any]:
    body = text or (f"@{BRAND} best flat white in town #{n}" if mention else f"coffee #{n}")
    data: dict[str, Any] = {
        "id": str(1460323737035677000 + n), "text": body, "author_id": author,
        "created_at": f"2026-11-20T09:{n % 60:02d}:00.000Z", "lang": "en",
        "conversation_id": str(1460323737035677000 + n), "edit_history_tweet_ids": [],
    }
    if mention:
        data["entities"] = {"mentions": [{"start": 0, "end": 13, "username": BRAND,
                                          "id": BRAND_ID}]}
    if reply_to:
        data["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
    return data


def tweet_event(tweet_id: str, *, text: str, user_id: str = "2244994945",
                screen_name: str = "fan_of_coffee") -> dict[str, Any]:
    """An Account Activity delivery with one tweet (v1.1 shape) mentioning the brand, now."""
    now = time.time()
    return {"for_user_id": BRAND_ID, "tweet_create_events": [{
        "created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(now)),
        "timestamp_ms": str(int(now * 1000)), "id_str": tweet_id, "text": text,
        "user": {"id_str": user_id, "screen_name": screen_name, "name": "Coffee Fan",
                 "followers_count": 321},
        "entities": {"user_mentions": [{"id_str": BRAND_ID, "screen_name": BRAND}]},
    }]}


def signed(payload: dict[str, Any], consumer_secret: str) -> tuple[bytes, str]:
    """(body, x-twitter-webhooks-signature) as X sends a delivery."""
    body = json.dumps(payload).encode()
    digest = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return body, "sha256=" + base64.b64encode(digest).decode()


def dm_event(n: int, *, sender: str = "2244994945", text: str = "", screen_name: str =
             "fan_of_coffee", timestamp_ms: int | None = None) -> dict[str, Any]:
    """An Account Activity delivery with one direct message to the brand, as X sends it."""
    stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    return {
        "for_user_id": BRAND_ID,
        "direct_message_events": [{
            "type": "message_create", "id": str(1861500000000000000 + n),
            "created_timestamp": str(stamp),
            "message_create": {"target": {"recipient_id": BRAND_ID}, "sender_id": sender,
                               "source_app_id": "268278",
                               "message_data": {"text": text or f"my order number is 44{n}",
                                                "entities": {"hashtags": [], "symbols": [],
                                                             "user_mentions": [], "urls": []}}},
        }],
        "users": {
            sender: {"id": sender, "created_timestamp": "1422556069340", "name": "Coffee Fan",
                     "screen_name": screen_name, "protected": False, "verified": False,
                     "followers_count": 321, "friends_count": 10, "statuses_count": 99},
            BRAND_ID: {"id": BRAND_ID, "created_timestamp": "1322556069340",
                       "name": "Kansha Coffee", "screen_name": BRAND},
        },
    }


def user(user_id: str = "2244994945", username: str = "fan_of_coffee") -> dict[str, Any]:
    return {"id": user_id, "name": "Coffee Fan", "username": username,
            "public_metrics": {"followers_count": 321, "following_count": 10,
                               "tweet_count": 99, "listed_count": 1}}


class FakeX(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.mentions: list[dict[str, Any]] = []  # any order; served newest first
        self.users = {"2244994945": user()}
        self.rules: list[dict[str, str]] = []
        self.stream_frames: list[str] = []
        self.posted: list[dict[str, Any]] = []
        self.dms: list[dict[str, Any]] = []
        self.rate_remaining = 450
        self.rate_reset = int(time.time()) + 900
        self.on("GET", rf"/2/users/{BRAND_ID}/mentions", self._mentions)
        self.on("POST", r"/2/tweets", self._post_tweet)
        self.on("GET", rf"/2/users/{BRAND_ID}/tweets", self._own_tweets)
        self.on("GET", r"/2/tweets/(\d+)", self._get_tweet)
        self.on("DELETE", r"/2/tweets/(\d+)", self._delete_tweet)
        self.on("POST", rf"/2/users/{BRAND_ID}/retweets",
                lambda r, m: self._rl(Reply(200, {"data": {"retweeted": True}})))
        self.on("DELETE", rf"/2/users/{BRAND_ID}/retweets/(\d+)",
                lambda r, m: self._rl(Reply(200, {"data": {"retweeted": False}})))
        self.on("GET", r"/2/users/me",
                lambda r, m: self._rl(Reply(200, {"data": {"id": BRAND_ID, "name": "Kansha",
                                                           "username": BRAND}})))
        self.on("POST", r"/2/dm_conversations/with/(\d+)/messages", self._post_dm)
        self.on("GET", r"/2/tweets/search/stream/rules", self._rules_get)
        self.on("POST", r"/2/tweets/search/stream/rules", self._rules_post)
        self.on("GET", r"/2/tweets/search/stream",
                lambda r, m: Reply(200, lines=list(self.stream_frames)))
        self.on("POST", r"/2/oauth2/token", lambda r, m: Reply(200, {
            "token_type": "bearer", "expires_in": 7200, "access_token": "new-access",
            "scope": "tweet.read tweet.write users.read offline.access",
            "refresh_token": "new-refresh"}))

    def _rl(self, reply: Reply) -> Reply:
        self.rate_remaining = max(self.rate_remaining - 1, 0)
        reply.headers.update({"x-rate-limit-limit": "450",
                              "x-rate-limit-remaining": str(self.rate_remaining),
                              "x-rate-limit-reset": str(self.rate_reset)})
        return reply

    def _mentions(self, req: Recorded, match) -> Reply:
        since = int(req.q("since_id") or 0)
        size = int(req.q("max_results") or 10)
        pool = sorted((t for t in self.mentions if int(t["id"]) > since),
                      key=lambda t: int(t["id"]), reverse=True)
        token = req.q("pagination_token")
        if token:
            start_below = int(token.removeprefix("tok-"))
            pool = [t for t in pool if int(t["id"]) < start_below]
        page, rest = pool[:size], pool[size:]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if rest:
            meta["next_token"] = f"tok-{page[-1]['id']}"
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            authors = {t["author_id"] for t in page}
            body["includes"] = {"users": [self.users[a] for a in authors if a in self.users]}
        return self._rl(Reply(200, body))

    def _post_tweet(self, req: Recorded, match) -> Reply:
        payload = req.json()
        new_id = str(1861000000000000000 + len(self.posted) + 1)
        self.posted.append({"id": new_id, **payload})
        return self._rl(Reply(201, {"data": {"id": new_id, "text": payload["text"],
                                             "edit_history_tweet_ids": [new_id]}}))

    def _post_dm(self, req: Recorded, match) -> Reply:
        payload = req.json()
        event_id = str(1862000000000000000 + len(self.dms) + 1)
        self.dms.append({"id": event_id, "to": match.group(1), **payload})
        return self._rl(Reply(201, {"data": {
            "dm_conversation_id": f"{BRAND_ID}-{match.group(1)}", "dm_event_id": event_id}}))

    def _own_tweets(self, req: Recorded, match) -> Reply:
        data = []
        for p in reversed(self.posted):
            if p.get("reply"):
                ref = {"type": "replied_to", "id": p["reply"]["in_reply_to_tweet_id"]}
            elif p.get("quote_tweet_id"):
                ref = {"type": "quoted", "id": p["quote_tweet_id"]}
            else:
                continue
            data.append({"id": p["id"], "text": p["text"], "referenced_tweets": [ref]})
        return self._rl(Reply(200, {"data": data, "meta": {"result_count": len(data)}}))

    def _delete_tweet(self, req: Recorded, match) -> Reply:
        before = len(self.posted)
        self.posted = [p for p in self.posted if p["id"] != match.group(1)]
        return self._rl(Reply(200, {"data": {"deleted": len(self.posted) < before}}))

    def _get_tweet(self, req: Recorded, match) -> Reply:
        for t in self.mentions:
            if t["id"] == match.group(1):
                return self._rl(Reply(200, {"data": t}))
        return self._rl(Reply(200, {"errors": [{"title": "Not Found Error"}]}))

    def _rules_get(self, req: Recorded, match) -> Reply:
        return Reply(200, {"data": list(self.rules), "meta": {"result_count": len(self.rules)}}
                     if self.rules else {"meta": {"result_count": 0}})

    def _rules_post(self, req: Recorded, match) -> Reply:
        payload = req.json()
        if "delete" in payload:
            ids = set(payload["delete"]["ids"])
            self.rules = [r for r in self.rules if r["id"] not in ids]
            return Reply(200, {"meta": {"summary": {"deleted": len(ids)}}})
        added = []
        for rule in payload.get("add", []):
            added.append({"id": str(1000 + len(self.rules) + len(added)), **rule})
        self.rules.extend(added)
        return Reply(201, {"data": added, "meta": {"summary": {"created": len(added)}}})

    def stream_frame(self, t: dict[str, Any]) -> str:
        return json.dumps({"data": t, "includes": {"users": [self.users[t["author_id"]]]},
                           "matching_rules": [{"id": "1000", "tag": "kansha-mentions"}]})
