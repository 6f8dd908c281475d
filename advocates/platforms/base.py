"""The one interface every platform client implements.

Outbound calls (reply, reshare, direct message, consent request) take the outreach row's
idempotency key: a client must make a retried call with the same key post nothing twice, using
the platform's own idempotency support where it has one, or by looking for its earlier post.

Errors are classified so the delivery task knows what to do:
- `TransientError`: retry with backoff (5xx, timeouts, connection resets);
- `RateLimited`: wait until `reset_at`, without burning an attempt;
- `PermanentError`: give up at once (4xx other than 429, policy refusals).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

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
    """What the platform answered for something we posted."""

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

class PlatformClient:
    """One brand account on one platform. Subclasses override what their platform supports."""

    platform: ClassVar[str]
    # Whether a reshare of someone's content needs their recorded consent on this platform.
    reshare_needs_consent: ClassVar[bool] = False
    # Whether the brand may reply to a post only once (X's automation rules): then a consent
    # request cannot follow the thank-you, and routing proposes no consent-gated reshare.
    one_reply_per_post: ClassVar[bool] = False
    # Whether the platform lets a brand account reply to this kind of mention at all.
    replyable_kinds: ClassVar[frozenset[str]] = frozenset(
        {"post", "reply", "quote", "comment", "checkin", "review", "tag", "story"}
    )
    # Whether parsing a stored webhook delivery calls the platform (the notification only names
    # the content). Such deliveries are processed one per task, outside any transaction, with
    # retries; the others are parsed in batches (advocates/services/platforms.py).
    webhook_fetches: ClassVar[bool] = False

    def __init__(self, account: BrandAccount) -> None:
        self.account = account

    # --- outbound -----------------------------------------------------------------------
    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support replies")

    def reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support reshares")

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support removing reshares")

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        raise PermanentError(f"{self.platform} does not support direct messages")

    def request_consent(self, *, in_reply_to: str, text: str,
                        idempotency_key: str) -> PostResult:
        # On most platforms a consent request is a public reply asking for a hashtag answer.
        return self.reply(in_reply_to=in_reply_to, text=text, idempotency_key=idempotency_key)

    # --- inbound ------------------------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        raise PermanentError(f"{self.platform} has no polling")

    def check(self) -> dict[str, Any]:
        """Health and remaining quota, for `manage.py platforms check`."""
        return {"ok": True}

_REGISTRY: dict[str, type[PlatformClient]] = {}

def register(cls: type[PlatformClient]) -> type[PlatformClient]:
    """Class decorator: make `client_for` find this client for its platform."""
    _REGISTRY[cls.platform] = cls
    return cls

def client_for(account: BrandAccount) -> PlatformClient:
    _load_clients()
    try:
        return _REGISTRY[account.platform](account)
    except KeyError:
        raise PermanentError(f"no client for platform {account.platform!r}") from None

_loaders: list[Callable[[], Iterable[Any]]] = []

def _load_clients() -> None:
    # Import every client module once so their @register decorators run.
    if _REGISTRY:
        return
    import importlib
    import pkgutil

    import advocates.platforms as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in {"base"}:
            importlib.import_module(f"advocates.platforms.{info.name}")
