"""Bluesky (AT Protocol): notifications, the Jetstream firehose, replies and reposts.

Account: `platform_user_id` = the brand's DID, `handle` = its handle.
config: `base_url` (the PDS, default https://bsky.social; reads are proxied to the AppView by
it), `jetstream_url` (default wss://jetstream2.us-east.bsky.network/subscribe),
`jetstream_idle_seconds` (reconnect after this long without a frame, default 60).
credentials: `identifier` (handle or DID) and `app_password`; the session's `access_jwt` and
`refresh_jwt` are stored (encrypted) after com.atproto.server.createSession and replaced by
com.atproto.server.refreshSession when the access token expires.

Plain HTTP rather than the `atproto` SDK: the XRPC calls used here are a handful of JSON
requests, and the shared session gives the same error classification and rate-limit
(`ratelimit-*` headers) bookkeeping as every other platform. Jetstream is a WebSocket, read
with the `websockets` library's synchronous client (`jetstream_frames`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests
from django.utils import timezone
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.sync.client import connect

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    PermanentError,
    PlatformError,
    PollPage,
    PostResult,
    RateLimited,
    StreamEvent,
    TransientError,
)
from advocates.platforms.http import (
    SHAPE_ERRORS,
    USER_AGENT,
    ApiSession,
    HttpPlatformClient,
    QuotaHeaders,
    from_iso,
    ledger_result_id,
    outbound_once,
    retry_after,
    shape_error_reason,
)
from advocates.schemas import MentionIn, MentionKindName

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

BASE_URL = "https://bsky.social"
JETSTREAM_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
QUOTA = QuotaHeaders(remaining="ratelimit-remaining", reset="ratelimit-reset",
                     limit="ratelimit-limit", reset_kind="epoch")
REASONS = ("mention", "reply", "quote")
PAGE_SIZE = 50
PROFILES_PER_CALL = 25  # app.bsky.actor.getProfiles: actors maxLength 25
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
EMBED_RECORD = "app.bsky.embed.record"  # a quote: a post embedding another


def _rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def post_url(handle_or_did: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle_or_did}/post/{_rkey(uri)}"


def _kind(reason: str, record: dict[str, Any]) -> MentionKindName:
    if reason == "quote":
        return "quote"
    if reason == "reply" or record.get("reply"):
        return "reply"
    return "post"


def notification_item(note: dict[str, Any]) -> MentionIn:
    record = note.get("record") or {}
    author = note.get("author") or {}
    handle = author.get("handle") or author["did"]
    return MentionIn(
        platform="bluesky", external_id=note["uri"], author_id=author["did"],
        author_handle=f"@{handle}", author_name=(author.get("displayName") or "")[:200],
        text=record.get("text", ""),
        posted_at=from_iso(record.get("createdAt")) or from_iso(note.get("indexedAt"))
        or timezone.now(),
        kind=_kind(note.get("reason", ""), record), url=post_url(handle, note["uri"]),
        language=((record.get("langs") or [""])[0] or "")[:8],
        in_reply_to=((record.get("reply") or {}).get("parent") or {}).get("uri", ""),
        # Only a profileViewDetailed (getProfiles) counts followers; notifications carry none.
        followers=author.get("followersCount"),
    )


class BlueskyClient(HttpPlatformClient):
    policy = policies.BLUESKY
    # Where the stream service keeps Jetstream's position in the account's cursor.
    stream_cursor_key = "jetstream"

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = ApiSession(state=state, base_url=self.conf("base_url", BASE_URL),
                              quota=QUOTA, auth=self._auth, refresh=self.session_refresh,
                              expired=_expired)

    @property
    def did(self) -> str:
        if not self.account.platform_user_id:
            raise PermanentError(f"{self.account}: platform_user_id (the brand's DID) is unset")
        return self.account.platform_user_id

    # --- session ------------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        if not self.secrets.get("access_jwt"):
            self.session_create()
        return {"Authorization": f"Bearer {self.secret('access_jwt')}"}

    def session_create(self) -> None:
        """com.atproto.server.createSession with the app password; tokens stored encrypted."""
        body = self.api.post("/xrpc/com.atproto.server.createSession", authenticated=False,
                             json={"identifier": self.secret("identifier"),
                                   "password": self.secret("app_password")})
        self.secrets_update(access_jwt=body["accessJwt"], refresh_jwt=body["refreshJwt"])

    def session_refresh(self) -> bool:
        """com.atproto.server.refreshSession; falls back to a new session if refresh fails."""
        refresh = self.secrets.get("refresh_jwt")
        if refresh:
            response = self.api.session.post(
                self.api.url("/xrpc/com.atproto.server.refreshSession"),
                headers={"Authorization": f"Bearer {refresh}"}, timeout=self.api.timeout)
            if response.status_code == 200:
                body = response.json()
                self.secrets_update(access_jwt=body["accessJwt"], refresh_jwt=body["refreshJwt"])
                return True
        self.session_create()
        return True

    # --- inbound ------------------------------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of app.bsky.notification.listNotifications (reasons mention/reply/quote).

        The API pages newest → oldest with an opaque cursor, so the poller keeps a high-water
        mark (`seen_at`, the newest `indexedAt` done) and walks back until it reaches it. The
        run's newest `indexedAt` is held as `pending_seen_at` until the walk ends, so a restart
        resumes the walk from `page_cursor` and nothing between is lost.
        """
        params: dict[str, Any] = {"limit": PAGE_SIZE, "reasons": list(REASONS)}
        if cursor.get("page_cursor"):
            params["cursor"] = cursor["page_cursor"]
        body = self.api.get("/xrpc/app.bsky.notification.listNotifications", params=params)
        notes = body.get("notifications") or []
        seen_at = from_iso(cursor.get("seen_at"))
        # Notifications indexed at exactly the high-water mark may or may not be done: the
        # ones that are were remembered by URI.
        seen_uris = set(cursor.get("seen_uris") or [])
        if cursor.get("page_cursor"):
            pending, pending_uris = cursor.get("pending_seen_at"), cursor.get("pending_uris", [])
        else:
            pending = max((n["indexedAt"] for n in notes), default=None)
            pending_uris = [n["uri"] for n in notes if n["indexedAt"] == pending]
        items, raws, reached_seen = [], [], False
        rejected: list[str] = []
        for note in notes:
            indexed = from_iso(note.get("indexedAt"))
            if seen_at and indexed and (indexed < seen_at or (indexed == seen_at
                                                              and note["uri"] in seen_uris)):
                reached_seen = True
                continue
            if note.get("reason") not in REASONS:
                continue
            try:
                items.append(notification_item(note))
            except SHAPE_ERRORS as exc:  # one unreadable note never costs the page
                rejected.append(shape_error_reason(exc))
                continue
            raws.append(note)
        # The first run only takes the newest page: no backfill of the account's history.
        first_run = not cursor.get("seen_at")
        if body.get("cursor") and notes and not reached_seen and not first_run:
            return PollPage(items=items, raw_payloads=raws, more=True, rejected=rejected, cursor={
                "seen_at": cursor.get("seen_at"), "seen_uris": sorted(seen_uris),
                "page_cursor": body["cursor"], "pending_seen_at": pending,
                "pending_uris": pending_uris})
        if not pending:
            return PollPage(items=items, raw_payloads=raws, more=False, rejected=rejected, cursor={
                k: cursor[k] for k in ("seen_at", "seen_uris") if cursor.get(k)})
        if pending == cursor.get("seen_at"):
            pending_uris = sorted(seen_uris | set(pending_uris))
        return PollPage(items=items, raw_payloads=raws, more=False, rejected=rejected,
                        cursor={"seen_at": pending, "seen_uris": sorted(pending_uris)})

    def check(self) -> dict[str, Any]:
        me = self.api.get("/xrpc/com.atproto.server.getSession")
        return {"ok": True, "user": me.get("handle"), "quota_remaining":
                self.account.quota_remaining, "quota_reset_at": self.account.quota_reset_at}

    # --- outbound -----------------------------------------------------------------------------
    def _post_ref(self, uri: str) -> dict[str, Any]:
        """{uri, cid, record} of a post: from the stored mention, else app.bsky.feed.getPosts."""
        raw = self.state.stored_post(uri)
        if raw and raw.get("cid"):
            return {"uri": raw["uri"], "cid": raw["cid"], "record": raw.get("record") or {}}
        posts = self.api.get("/xrpc/app.bsky.feed.getPosts", params={"uris": [uri]}).get(
            "posts") or []
        if not posts:
            raise PermanentError(f"post {uri} not found")
        return {"uri": posts[0]["uri"], "cid": posts[0]["cid"],
                "record": posts[0].get("record") or {}}

    def _create(self, collection: str, record: dict[str, Any]) -> PostResult:
        body = self.api.post("/xrpc/com.atproto.repo.createRecord", json={
            "repo": self.did, "collection": collection, "record": record})
        return PostResult(id=body["uri"], url=self._record_url(collection, body["uri"],
                                                               record), raw=body)

    def _record_url(self, collection: str, uri: str, record: dict[str, Any]) -> str:
        # A repost has no page of its own on bsky.app: its link is the reposted post's.
        if collection == REPOST:
            subject = (record.get("subject") or {}).get("uri", "")
            return post_url(subject.split("/")[2], subject) if subject.count("/") >= 4 else ""
        return post_url(self.account.handle.lstrip("@") or self.did, uri)

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        parent = self._post_ref(in_reply_to)
        parent_ref = {"uri": parent["uri"], "cid": parent["cid"]}
        # A reply to a reply keeps the thread's root; a reply to a top post uses it as root.
        root_ref = (parent["record"].get("reply") or {}).get("root") or parent_ref
        record = {"$type": POST, "text": text, "createdAt": _now(),
                  "reply": {"root": {"uri": root_ref["uri"], "cid": root_ref["cid"]},
                            "parent": parent_ref}}
        return outbound_once(self.state, idempotency_key=idempotency_key, action="reply",
                             target=in_reply_to, send=lambda: self._create(POST, record),
                             find_earlier=lambda: self._earlier(POST, in_reply_to))

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        subject = self._post_ref(external_id)
        ref = {"uri": subject["uri"], "cid": subject["cid"]}
        if text:
            # A repost record carries no text: a reshare that must say something (a disclosure
            # line) is a quote post, a post of ours embedding theirs.
            quote = {"$type": POST, "text": text, "createdAt": _now(),
                     "embed": {"$type": EMBED_RECORD, "record": ref}}
            return outbound_once(self.state, idempotency_key=idempotency_key, action="quote",
                                 target=external_id, send=lambda: self._create(POST, quote),
                                 find_earlier=lambda: self._earlier(POST, external_id,
                                                                    quote=True))
        record = {"$type": REPOST, "subject": ref, "createdAt": _now()}
        return outbound_once(self.state, idempotency_key=idempotency_key, action="repost",
                             target=external_id, send=lambda: self._create(REPOST, record),
                             find_earlier=lambda: self._earlier(REPOST, external_id))

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        for action, collection in (("quote", POST), ("repost", REPOST)):
            uri = ledger_result_id(self.state, action=action, target=external_id)
            if uri:
                return self._delete(collection, uri)
        earlier = self._earlier(REPOST, external_id)
        if earlier is None:
            return PostResult(id="", raw={"already_removed": True})
        return self._delete(REPOST, earlier.id)

    def _delete(self, collection: str, uri: str) -> PostResult:
        self.api.post("/xrpc/com.atproto.repo.deleteRecord", json={
            "repo": self.did, "collection": collection, "rkey": _rkey(uri)})
        return PostResult(id=uri, raw={"deleted": True})

    def _earlier(self, collection: str, target: str, *, quote: bool = False
                 ) -> PostResult | None:
        """Our own recent record replying to / quoting / reposting `target`, if an earlier try
        made it."""
        body = self.api.get("/xrpc/com.atproto.repo.listRecords", params={
            "repo": self.did, "collection": collection, "limit": 100})
        for rec in body.get("records") or []:
            value = rec.get("value") or {}
            if collection == REPOST:
                ref = value.get("subject")
            elif quote:
                ref = (value.get("embed") or {}).get("record")
            else:
                ref = (value.get("reply") or {}).get("parent")
            if (ref or {}).get("uri") == target:
                return PostResult(id=rec["uri"], url=self._record_url(collection, rec["uri"],
                                                                      value), raw=rec)
        return None

    # --- Jetstream ------------------------------------------------------------------------------
    def jetstream_url(self, cursor_us: int | None = None) -> str:
        params: list[tuple[str, Any]] = [("wantedCollections", POST)]
        if cursor_us:
            params.append(("cursor", cursor_us))
        return f"{self.conf('jetstream_url', JETSTREAM_URL)}?{urlencode(params)}"

    def profiles(self, dids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """app.bsky.actor.getProfiles (25 actors a call): DID → profileViewDetailed."""
        wanted = sorted(set(dids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), PROFILES_PER_CALL):
            body = self.api.get("/xrpc/app.bsky.actor.getProfiles",
                                params={"actors": wanted[start:start + PROFILES_PER_CALL]})
            for profile in body.get("profiles") or []:
                if profile.get("did"):
                    found[profile["did"]] = profile
        return found

    def jetstream_mentions(self, notes: list[dict[str, Any]],
                           known: dict[str, dict[str, str]] | None = None) -> list[MentionIn]:
        """Jetstream notes as mentions, with their authors' handles and names.

        Jetstream events name the author by DID only, and storing a DID as the handle would
        overwrite a handle the notification poll stored. So the authors are looked up; if the
        lookup fails the identities Kansha already has (`known`: DID → handle, name) stand in,
        and a DID only for strangers.
        """
        dids = {note["author"]["did"] for note in notes}
        try:
            profiles = self.profiles(dids)
        except PlatformError as exc:
            logger.warning("Bluesky getProfiles failed, using stored identities: %s", exc)
            profiles = {}
        for did in dids - set(profiles):
            if did in (known or {}):
                stored = (known or {})[did]
                profiles[did] = {"did": did, "handle": stored.get("handle", "").lstrip("@"),
                                 "displayName": stored.get("name", "")}
        items = []
        for note in notes:
            profile = profiles.get(note["author"]["did"]) or {}
            note["author"] = {"did": note["author"]["did"], "handle": profile.get("handle"),
                              "displayName": profile.get("displayName") or "",
                              "followersCount": profile.get("followersCount")}
            items.append(notification_item(note))
        return items

    # --- Streamer: Jetstream ------------------------------------------------------------------
    def stream_frames(self, *, position: dict[str, Any] | None = None) -> Iterator[str]:
        """One Jetstream connection, from the saved `time_us` less the rewind (the live tail
        when nothing is saved)."""
        return jetstream_frames(
            self.jetstream_url(cursor_us=jetstream_resume_cursor(position)),
            idle_seconds=float(self.conf("jetstream_idle_seconds", JETSTREAM_IDLE_SECONDS)))

    def stream_events(self, frames: Iterable[str | bytes | dict[str, Any]]
                      ) -> Iterator[StreamEvent]:
        """Every frame moves the position (a quiet brand does not replay hours after a
        restart); the ones that involve the brand carry a mention, its author a bare DID until
        `stream_mentions` looks the authors up."""
        for note, time_us in _jetstream_notes(frames, self.did):
            position = {"time_us": time_us} if time_us else None
            if note is None:
                yield StreamEvent(raw={}, position=position)
            else:
                yield StreamEvent(raw=note, item=notification_item(note), position=position)

    def stream_mentions(self, events: list[StreamEvent],
                        known: dict[str, dict[str, str]]) -> list[MentionIn]:
        return self.jetstream_mentions([e.raw for e in events if e.item is not None], known)


def _expired(response: requests.Response) -> bool:
    # The PDS answers an expired access token with 400 {"error": "ExpiredToken"}.
    if response.status_code == 401:
        return True
    if response.status_code == 400:
        try:
            return response.json().get("error") in {"ExpiredToken", "InvalidToken"}
        except ValueError:
            return False
    return False


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")



def _mentions_did(record: dict[str, Any], did: str) -> str:
    """How a post record involves the brand: "mention", "reply", "quote" or ""."""
    for facet in record.get("facets") or []:
        for feature in facet.get("features") or []:
            if feature.get("$type") == "app.bsky.richtext.facet#mention" \
                    and feature.get("did") == did:
                return "mention"
    parent = ((record.get("reply") or {}).get("parent") or {}).get("uri", "")
    if parent.startswith(f"at://{did}/"):
        return "reply"
    embed = record.get("embed") or {}
    quoted = (embed.get("record") or {}).get("uri", "") or \
        ((embed.get("record") or {}).get("record") or {}).get("uri", "")
    if quoted.startswith(f"at://{did}/"):
        return "quote"
    return ""


# --- Jetstream ----------------------------------------------------------------------------------
# Jetstream's docs: on reconnect, resume from the last processed event's time_us minus a few
# seconds, for gapless playback; the posts seen twice are deduplicated by their at:// URI.
JETSTREAM_REWIND_US = 5_000_000
# With wantedCollections=app.bsky.feed.post the whole network's posts arrive, many a second;
# a minute without a frame means a dead connection (the library's pings catch most sooner).
JETSTREAM_IDLE_SECONDS = 60.0
# Mentions and the cursor are stored at least this often, and at every `batch_size` mentions.
JETSTREAM_FLUSH_SECONDS = 5.0
# A post event is a few kB; Jetstream's own limit for a record is 1 MB, plus the envelope.
JETSTREAM_MAX_FRAME = 2 ** 21


def _jetstream_notes(frames: Iterable[str | bytes | dict[str, Any]], brand_did: str
                     ) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """Every Jetstream frame as (note or None, time_us).

    A note (the notification shape `notification_item` reads) is made for a created
    app.bsky.feed.post that mentions, replies to or quotes the brand; other frames give None,
    so the caller still sees their time_us and can move its cursor past them.
    """
    for frame in frames:
        if isinstance(frame, str | bytes):
            try:
                event = json.loads(frame)
            except ValueError:
                logger.warning("Jetstream: unparseable frame %r", frame[:200])
                continue
        else:
            event = frame
        if not isinstance(event, dict):
            continue
        try:
            time_us = int(event.get("time_us") or 0)
        except (TypeError, ValueError):
            time_us = 0
        commit = event.get("commit")
        if not isinstance(commit, dict):
            commit = {}
        did = event.get("did", "")
        record = commit.get("record") or {}
        if event.get("kind") != "commit" or commit.get("operation") != "create" \
                or commit.get("collection") != POST or not did or did == brand_did \
                or not isinstance(record, dict):
            yield None, time_us  # not a new post, or our own post
            continue
        reason = _mentions_did(record, brand_did)
        if not reason:
            yield None, time_us
            continue
        uri = f"at://{did}/{POST}/{commit.get('rkey')}"
        yield {"uri": uri, "cid": commit.get("cid"), "reason": reason, "record": record,
               "author": {"did": did}, "indexedAt": None, "time_us": time_us}, time_us


def jetstream_frames(url: str, *, idle_seconds: float = JETSTREAM_IDLE_SECONDS
                     ) -> Iterator[str]:
    """Open one Jetstream WebSocket connection and yield its text frames until it closes.

    A normal close ends the iteration. A failed connect, a dropped connection or `idle_seconds`
    without a frame raise `TransientError` (a 429 on the upgrade: `RateLimited`), so the
    supervisor (`manage.py platforms stream`) reconnects with backoff, from the saved cursor.
    """
    try:
        with connect(url, open_timeout=10, close_timeout=5, max_size=JETSTREAM_MAX_FRAME,
                     user_agent_header=USER_AGENT) as ws:
            while True:
                try:
                    message = ws.recv(timeout=idle_seconds)
                except TimeoutError:
                    raise TransientError(
                        f"Jetstream sent nothing for {idle_seconds:g} s") from None
                except ConnectionClosedOK:
                    return
                yield message if isinstance(message, str) else message.decode()
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status == 429:
            reset_at = retry_after(exc.response.headers) or timezone.now() + timedelta(
                seconds=60)
            raise RateLimited(reset_at, "Jetstream: 429 on connect") from exc
        if status >= 500:
            raise TransientError(f"Jetstream: {status} on connect") from exc
        raise PermanentError(f"Jetstream: {status} on connect") from exc
    except InvalidURI as exc:
        raise PermanentError(f"Jetstream URL {url!r} is not a WebSocket URL") from exc
    except ConnectionClosedError as exc:
        raise TransientError(f"Jetstream connection broke: {exc}") from exc
    except (OSError, WebSocketException) as exc:
        raise TransientError(f"Jetstream: {exc.__class__.__name__}: {exc}") from exc


def jetstream_resume_cursor(position: dict[str, Any] | None) -> int | None:
    """Where to reconnect: the saved `time_us` minus the rewind; None (live tail) at first."""
    try:
        saved = int((position or {}).get("time_us") or 0)
    except (TypeError, ValueError):
        saved = 0
    return max(saved - JETSTREAM_REWIND_US, 1) if saved > 0 else None
