"""The acceptance bar on the hand-labeled brand mentions (tests/data/labeled_mentions.jsonl)."""

from __future__ import annotations

import pytest

from advocates.detection import DetectionInput, Detector, DetectorConfig
from advocates.routing_rules import route_decide

NEVER_THANK = ("complaint", "sarcasm", "competitor", "spam", "own_account", "excluded")


def _as_input(row: dict[str, object]) -> DetectionInput:
    rating = row["rating"]
    return DetectionInput(
        text=str(row["text"]),
        platform=str(row["platform"]),
        kind=str(row["kind"]),
        rating=rating if isinstance(rating, int) else None,
        venue=str(row["venue"]),
        author_handle=str(row["author_handle"]),
    )


def _routes(
    rows: list[dict[str, object]], detector: Detector, config: DetectorConfig
) -> list[tuple[dict[str, object], str]]:
    items = [_as_input(r) for r in rows]
    detections = detector.detect_batch(items)
    return [
        (row, route_decide(item, det, config).route)
        for row, item, det in zip(rows, items, detections, strict=True)
    ]


def test_labeled_set_is_big_and_bilingual(labeled_rows: list[dict[str, object]]) -> None:
    languages = [r["language"] for r in labeled_rows]
    assert len(labeled_rows) >= 150
    assert languages.count("ja") >= 40
    assert languages.count("en") > languages.count("ja")


def test_no_complaint_sarcasm_competitor_or_spam_is_thanked(
    labeled_rows: list[dict[str, object]], detector: Detector, brand_config: DetectorConfig
) -> None:
    wrongly = [
        row["text"]
        for row, route in _routes(labeled_rows, detector, brand_config)
        if route == "thank" and (row["category"] in NEVER_THANK or not row["should_thank"])
    ]
    assert wrongly == []


@pytest.mark.parametrize("language", ["en", "ja"])
def test_most_deserving_mentions_are_thanked_in_each_language(
    language: str,
    labeled_rows: list[dict[str, object]],
    detector: Detector,
    brand_config: DetectorConfig,
) -> None:
    deserving = [r for r in labeled_rows if r["should_thank"] and r["language"] == language]
    routed = _routes(deserving, detector, brand_config)
    thanked = sum(route == "thank" for _, route in routed)
    missed = [row["text"] for row, route in routed if route != "thank"]
    assert thanked >= 0.85 * len(deserving), missed


def test_complaints_in_the_labeled_set_reach_care(
    labeled_rows: list[dict[str, object]], detector: Detector, brand_config: DetectorConfig
) -> None:
    complaints = [r for r in labeled_rows if r["category"] in ("complaint", "sarcasm")]
    routed = _routes(complaints, detector, brand_config)
    not_cared = [row["text"] for row, route in routed if route != "care"]
    # Precision is about thank-yous; care may miss a few, but most complaints must land there.
    assert len(not_cared) <= 0.1 * len(complaints), not_cared
