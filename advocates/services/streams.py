"""Stream consumption: one service for every platform whose policy says `streams`.

The client (a `Streamer`) connects and turns frames into `StreamEvent`s; this service stores
them in batches (source "stream") and, for streams that can replay (Bluesky Jetstream), saves
the position after each stored batch. `manage.py platforms stream` runs it and reconnects.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, cast

from advocates.models import BrandAccount, MentionSource, SocialIdentity
from advocates.platforms.base import PermanentError, PlatformError, Streamer, StreamEvent
from advocates.policies import POLICIES
from advocates.services.ingest import mentions_ingest
from advocates.services.platforms import brand_account_client, brand_account_cursor_save

# Mentions and the position are stored at least this often, and at every `batch_size` mentions.
STREAM_FLUSH_SECONDS = 5.0
STREAM_BATCH_SIZE = 100
# Where a stream's position lives in the account's cursor, unless the client names its own key.
STREAM_CURSOR_KEY = "stream"


def brand_account_streamer(account: BrandAccount) -> Streamer:
    """The account's client as a streamer; `PermanentError` if its policy has no stream."""
    policy = POLICIES.get(account.platform)
    if policy is None or not policy.streams:
        label = policy.label if policy is not None else account.platform
        raise PermanentError(f"{label} has no streaming API")
    return cast(Streamer, brand_account_client(account))


def _known_authors(platform: str, author_ids: set[str]) -> dict[str, dict[str, str]]:
    """What Kansha already knows about these authors: id → handle and name."""
    if not author_ids:
        return {}
    return {uid: {"handle": handle, "name": name} for uid, handle, name in
            SocialIdentity.objects.filter(platform=platform, platform_user_id__in=author_ids)
            .values_list("platform_user_id", "handle", "display_name")}


def stream_consume(*, account: BrandAccount, frames: Iterable[Any] | None = None,
                   batch_size: int = STREAM_BATCH_SIZE,
                   flush_seconds: float = STREAM_FLUSH_SECONDS) -> int:
    """Ingest an account's stream (source "stream"); return the mentions created.

    With `frames` omitted the client connects (from the saved position where its stream can
    replay) and this runs until the connection ends; a break raises `TransientError` (a refused
    connect `RateLimited`) for the caller to reconnect with backoff. Mentions are stored in
    batches, each followed by the position of the newest frame read, matching or not, so a
    quiet brand does not replay hours after a restart. A crash between the two replays the
    batch, which the platform ids deduplicate; the position never passes a mention that is not
    stored, so nothing is skipped. What was read before a connection broke is stored first.
    """
    streamer = brand_account_streamer(account)
    key = str(getattr(streamer, "stream_cursor_key", STREAM_CURSOR_KEY))
    if frames is None:
        saved = (BrandAccount.objects.filter(pk=account.pk)
                 .values_list("cursor", flat=True).first()) or {}
        frames = streamer.stream_frames(position=saved.get(key))
    created = 0
    batch: list[StreamEvent] = []
    read: dict[str, Any] | None = None
    saved_position: dict[str, Any] | None = None
    flushed = time.monotonic()

    def flush() -> None:
        nonlocal created, saved_position, flushed
        if batch:
            known = _known_authors(account.platform,
                                   {e.item.author_id for e in batch if e.item is not None})
            items = streamer.stream_mentions(batch, known)
            created += mentions_ingest(items=items, source=MentionSource.STREAM,
                                       raw_payloads=[e.raw for e in batch]).created
            batch.clear()
        if read is not None and read != saved_position:
            brand_account_cursor_save(account=account, key=key, value=read)
            saved_position = read
        flushed = time.monotonic()

    try:
        for event in streamer.stream_events(frames):
            if event.item is not None:
                batch.append(event)
            if event.position is not None:
                read = event.position
            if len(batch) >= batch_size or time.monotonic() - flushed >= flush_seconds:
                flush()
    except PlatformError:
        flush()  # keep what was read before the connection broke
        raise
    flush()
    return created
