"""What every platform client is: a pure adapter behind small protocols.

A client speaks one platform's HTTP API and returns typed items; it never touches our tables.
What it needs to remember about its own account (quota counters, the outbound ledger, refreshed
tokens) and what Kansha stored about a post it is asked to answer, it reads and writes through
the `AccountState` it is given; the services implement that over the database
(`advocates/services/platforms.py`). What a platform allows is its `PlatformPolicy`
(`advocates/policies.py`), which each client names.

A client implements the protocols its policy promises: `Poller` (policy.polls), `WebhookReceiver`
(policy.webhooks), `Streamer` (policy.streams), and `Messenger` (every client: outbound calls the
policy does not allow answer `PermanentError`).

A reshare given `text` must carry it (a quote post, or a caption): a client whose policy has no
`reshare_text` refuses such a call rather than repost without it.

Outbound calls (reply, reshare, direct message, consent request) take the outreach row's
idempotency key: a client must make a retried call with the same key post nothing twice, using
the platform's own idempotency support where it has one, or by looking for its earlier post.

Errors are classified so the delivery task knows what to do:
- `TransientError`: retry with backoff (5xx, timeouts, connection resets);
- `RateLimited`: wait until `reset_at`, without burning an attempt;
- `PermanentError`: give up at once (4xx other than 429, policy refusals).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from advocates.policies import PlatformPolicy

if TYPE_CHECKING:
    from advocates.models import BrandAccount
    from advocates.schemas import MentionIn


class PlatformError(Exception):
    """Base of every error a platform client raises."""


class TransientError(PlatformError):
    """Worth retrying: the platform or the network failed for now."""


class PermanentError(PlatformError):
    """Not worth retrying: the request itself is wrong or not allowed."""


class RateLimited(PlatformError):
    """The platform asked us to wait until `reset_at` (e.g. a 429 with a reset header)."""

    def __init__(self, reset_at: datetime, message: str = "rate limited") -> None:
        super().__init__(f"{message}; retry after {reset_at.isoformat()}")
        self.reset_at = reset_at


@dataclass(frozen=True)
class PostResult:
    """What the platform answered for something we posted (a delivery result)."""

    id: str
    url: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PollPage:
    """One page of inbound items and the cursor to resume from after it."""

    items: list[MentionIn]
    raw_payloads: list[dict[str, Any]]
    cursor: dict[str, Any]
    more: bool = False
    rejected: list[str] = field(default_factory=list)  # why each unreadable entry was skipped
    # Direct messages found on the page (Mastodon's direct-visibility mentions).
    messages: list[MessageIn] = field(default_factory=list)


@dataclass(frozen=True)
class MessageIn:
    """A direct message a person sent the brand, or their follow / unfollow (`event`).

    `external_id` is the platform's id of the message (or of the event), unique on the
    platform, so a redelivery stores nothing twice. `raw` keeps what answering needs (LINE's
    reply token) and is stored with the message.
    """

    external_id: str
    author_id: str
    sent_at: datetime
    text: str = ""
    event: str = "message"  # "message" | "follow" | "unfollow"
    author_handle: str = ""
    author_name: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookItems:
    """What one stored webhook delivery holds: mentions and their raw payloads, in order, and
    the direct messages (and follows) it carries."""

    items: list[MentionIn] = field(default_factory=list)
    raw_payloads: list[dict[str, Any]] = field(default_factory=list)
    # Why each item that could not be read was skipped (no contents: they may be personal).
    # One bad item never costs the others in the same delivery (issue 17).
    rejected: list[str] = field(default_factory=list)
    messages: list[MessageIn] = field(default_factory=list)


@dataclass(frozen=True)
class StreamEvent:
    """One frame of a stream: a mention that involves the brand (`raw` is what the stream
    sent for it), or `raw` alone for a frame that only moves the stream's position.

    `position`, when set, is where a reconnect may resume once everything read up to this
    frame is stored (Jetstream's `time_us`); streams without replay leave it None.
    """

    raw: dict[str, Any]
    item: MentionIn | None = None
    position: dict[str, Any] | None = None


class AccountState(Protocol):
    """What a client may keep about its brand account and read about the posts Kansha stored.

    The services implement it over the database; a client never imports the models.
    """

    account: BrandAccount

    def quota_record(self, *, remaining: int | None, reset_at: datetime | None) -> None:
        """Store the last quota counters the platform reported."""

    def ledger(self) -> dict[str, dict[str, Any]]:
        """The outbound ledger: our idempotency key → what it posted (fresh from storage)."""

    def ledger_put(self, key: str, entry: dict[str, Any] | None) -> None:
        """Set (or, with None, drop) one ledger entry."""

    def credentials(self) -> dict[str, Any]:
        """The account's secrets, decrypted."""

    def credentials_update(self, updates: dict[str, Any]) -> None:
        """Store refreshed tokens (encrypted), keeping the other secrets."""

    def stored_post(self, external_id: str) -> dict[str, Any] | None:
        """The raw payload Kansha stored for a post on this platform, or None."""

    def inbound_message(self, *, external_id: str = "",
                        author_id: str = "") -> dict[str, Any] | None:
        """A direct message Kansha stored from a person on this platform: the one with this id,
        or this author's newest. {"external_id", "author_id", "at" (datetime), "raw"}."""


@runtime_checkable
class Poller(Protocol):
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of new items after `cursor`, and the cursor after it."""


@runtime_checkable
class WebhookReceiver(Protocol):
    def webhook_handshake(self, request: Any) -> tuple[int, str, str]:
        """Answer a GET verification: (status, content_type, body)."""

    def webhook_verify(self, request: Any) -> None:
        """Raise `WebhookRejected` unless the delivery is authentic and fresh."""

    def webhook_body(self, request: Any) -> dict[str, Any]:
        """The delivery as it will be stored."""

    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        """A key unique to this delivery's content, so a redelivery stores nothing."""

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        """Parse a stored delivery (may call the platform where policy.webhook_fetches)."""


@runtime_checkable
class Streamer(Protocol):
    def stream_frames(self, *, position: dict[str, Any] | None) -> Iterable[Any]:
        """Connect and yield the stream's raw frames until it ends (from `position` where the
        stream can replay). A dropped connection raises `TransientError`."""

    def stream_events(self, frames: Iterable[Any]) -> Iterator[StreamEvent]:
        """The frames as events, pure: no request."""

    def stream_mentions(self, events: list[StreamEvent],
                        known: dict[str, dict[str, str]]) -> list[MentionIn]:
        """The batch's mentions, ready to store. A stream that names authors only by id looks
        them up here; `known` (author id → {"handle", "name"}) is what Kansha already has."""


@runtime_checkable
class Messenger(Protocol):
    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult: ...

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        """Reshare a post; with `text` (a disclosure line), as the policy's `reshare_text` says:
        a quote post with that text, or the republished copy's caption led by it."""

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult: ...

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult: ...

    def request_consent(self, *, in_reply_to: str, text: str,
                        idempotency_key: str) -> PostResult: ...


class PlatformClient:
    """One brand account on one platform. Subclasses override what their policy allows."""

    policy: ClassVar[PlatformPolicy]

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        self.account = account
        self.state = state

    @property
    def platform(self) -> str:
        return self.policy.platform

    # --- Messenger: what the policy does not allow is refused without a request ------------
    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support replies")

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        raise PermanentError(f"{self.platform} does not support reshares")

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support removing reshares")

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support direct messages")

    def request_consent(self, *, in_reply_to: str, text: str,
                        idempotency_key: str) -> PostResult:
        # On most platforms a consent request is a public reply asking for a hashtag answer.
        return self.reply(in_reply_to=in_reply_to, text=text, idempotency_key=idempotency_key)

    def check(self) -> dict[str, Any]:
        """Health and remaining quota, for `manage.py platforms check`."""
        return {"ok": True}
