"""The normalised mention: the one public schema every entry point hands to ingestion.

Webhooks, pollers, file imports and the ingest API all turn their input into `MentionIn`
before calling `advocates.services.mentions_ingest`. Documented in docs/ingest.md.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from advocates.policies import PLATFORM_NAMES

if TYPE_CHECKING:
    PlatformName = str
else:  # the names the policies declare, as a Literal so the OpenAPI schema lists them
    PlatformName = Literal[PLATFORM_NAMES]
# The window a mention's posting time must fall in (in UTC). Nothing Kansha reads predates
# 2006 (the oldest network it speaks to opened then), and a post from more than a day ahead is
# a broken clock or a forgery. Outside years 1-9999 in UTC a datetime cannot even be converted:
# such a value, once stored, broke every batch and report that read it (issue 17).
POSTED_AT_EARLIEST = datetime(2006, 1, 1, tzinfo=UTC)
POSTED_AT_MAX_AHEAD = timedelta(days=1)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MentionKindName = Literal["post", "reply", "quote", "comment", "checkin", "review", "tag",
                          "story"]


class MentionIn(BaseModel):
    """One mention, as any source must describe it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    platform: PlatformName
    external_id: str = Field(min_length=1, max_length=191)
    author_id: str = Field(min_length=1, max_length=128)
    author_handle: str = Field(max_length=200)
    author_name: str = Field(default="", max_length=200)
    text: str = Field(max_length=10_000)
    posted_at: datetime = Field(description="ISO 8601 with a UTC offset")
    kind: MentionKindName
    url: str = Field(default="", max_length=500)
    language: str = Field(default="", max_length=8)
    rating: int | None = Field(default=None, ge=1, le=5)
    venue: str = Field(default="", max_length=200)
    in_reply_to: str = Field(default="", max_length=191)
    followers: int | None = Field(default=None, ge=0, le=2_000_000_000)

    @field_validator("platform", "external_id", "author_id", "author_handle", "author_name",
                     "text", "url", "language", "venue", "in_reply_to", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        # PostgreSQL text and jsonb cannot hold NUL; without this a stray \x00 was a 500
        # (found by schemathesis in tests/reliability/test_bad_input.py). An unpaired
        # surrogate (JSON "\ud800") cannot be encoded as UTF-8 at all.
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("must not contain NUL (\\u0000) characters")
            if _LONE_SURROGATE.search(value):
                raise ValueError("must not contain unpaired surrogates (\\ud800-\\udfff)")
        return value

    @field_validator("posted_at")
    @classmethod
    def _posted_at_sane(cls, value: datetime) -> datetime:
        return posted_at_check(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// or http://")
        return value

    @field_validator("rating", "followers", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # CSV cells are strings; an empty cell means "not given".
        return None if value == "" else value


def posted_at_check(value: datetime) -> datetime:
    """`value` if it has a real UTC offset and lies between POSTED_AT_EARLIEST and now + one
    day in UTC; ValueError with the reason otherwise. The one definition every entry point
    (API, import, webhooks, pollers, streams) applies through `MentionIn`."""
    offset = value.utcoffset()
    if value.tzinfo is None or offset is None:
        raise ValueError("posted_at needs a UTC offset, e.g. 2026-11-23T09:30:00+09:00")
    # Real offsets lie within ±14:00; PostgreSQL refuses beyond ±15:59, which was a 500
    # (found by schemathesis in tests/reliability/test_bad_input.py).
    if abs(offset.total_seconds()) > 14 * 3600:
        raise ValueError("posted_at's UTC offset must be between -14:00 and +14:00")
    latest = datetime.now(UTC) + POSTED_AT_MAX_AHEAD
    # Compare before converting: 9999-12-31T23:59:59-14:00 overflows in UTC.
    if not 2005 <= value.year <= latest.year or not (
            POSTED_AT_EARLIEST <= value.astimezone(UTC) <= latest):
        raise ValueError(f"posted_at must lie between {POSTED_AT_EARLIEST:%Y-%m-%d} and "
                         f"one day from now, in UTC")
    return value


def validation_reason(exc: ValidationError) -> str:
    """A one-line, human-readable summary of what is wrong with an item."""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "item"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


def mention_item_parse(data: Any) -> tuple[MentionIn | None, str]:
    """Validate one raw item: (item, "") when good, (None, reason) when not."""
    if not isinstance(data, dict):
        return None, "item must be a JSON object"
    try:
        return MentionIn.model_validate(data), ""
    except ValidationError as exc:
        return None, validation_reason(exc)
