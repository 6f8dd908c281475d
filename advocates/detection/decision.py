"""The decision production makes for an item, as one of the model's classes.

Detection then content routing (`advocates.routing_rules.route_decide`, the same guards the
queue gets): a thank-you is "thank", care and answers are "care" (both reach the care team),
everything else "none". Benchmarks and promotion measure this, not the model alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from advocates.detection.detector import Detector
from advocates.detection.types import DetectionInput
from advocates.routing_rules import route_decide

ROUTE_DECISION = {"thank": "thank", "care": "care", "answer": "care", "none": "none"}


def decisions_of(detector: Detector, items: Sequence[DetectionInput]) -> list[str]:
    detections = detector.detect_batch(items)
    return [ROUTE_DECISION[route_decide(item, detection, detector.config).route]
            for item, detection in zip(items, detections, strict=True)]
