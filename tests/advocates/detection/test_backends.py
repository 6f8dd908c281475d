"""The sentiment backends' shortcuts change nothing: VADER's scores and oseti's polarity words
are what the libraries themselves give, on every post of our labeled sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advocates.detection.backends import OsetiBackend, VaderBackend

DATA = Path(__file__).resolve().parents[2] / "data"
TRAINING = Path(__file__).resolve().parents[3] / "advocates" / "detection" / "training_data"


def _texts(language: str) -> list[str]:
    files = [DATA / "labeled_mentions.jsonl", DATA / "hotel_mentions.jsonl",
             *sorted(TRAINING.glob("*.jsonl"))]
    rows = [json.loads(line) for f in files for line in f.read_text("utf-8").splitlines()]
    return [r["text"] for r in rows if r.get("language") == language]


def test_vader_scores_are_vaders_own() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    ours = VaderBackend()._analyzer
    theirs = SentimentIntensityAnalyzer()
    texts = [*_texts("en"), "  padded, GREAT  ", "", "love it 😍😍 so good", "meh :( ",
             "kind of ok"]
    assert len(texts) > 1_500
    for text in texts:
        assert ours.polarity_scores(text) == theirs.polarity_scores(text), text


def test_oseti_polarities_are_osetis_own(monkeypatch: pytest.MonkeyPatch) -> None:
    import oseti

    backend = OsetiBackend()
    texts = [*_texts("ja"), "全然美味しくないわけではない", "気が利かない店員さん"]
    assert len(texts) > 1_000
    ours = [backend.polarities(t) for t in texts]
    monkeypatch.setattr(type(backend._analyzer), "_lookup_wago", oseti.Analyzer._lookup_wago)
    assert [backend.polarities(t) for t in texts] == ours
    assert any(word.count(" ") for found in ours for word, _ in found)  # multi-word entries hit
