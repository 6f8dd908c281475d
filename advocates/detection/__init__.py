"""Mention detection: language, sentiment label, intent, confidence and readable reasons.

Pure Python: nothing here imports Django, so it runs in a Celery worker, a benchmark or a
plain test without settings.
"""

from advocates.detection.detector import Detector
from advocates.detection.types import (
    DETECTOR_VERSION,
    Detection,
    DetectionInput,
    DetectorConfig,
)

__all__ = ["DETECTOR_VERSION", "Detection", "DetectionInput", "Detector", "DetectorConfig"]
