"""Content-based routing: thank, care, answer or nothing, decided from one detection alone.

Pure Python, no Django. The database guards (opt-out, cooldown, one thank-you per mention)
run later in the services; this module holds only what the text and its platform say (the
platform's part is its `PlatformPolicy`, asked here and by delivery alike).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from advocates.detection import Detection, DetectionInput, DetectorConfig
from advocates.policies import POLICIES, ReplyTarget, as_handles

# Checked in this order; the first that applies is the reason shown to staff.
_BLOCKING_FLAGS = (
    ("own_account", "brand's own account"),
    ("spam", "spam"),
    ("excluded", "excluded term"),
)
_THANK_BLOCKING_FLAGS = (
    ("sarcasm", "sarcasm"),
    ("competitor", "competitor praise"),
)
THANKABLE_INTENTS = frozenset({"praise", "checkin", "review"})
CARE_INTENTS = frozenset({"complaint", "question"})

# Words that make a complaint urgent whoever wrote it: health, money, safety.
_SEVERE_CUES = (
    "food poisoning", "sick", "allerg", "hair in", "bug in", "cockroach", "refund",
    "charged", "burn", "injur", "返金", "お腹壊", "二重", "異物", "やけど", "アレルギー",
)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route: str  # "thank" | "care" | "answer" | "none"
    skip_reason: str = ""  # why a guard stopped it
    priority: int = 0  # for care and answers: 0..100 from severity and author reach


def is_thankable_sentiment(detection: Detection, threshold: float) -> bool:
    """The sentiment half of the thank decision, without the brand-specific guards.

    The benchmark uses this same function on general tweets, so the figures it prints are
    the router's own decision.
    """
    return (
        detection.label == "positive"
        and detection.confidence >= threshold
        and "sarcasm" not in detection.flags
    )


def route_decide(
    item: DetectionInput,
    detection: Detection,
    config: DetectorConfig,
    *,
    followers: int | None = None,
) -> RouteDecision:
    for flag, reason in _BLOCKING_FLAGS:
        if flag in detection.flags:
            return RouteDecision("none", reason)

    if detection.label == "negative" or "sarcasm" in detection.flags:
        if detection.intent in CARE_INTENTS or "sarcasm" in detection.flags:
            return RouteDecision("care", priority=care_priority(item, detection, followers))
        if "competitor" in detection.flags:
            return RouteDecision("none", "competitor praise")
        return RouteDecision("none", "negative, not a complaint")

    # A question is answered whatever its tone (a negative one is a complaint, above), and
    # even when it names a competitor ("is it quieter than Starbucks?"): nobody is thanked
    # for asking, and nobody is left without an answer.
    if detection.intent == "question":
        return RouteDecision("answer", priority=care_priority(item, detection, followers))

    for flag, reason in _THANK_BLOCKING_FLAGS:
        if flag in detection.flags:
            return RouteDecision("none", reason)
    if detection.label != "positive":
        return RouteDecision("none", detection.label)
    if detection.intent not in THANKABLE_INTENTS:
        return RouteDecision("none", f"intent is {detection.intent}")
    if not is_thankable_sentiment(detection, config.thank_threshold):
        return RouteDecision("none", "below confidence threshold")
    return RouteDecision("thank")


def brand_names(config: DetectorConfig) -> tuple[str, ...]:
    """How a post names the brand: its tracked handles (always with their "@", which is what
    the X automation rule looks for), then its tracked terms."""
    return (*as_handles(config.tracked_handles), *config.tracked_terms)


def reply_target(item: DetectionInput, config: DetectorConfig, *,
                 origin: str = "") -> ReplyTarget:
    """An item as its platform's automation rule sees it."""
    return ReplyTarget(kind=item.kind, text=item.text, origin=origin,
                       brand_names=brand_names(config))


def automation_rule(item: DetectionInput, config: DetectorConfig, *,
                    hashtag_media: bool = False) -> str:
    """Why the platform's automation rule forbids a brand reply to this item ("" if allowed).

    Only what the item itself shows; the kinds a platform lets a brand answer are checked
    with it by `PlatformPolicy.reply_refusal` in routing.
    """
    policy = POLICIES.get(item.platform)
    if policy is None:
        return ""
    return policy.automation_rule(
        reply_target(item, config, origin="hashtag" if hashtag_media else ""))


def care_priority(item: DetectionInput, detection: Detection, followers: int | None) -> int:
    """0..100: how bad it is (up to 70) plus how many people can see it (up to 30)."""
    severity = 30 + 30 * detection.confidence if detection.label == "negative" else 30.0
    text = item.text.lower()
    if any(cue in text for cue in _SEVERE_CUES):
        severity += 20
    if item.kind == "review" and item.rating is not None and item.rating <= 2:
        severity += 5  # reviews stay on the listing and are read by future customers
    return _priority(severity, followers)


def message_priority(text: str, followers: int | None) -> int:
    """0..100 for a direct message that opens a conversation (no detection runs on it): the
    severity of a neutral post (30, plus 20 for the same severe cues as `care_priority`) and
    the sender's reach, on the same scale, so the care SLA's per-priority lines apply."""
    severity = 30.0 + (20.0 if any(cue in text.lower() for cue in _SEVERE_CUES) else 0.0)
    return _priority(severity, followers)


def _priority(severity: float, followers: int | None) -> int:
    reach = 0.0
    if followers:
        # 10 followers -> 6, 1k -> 18, 100k+ -> 30: reach matters, but a loud account
        # must not bury a quiet customer who got sick.
        reach = min(30.0, 6.0 * math.log10(max(followers, 1)))
    return int(max(0, min(100, round(min(severity, 70.0) + reach))))
