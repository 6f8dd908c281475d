"""Mastodon: mention notifications (polling and the streaming API), replies, reblogs, DMs.

Works with an account on any instance. Account: `platform_user_id` = the brand's account id on
its instance, `handle` = "@brand@instance".
config: `base_url` (the instance, e.g. https://mastodon.social).
credentials: `access_token` (an app token with read:notifications read:statuses write:statuses
scopes; Mastodon tokens do not expire, so there is nothing to refresh).

A mention whose status has visibility "direct" is a direct message: the poll returns it as a
`MessageIn` (keyed by the author's full acct, where `send_dm` answers) for the sender's
conversation, never as a public mention; the stream skips it and leaves it to the poll.

Plain HTTP rather than Mastodon.py: the shared session classifies errors and records the
`X-RateLimit-*` headers the same way for every platform, which the SDK would need wrapping for.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from django.utils import timezone

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    MessageIn,
    PermanentError,
    PollPage,
    PostResult,
    StreamEvent,
)
from advocates.platforms.http import (
    SHAPE_ERRORS,
    ApiSession,
    HttpPlatformClient,
    QuotaHeaders,
    from_iso,
    items_read,
    ledger_result_id,
    outbound_once,
    parse_link_header,
    shape_error_reason,
)
from advocates.schemas import MentionIn

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

QUOTA = QuotaHeaders(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset",
                     limit="X-RateLimit-Limit", reset_kind="iso")
PAGE_SIZE = 40  # the notifications endpoint's maximum


def html_to_text(content: str) -> str:
    """Mastodon serves status content as HTML; keep the words and line breaks."""
    text = re.sub(r"<br\s*/?>", "\n", content or "", flags=re.I)
    text = re.sub(r"</p>\s*<p>", "\n\n", text, flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def full_acct(account: dict[str, Any], instance_host: str) -> str:
    acct = account.get("acct") or account.get("username", "")
    return acct if "@" in acct else f"{acct}@{instance_host}"


def status_item(status: dict[str, Any], instance_host: str) -> MentionIn:
    author = status.get("account") or {}
    return MentionIn(
        platform="mastodon", external_id=str(status["id"]), author_id=full_acct(author,
                                                                                 instance_host),
        author_handle="@" + full_acct(author, instance_host),
        author_name=author.get("display_name", "")[:200], text=html_to_text(status.get(
            "content", "")), posted_at=from_iso(status.get("created_at")) or timezone.now(),
        kind="reply" if status.get("in_reply_to_id") else "post",
        url=status.get("url") or status.get("uri") or "", language=(status.get("language")
                                                                     or "")[:8],
        in_reply_to=str(status.get("in_reply_to_id") or ""),
        followers=author.get("followers_count"),
    )


def _is_direct(note: Any) -> bool:
    """A mention notification whose status has visibility "direct" (a DM on Mastodon)."""
    return isinstance(note, dict) and note.get("type") == "mention" \
        and isinstance(note.get("status"), dict) and note["status"].get("visibility") == "direct"


def direct_message(status: dict[str, Any], instance_host: str) -> MessageIn:
    """A direct-visibility status as a message from its author (keyed by the full acct, where
    `send_dm` answers), without the leading @-mentions that address it."""
    author = status["account"]
    acct = full_acct(author, instance_host)
    sent_at = from_iso(status.get("created_at"))
    if sent_at is None or not status.get("id") or not author.get("acct"):
        raise ValueError("direct message without an id, an author or a time")
    text = re.sub(r"^(?:@[\w.-]+(?:@[\w.-]+)?\s+)+", "", html_to_text(status.get("content", "")))
    return MessageIn(external_id=str(status["id"]), author_id=acct, sent_at=sent_at, text=text,
                     author_handle=f"@{acct}",
                     author_name=str(author.get("display_name") or "")[:200],
                     raw={"status_id": str(status["id"]),
                          "url": str(status.get("url") or status.get("uri") or "")})


class MastodonClient(HttpPlatformClient):
    policy = policies.MASTODON

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        base_url = self.conf("base_url")
        if not base_url:
            raise PermanentError(f"{account}: config.base_url (the instance URL) is required")
        self.host = urlsplit(base_url).netloc
        self.api = ApiSession(state=state, base_url=base_url, quota=QUOTA, auth=self._auth)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('access_token')}"}

    # --- inbound ------------------------------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of GET /api/v1/notifications?types[]=mention.

        With a saved `min_id` the instance returns the notifications immediately after it
        (unlike `since_id`, which jumps to the newest page and can leave a gap), and the Link
        header's rel="prev" carries the next `min_id`. The first run starts at the newest page.
        """
        params: dict[str, Any] = {"types[]": "mention", "limit": PAGE_SIZE}
        if cursor.get("min_id"):
            params["min_id"] = cursor["min_id"]
        response = self.api.request("GET", "/api/v1/notifications", params=params)
        notifications = response.json() or []
        # A mention with visibility "direct" is a direct message: it joins the sender's
        # conversation and is never a public mention (it must not be thanked or reshared).
        public = [n for n in notifications if not _is_direct(n)] \
            if isinstance(notifications, list) else notifications
        items, raws, rejected = items_read(public, lambda note: (
            (status_item(note["status"], self.host), note)
            if note.get("type") == "mention" and note.get("status") else None))
        messages: list[MessageIn] = []
        for note in notifications if isinstance(notifications, list) else []:
            if not _is_direct(note):
                continue
            try:
                messages.append(direct_message(note["status"], self.host))
            except SHAPE_ERRORS as exc:
                rejected.append(shape_error_reason(exc))
        newest = cursor.get("min_id")
        prev = parse_link_header(response.headers.get("Link", "")).get("prev")
        if prev:
            newest = (parse_qs(urlsplit(prev).query).get("min_id") or [newest or ""])[0] or None
        elif notifications:
            newest = max((n["id"] for n in notifications), key=int)
        more = bool(cursor.get("min_id")) and len(notifications) >= PAGE_SIZE
        return PollPage(items=items, raw_payloads=raws, rejected=rejected,
                        cursor={"min_id": newest} if newest else {}, more=more,
                        messages=messages)

    def stream_frames(self, *, position: dict[str, Any] | None = None) -> Iterator[str]:
        """The user notification stream, line by line (server-sent events). It cannot replay,
        so `position` is unused; the poller's cursor covers what a disconnect missed."""
        return self.api.lines("/api/v1/streaming/user/notification", timeout=(5.0, 120.0))

    def stream_events(self, frames: Iterable[str]) -> Iterator[StreamEvent]:
        for item, raw in stream_items(frames, self.host):
            yield StreamEvent(raw=raw, item=item)

    def stream_mentions(self, events: list[StreamEvent],
                        known: dict[str, dict[str, str]]) -> list[MentionIn]:
        return [e.item for e in events if e.item is not None]

    def check(self) -> dict[str, Any]:
        me = self.api.get("/api/v1/accounts/verify_credentials")
        return {"ok": True, "user": me.get("acct"), "quota_remaining":
                self.account.quota_remaining, "quota_reset_at": self.account.quota_reset_at}

    # --- outbound -----------------------------------------------------------------------------
    def _status(self, status_id: str) -> dict[str, Any]:
        raw = self.state.stored_post(status_id)
        status: dict[str, Any] = (raw["status"] if raw and raw.get("status")
                                  else self.api.get(f"/api/v1/statuses/{status_id}"))
        return status

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        original = self._status(in_reply_to)
        acct = "@" + full_acct(original.get("account") or {}, self.host)
        # Without the @-mention the author is not notified of the reply.
        body = text if acct.lower() in text.lower() else f"{acct} {text}"
        visibility = original.get("visibility") or "public"
        payload = {"status": body, "in_reply_to_id": in_reply_to,
                   "visibility": visibility if visibility in {"public", "unlisted", "private",
                                                              "direct"} else "unlisted"}
        # Mastodon keeps Idempotency-Key for an hour: a retried request returns the first post.
        status = self.api.post("/api/v1/statuses", json=payload,
                               headers={"Idempotency-Key": idempotency_key})
        return PostResult(id=str(status["id"]), url=status.get("url") or "", raw=status)

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        if text:
            return self._quote(external_id=external_id, text=text,
                               idempotency_key=idempotency_key)

        def send() -> PostResult:
            status = self.api.post(f"/api/v1/statuses/{external_id}/reblog",
                                   headers={"Idempotency-Key": idempotency_key})
            return PostResult(id=str(status["id"]), url=status.get("url") or status.get(
                "uri") or "", raw=status)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="reblog",
                             target=external_id, send=send)

    def _quote(self, *, external_id: str, text: str, idempotency_key: str) -> PostResult:
        """A reblog carries no text: a reshare that must say something (a disclosure line) is a
        quote (Mastodon 4.5+). The instance refuses it (422, a `PermanentError`: nothing posted)
        where the author's quote policy does not let the brand quote them."""
        def send() -> PostResult:
            status = self.api.post("/api/v1/statuses", json={
                "status": text, "quoted_status_id": external_id, "visibility": "public"},
                headers={"Idempotency-Key": idempotency_key})
            return PostResult(id=str(status["id"]), url=status.get("url") or "", raw=status)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="quote",
                             target=external_id, send=send)

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        quote_id = ledger_result_id(self.state, action="quote", target=external_id)
        if quote_id:
            status = self.api.json("DELETE", f"/api/v1/statuses/{quote_id}")
            return PostResult(id=quote_id, raw=status)
        status = self.api.post(f"/api/v1/statuses/{external_id}/unreblog")
        return PostResult(id=str(status.get("id", external_id)), url=status.get("url") or "",
                          raw=status)

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        # Identities are keyed by the full acct ("fan@remote.example"), which addresses the
        # DM as it is; a numeric account id is looked up first.
        if "@" in recipient_id:
            acct = "@" + recipient_id.lstrip("@")
        else:
            acct = "@" + full_acct(self.api.get(f"/api/v1/accounts/{recipient_id}"), self.host)
        status = self.api.post("/api/v1/statuses", json={
            "status": f"{acct} {text}", "visibility": "direct"},
            headers={"Idempotency-Key": idempotency_key})
        return PostResult(id=str(status["id"]), url=status.get("url") or "", raw=status)


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events → (event, data); comment lines (":thump") are heartbeats."""
    event: str = ""
    data: list[str] = []
    for line in lines:
        if line is None or line == "":
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield event or "message", "\n".join(data)


def stream_items(lines: Iterable[str], instance_host: str
                 ) -> Iterator[tuple[MentionIn, dict[str, Any]]]:
    """The streaming API's `notification` events that are mentions, as (mention, raw)."""
    for event, data in sse_events(lines):
        if event != "notification":
            continue
        try:
            note = json.loads(data)
        except ValueError:
            logger.warning("Mastodon stream: unparseable event %r", data[:200])
            continue
        # Direct messages come in by the poll, into the sender's conversation, not here.
        if note.get("type") == "mention" and note.get("status") and not _is_direct(note):
            yield status_item(note["status"], instance_host), note
