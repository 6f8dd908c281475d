"""The HTTP plumbing every platform client shares.

`ApiSession` wraps a `requests.Session` with timeouts and turns what a platform answers into the
errors of `advocates.platforms.base`: timeouts, connection errors and 5xx are `TransientError`,
429 is `RateLimited` (until the platform's reset header), any other 4xx is `PermanentError`.
Every response's quota headers are recorded through the client's `AccountState` (on the
`BrandAccount`: `quota_remaining`, `quota_reset_at`), so pollers can stay away until the reset
instead of burning requests.

`outbound_once` makes a platform write idempotent on platforms that have no idempotency key:
a small ledger kept for the account (`AccountState.ledger`) remembers which of our keys posted
what, and a retry after an ambiguous failure first looks for the earlier post on the platform.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests
from django.utils import timezone
from pydantic import ValidationError

from advocates.platforms.base import (
    AccountState,
    PermanentError,
    PlatformClient,
    PostResult,
    RateLimited,
    TransientError,
)
from advocates.schemas import MentionIn, validation_reason
from advocates.sql import JsonTooDeep, json_loads_bounded

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 20.0)  # (connect, read) seconds
DEFAULT_BACKOFF = timedelta(seconds=60)  # a 429 without any reset header
USER_AGENT = "Kansha/0.1 (+https://github.com/kansha)"


# --- time helpers -----------------------------------------------------------------------------
def from_epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_iso(value: Any) -> datetime | None:
    """Parse an ISO 8601 / RFC 3339 timestamp (`Z` or an offset; nanoseconds are cut)."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python takes at most 6 fractional digits; Google sends up to 9.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class QuotaHeaders:
    """Which response headers carry a platform's rate-limit counters, and how reset is written.

    reset_kind: "epoch" (Unix seconds), "iso" (ISO 8601) or "delta" (seconds from now).
    """

    remaining: str
    reset: str
    limit: str = ""
    reset_kind: str = "epoch"

    def read(self, headers: Any) -> tuple[int | None, datetime | None]:
        """(remaining, reset_at) from a response's headers; None where absent."""
        raw = headers.get(self.remaining)
        try:
            remaining = int(float(raw)) if raw is not None else None
        except ValueError:
            remaining = None
        return remaining, self.reset_at(headers)

    def reset_at(self, headers: Any) -> datetime | None:
        raw = headers.get(self.reset)
        if raw is None:
            return None
        if self.reset_kind == "iso":
            return from_iso(raw)
        if self.reset_kind == "delta":
            try:
                return timezone.now() + timedelta(seconds=float(raw))
            except ValueError:
                return None
        return from_epoch(raw)


def retry_after(headers: Any) -> datetime | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return timezone.now() + timedelta(seconds=float(raw))
    except ValueError:
        try:
            return parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None


