"""Classifying an export without connecting anything: detection and the content routing
decision for every row of a file, storing nothing (`manage.py classify_mentions`).

A row needs only `text`; `language`, `kind`, `rating`, `venue`, `platform`, `author_handle`
and `followers` are used when present, and every field is passed through to the output.
The routing decision is the part that depends on the content alone (`route_decide` and the
platforms' automation rules); the guards that need stored history (opt-outs, cooldowns, one
thank-you per mention) have nothing to look at here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from advocates.detection import DetectionInput, Detector, DetectorConfig
from advocates.routing_rules import automation_rule, route_decide

# Rows detected per call: the detector works on batches, and a batch bounds memory.
BATCH_SIZE = 1000
KINDS = frozenset({"post", "reply", "quote", "comment", "checkin", "review", "tag", "story"})
# Fields the classifier writes; an input field of the same name is overwritten.
OUTPUT_FIELDS = ("label", "intent", "confidence", "reasons", "flags", "language",
                 "detector_version", "route", "skip_reason", "priority")


class RowError(ValueError):
    """A row that cannot be classified; the message says why."""


@dataclass(frozen=True, slots=True)
class ClassifiedRow:
    line: int
    output: dict[str, Any]  # the input fields, then OUTPUT_FIELDS (or "error")
    error: str = ""


def _optional_int(row: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RowError(f"{name} must be a whole number, not {value!r}") from None
    if isinstance(value, bool) or isinstance(value, float) and value != number:
        raise RowError(f"{name} must be a whole number, not {value!r}")
    if not low <= number <= high:
        raise RowError(f"{name} must be between {low} and {high}, not {number}")
    return number


def _optional_str(row: dict[str, Any], name: str, default: str = "") -> str:
    value = row.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, not {type(value).__name__}")
    return value.strip() or default


def row_input(row: dict[str, Any]) -> tuple[DetectionInput, int | None]:
    """The detector's input and the author's follower count, from one file row."""
    text = row.get("text")
    if text is None:
        raise RowError("missing field: text")
    if not isinstance(text, str):
        raise RowError(f"text must be a string, not {type(text).__name__}")
    kind = _optional_str(row, "kind", "post").lower()
    if kind == "check-in":
        kind = "checkin"
    if kind not in KINDS:
        raise RowError(f"kind must be one of {', '.join(sorted(KINDS))}, not {kind!r}")
    item = DetectionInput(
        text=text,
        platform=_optional_str(row, "platform", "sandbox").lower(),
        kind=kind,
        language=_optional_str(row, "language") or None,
        rating=_optional_int(row, "rating", 1, 5),
        venue=_optional_str(row, "venue"),
        author_handle=_optional_str(row, "author_handle"),
    )
    return item, _optional_int(row, "followers", 0, 2_000_000_000)


def rows_classify(
    *, rows: Iterable[tuple[int, dict[str, Any] | None, str]], detector: Detector,
    config: DetectorConfig,
) -> Iterator[ClassifiedRow]:
    """One ClassifiedRow per input row (line number, raw dict or None, read error), in order.

    A row that cannot be read or classified gives an output of its line and the error, so
    the output still has one line per input row.
    """
    pending: list[tuple[int, dict[str, Any], DetectionInput, int | None]] = []

    def flush() -> Iterator[ClassifiedRow]:
        detections = detector.detect_batch([entry[2] for entry in pending])
        for (line, row, item, followers), detection in zip(pending, detections, strict=True):
            decision = route_decide(item, detection, config, followers=followers)
            route, skip_reason = decision.route, decision.skip_reason
            if route == "thank":
                skip_reason = automation_rule(item, config)
                route = "none" if skip_reason else route
            yield ClassifiedRow(line, {
                **row,
                "label": detection.label,
                "intent": detection.intent,
                "confidence": round(detection.confidence, 4),
                "reasons": list(detection.reasons),
                "flags": sorted(detection.flags),
                "language": detection.language,
                "detector_version": detection.version,
                "route": route,
                "skip_reason": skip_reason,
                "priority": decision.priority if route in ("care", "answer") else None,
            })
        pending.clear()

    for line, row, read_error in rows:
        if row is None:
            yield from flush()
            yield ClassifiedRow(line, {"line": line, "error": read_error}, read_error)
            continue
        try:
            item, followers = row_input(row)
        except RowError as exc:
            yield from flush()
            yield ClassifiedRow(line, {**row, "line": line, "error": str(exc)}, str(exc))
            continue
        pending.append((line, dict(row), item, followers))
        if len(pending) >= BATCH_SIZE:
            yield from flush()
    yield from flush()
