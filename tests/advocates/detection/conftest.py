"""Shared fixtures for the pure detection tests: no database, no Django settings needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advocates.detection import Detector, DetectorConfig
from advocates.detection.types import RULES_THANK_THRESHOLD

LABELED = Path(__file__).resolve().parents[2] / "data" / "labeled_mentions.jsonl"

BRAND_CONFIG = DetectorConfig(
    tracked_terms=("kansha coffee", "カンシャ珈琲"),
    tracked_handles=("@kanshacoffee",),
    exclusions=("kansha bank", "カンシャ銀行"),
    competitors=("starbucks", "blue bottle", "doutor", "スタバ", "ブルーボトル", "ドトール"),
    own_handles=("@kanshacoffee", "@kanshacoffee_jp"),
    # These tests are about the rules: they run without a model, at the rules' threshold.
    thank_threshold=RULES_THANK_THRESHOLD,
)


@pytest.fixture(scope="session")
def brand_config() -> DetectorConfig:
    return BRAND_CONFIG


@pytest.fixture(scope="session")
def detector() -> Detector:
    # Loading VADER and MeCab takes a moment; one detector serves every test.
    return Detector(BRAND_CONFIG)


@pytest.fixture(scope="session")
def labeled_rows() -> list[dict[str, object]]:
    with LABELED.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