def parse_link_header(value: str) -> dict[str, str]:
    """RFC 8288 `Link` header → {rel: url} (Mastodon paginates with these)."""
    links = {}
    for part in value.split(","):
        match = re.search(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?', part)
        if match:
            links[match.group(2)] = match.group(1)
    return links


class ApiSession:
    """One account's HTTP session against one platform API.

    `auth` returns the headers that authenticate a request (called per request, so a refreshed
    token is picked up). `refresh`, when given, is called once after a 401 and the request is
    retried if it returns True (OAuth2 refresh tokens, Bluesky sessions); `expired` says which
    answers mean "token expired" (default: 401).
    `classify` may turn a platform-specific error body into an error (Meta's rate-limit codes
    come with HTTP 400/403, for example); it returns None to keep the default mapping.
    Quota counters are recorded through `state`.
    """

    def __init__(
        self,
        *,
        state: AccountState,
        base_url: str,
        quota: Any = None,  # anything with .read(headers) -> (remaining, reset_at)
        auth: Callable[[], dict[str, str]] | None = None,
        refresh: Callable[[], bool] | None = None,
        classify: Callable[[requests.Response], Exception | None] | None = None,
        expired: Callable[[requests.Response], bool] | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.state = state
        self.base_url = base_url.rstrip("/")
        self.quota = quota
        self.auth = auth
        self.refresh = refresh
        self.classify = classify
        self.expired = expired or (lambda response: response.status_code == 401)
        self.timeout = timeout
        self._session = session

    @property
    def account(self) -> BrandAccount:
        return self.state.account

    @property
    def session(self) -> requests.Session:
        # Made on first use: a webhook request builds a client only to check a signature,
        # and two requests.Sessions per request showed in its profile.
        if self._session is None:
            self._session = requests.Session()
        self._session.headers.setdefault("User-Agent", USER_AGENT)
        return self._session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None,
                data: Any = None, headers: dict[str, str] | None = None,
                stream: bool = False, authenticated: bool = True,
                timeout: tuple[float, float] | None = None) -> requests.Response:
        """Send one request; return the response on 2xx, raise a classified error otherwise."""
        refreshed = False
        while True:
            merged = dict(headers or {})
            if authenticated and self.auth is not None:
                merged = {**self.auth(), **merged}
            try:
                response = self.session.request(
                    method, self.url(path), params=params, json=json, data=data,
                    headers=merged, timeout=timeout or self.timeout, stream=stream,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                raise TransientError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
            except requests.RequestException as exc:
                raise PermanentError(f"{method} {path}: {exc}") from exc
            self._record_quota(response)
            if (authenticated and self.refresh is not None and not refreshed
                    and self.expired(response)):
                refreshed = True
                if self.refresh():
                    continue
            self.raise_for_status(response, f"{method} {path}")
            return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(f"{method} {path}: the platform answered non-JSON") from exc

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.json("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.json("POST", path, **kwargs)

    def lines(self, path: str, **kwargs: Any) -> Iterator[str]:
        """Stream a long-lived response line by line (X filtered stream, Mastodon SSE)."""
        response = self.request("GET", path, stream=True, **kwargs)
        try:
            for line in response.iter_lines(decode_unicode=True):
                yield line.decode() if isinstance(line, bytes) else (line or "")
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"stream {path} broke: {exc}") from exc
        finally:
            response.close()

    # --- errors and quota -------------------------------------------------------------------
    def raise_for_status(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if self.classify is not None:
            error = self.classify(response)
            if error is not None:
                if isinstance(error, RateLimited):
                    self.state.quota_record(remaining=0, reset_at=error.reset_at)
                raise error
        body = response.text[:300]
        if status == 429:
            reset_at = self.rate_limit_reset(response)
            self.state.quota_record(remaining=0, reset_at=reset_at)
            raise RateLimited(reset_at, f"{what}: 429 from the platform")
        if status >= 500:
            raise TransientError(f"{what}: {status} {body}")
        raise PermanentError(f"{what}: {status} {body}")

    def rate_limit_reset(self, response: requests.Response) -> datetime:
        reset_at = self.quota.read(response.headers)[1] if self.quota else None
        return reset_at or retry_after(response.headers) or timezone.now() + DEFAULT_BACKOFF

    def _record_quota(self, response: requests.Response) -> None:
        if self.quota is None:
            return
        remaining, reset_at = self.quota.read(response.headers)
        if remaining is not None:
            self.state.quota_record(remaining=remaining, reset_at=reset_at)


# --- idempotent writes on platforms without idempotency keys -----------------------------------
def ledger_target_taken(state: AccountState, *, action: str, target: str,
                        idempotency_key: str) -> bool:
    """Whether another key already did `action` on `target` (e.g. replied to this post)."""
    return any(
        entry.get("action") == action and entry.get("target") == target and key != idempotency_key
        for key, entry in state.ledger().items()
    )


def ledger_result_id(state: AccountState, *, action: str, target: str) -> str | None:
    """The platform id of what we posted doing `action` on `target` (our quote of a post, our
    repost of it), from the outbound ledger; None if we did not."""
    return next((entry["id"] for entry in state.ledger().values()
                 if entry.get("action") == action and entry.get("target") == target
                 and entry.get("id")), None)


def outbound_once(
    state: AccountState,
    *,
    idempotency_key: str,
    action: str,
    target: str,
    send: Callable[[], PostResult],
    find_earlier: Callable[[], PostResult | None] | None = None,
) -> PostResult:
    """Do a platform write at most once per idempotency key.

    - A key that already succeeded returns the stored result without calling the platform.
    - A key whose earlier attempt failed ambiguously (timeout, 5xx: it may have posted) first
      asks `find_earlier` to look for that post on the platform.
    - A `PermanentError` means nothing was posted, so the key is released for a later retry.
    """
    entry = state.ledger().get(idempotency_key)
    if entry and entry.get("id"):
        return PostResult(id=entry["id"], url=entry.get("url", ""), raw={"replayed": True})
    if entry and find_earlier is not None:
        earlier = find_earlier()
        if earlier is not None:
            state.ledger_put(idempotency_key, {
                "action": action, "target": target, "id": earlier.id, "url": earlier.url,
                "at": timezone.now().isoformat()})
            return earlier
    state.ledger_put(idempotency_key, {
        "action": action, "target": target, "pending": True,
        "at": timezone.now().isoformat()})
    try:
        result = send()
    except PermanentError:
        state.ledger_put(idempotency_key, None)
        raise
    state.ledger_put(idempotency_key, {
        "action": action, "target": target, "id": result.id, "url": result.url,
        "at": timezone.now().isoformat()})
    return result


def sleep_until(moment: datetime, *, cap_seconds: float = 900) -> None:
    """Block a long-running stream consumer until a reset time (bounded)."""
    delay = (moment - timezone.now()).total_seconds()
    if delay > 0:
        time.sleep(min(delay, cap_seconds))


# --- the shared base of the HTTP clients --------------------------------------------------------
class WebhookRejected(Exception):
    """A webhook delivery that must not be stored: `status` is what the endpoint answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookMalformed(Exception):
    """An authentic delivery (its signature matched) whose body Kansha cannot read: not JSON,
    nested too deep, or of a shape the platform's documentation does not describe.

    It is acknowledged and stored as rejected with `reason`: answering an error would make the
    platform redeliver the same signed bytes for days (issue 17).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What reading an unexpected JSON shape raises: `.get` on a list, `sorted` over dicts, a
# missing key, `int("abc")`, a pydantic ValidationError (a ValueError), JsonTooDeep.
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError)


def shape_error_reason(exc: BaseException) -> str:
    """Why a signed body (or one item of it) could not be read, without its contents (they
    may be personal data): the fields and rules for a validation error, else the error type."""
    if isinstance(exc, RecursionError | JsonTooDeep):
        return "malformed payload: nested too deeply"
    if isinstance(exc, ValidationError):
        return f"invalid item: {validation_reason(exc)}"
    return f"malformed payload: {type(exc).__name__}"


def items_read(entries: Any, read: Callable[[Any], tuple[MentionIn, dict[str, Any]] | None]
               ) -> tuple[list[MentionIn], list[dict[str, Any]], list[str]]:
    """(items, raw payloads, rejections) from `read` applied to each of `entries`.

    `read` returns (item, raw), or None for an entry that is not a mention for us. An entry
    it cannot read (an unexpected shape, a field the schema refuses) is skipped with its
    reason, so one bad entry never costs the good ones beside it. `entries` that is not a
    list reads as no entries, with a rejection.
    """
    items: list[MentionIn] = []
    raws: list[dict[str, Any]] = []
    rejected: list[str] = []
    if entries in (None, "", {}):
        return items, raws, rejected
    if not isinstance(entries, list):
        return items, raws, [f"malformed payload: expected a list, got {type(entries).__name__}"]
    for entry in entries:
        try:
            found = read(entry)
        except SHAPE_ERRORS as exc:
            rejected.append(shape_error_reason(exc))
            continue
        if found is not None:
            items.append(found[0])
            raws.append(found[1])
    return items, raws, rejected


@contextmanager
def signed_body_read() -> Iterator[None]:
    """Turn an unexpected shape met while reading a verified body into `WebhookMalformed`.

    Only for code that runs after the signature was checked: an unsigned body must never be
    stored."""
    try:
        yield
    except WebhookRejected:
        raise
    except SHAPE_ERRORS as exc:
        raise WebhookMalformed(shape_error_reason(exc)) from exc


@dataclass(frozen=True)
class WebhookRequest:
    """What a webhook view hands a client: the raw body, headers and query, untouched."""

    method: str
    body: bytes
    headers: Any  # case-insensitive mapping (Django's request.headers)
    query: Any  # QueryDict-like: .get(name)
    form: Any = None  # parsed form fields for form-encoded pushes (Foursquare)


def hmac_sha256(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison (signatures, tokens)."""
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


def check_fresh(moment: datetime | None, *, max_age: timedelta, what: str) -> None:
    """Reject a delivery whose signed timestamp is too old (a replay) or absurdly in the future."""
    if moment is None:
        raise WebhookRejected(400, f"{what}: no timestamp")
    now = timezone.now()
    if moment < now - max_age or moment > now + timedelta(minutes=5):
        raise WebhookRejected(400, f"{what}: stale timestamp {moment.isoformat()}")


class HttpPlatformClient(PlatformClient):
    """Base of the real platform clients: credentials and config through the account state."""

    _secrets: dict[str, Any] | None = None

    @property
    def secrets(self) -> dict[str, Any]:
        if self._secrets is None:
            self._secrets = self.state.credentials()
        return self._secrets

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if not value:
            raise PermanentError(f"{self.account}: credential {name!r} is not set")
        return str(value)

    def secrets_update(self, **updates: Any) -> None:
        """Store refreshed tokens (encrypted), keeping the other secrets."""
        self.state.credentials_update(updates)
        self._secrets = None

    def conf(self, name: str, default: Any = None) -> Any:
        return (self.account.config or {}).get(name, default)


class JsonWebhooks:
    """The parts of `WebhookReceiver` most platforms share: a JSON body, a content hash as the
    dedupe key, no GET verification. Mixed into the clients whose policy says `webhooks`."""

    account: BrandAccount

    def webhook_handshake(self, request: WebhookRequest) -> tuple[int, str, str]:
        raise WebhookRejected(405, "this platform sends no verification requests")

    def webhook_body(self, request: WebhookRequest) -> dict[str, Any]:
        """The verified body as storable JSON; `WebhookMalformed` if it is not a JSON object."""
        try:
            body = json_loads_bounded(request.body)
        except JsonTooDeep:
            raise WebhookMalformed("malformed payload: nested too deeply") from None
        except ValueError:
            raise WebhookMalformed("malformed payload: body is not JSON") from None
        if not isinstance(body, dict):
            raise WebhookMalformed("malformed payload: body is not a JSON object")
        return body

    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return f"{self.account.platform}:{self.account.pk}:sha256:{digest}"


def walk_back(*, entries: list[dict[str, Any]], cursor: dict[str, Any], next_page: str | None,
              ts: Callable[[dict[str, Any]], datetime | None],
              uid: Callable[[dict[str, Any]], str]
              ) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """Resume logic for feeds served newest → oldest (Graph API edges and similar).

    The cursor keeps a high-water mark (`seen_at` + the ids seen at exactly that time), the
    page token of a walk in progress (`page`) and the walk's own newest mark (`pending_*`),
    which replaces the high-water mark only when the walk reaches it or runs out of pages. So
    a restart mid-walk resumes from `page`, items arriving meanwhile wait for the next walk,
    and nothing is skipped or delivered twice. The first run takes the newest page only.
    Returns (entries to ingest, the new cursor, whether to fetch the next page now).
    """
    seen_at = from_iso(cursor.get("seen_at"))
    seen_ids = set(cursor.get("seen_ids") or [])
    if cursor.get("page"):
        pending, pending_ids = cursor.get("pending_at"), list(cursor.get("pending_ids") or [])
    else:
        stamps = [(t, uid(e)) for e in entries if (t := ts(e)) is not None]
        newest = max((t for t, _ in stamps), default=None)
        pending = newest.isoformat() if newest else None
        pending_ids = [i for t, i in stamps if t == newest]
    kept, reached = [], False
    for entry in entries:
        moment = ts(entry)
        if seen_at and moment and (moment < seen_at or (moment == seen_at
                                                        and uid(entry) in seen_ids)):
            reached = True
            continue
        kept.append(entry)
    if next_page and entries and not reached and seen_at is not None:
        return kept, {"seen_at": cursor.get("seen_at"), "seen_ids": sorted(seen_ids),
                      "page": next_page, "pending_at": pending, "pending_ids": pending_ids}, True
    if not pending:
        return kept, {k: cursor[k] for k in ("seen_at", "seen_ids") if cursor.get(k)}, False
    if seen_at and from_iso(pending) == seen_at:
        pending_ids = sorted(seen_ids | set(pending_ids))
    return kept, {"seen_at": pending, "seen_ids": sorted(pending_ids)}, False
