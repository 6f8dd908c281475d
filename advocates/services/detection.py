"""Detection (step 2 of a mention's journey): stored mentions are detected and routed.

The detector itself is pure (`advocates.detection`); this service loads the one for the current
settings, runs it over a locked batch, stores each detection and hands the batch to routing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from advocates.detection import DetectionInput, Detector, DetectorConfig
from advocates.models import DetectorSettings, Mention
from advocates.services.deadletters import (
    dead_letter_replayer_register,
    dead_letter_skip_keys,
    dead_letters_isolate,
)
from advocates.services.learning import live_model
from advocates.sql import is_deadlock, rows_update

logger = logging.getLogger(__name__)


def _detector() -> tuple[Detector, DetectorConfig]:
    """The detector for the current CMS settings and the live model, built once per distinct
    configuration and model version (a promotion or rollback takes effect on the next batch;
    each detection stores the version that made it)."""
    config = DetectorSettings.load().to_config()
    model = live_model()
    key = (config, model.version)
    cached = _DETECTORS.get(key)
    if cached is None:
        _DETECTORS.clear()
        cached = _DETECTORS[key] = Detector(config, model=model)
    return cached, config


_DETECTORS: dict[tuple[DetectorConfig, str], Detector] = {}


def mention_detection_input(mention: Mention) -> DetectionInput:
    return DetectionInput(
        text=mention.text,
        platform=mention.platform,
        kind=mention.kind,
        language=mention.language or None,
        rating=mention.rating,
        venue=mention.venue,
        author_handle=mention.author.handle,
    )


DETECT_TASK = "detect"


def mentions_undetected_ids(*, older_than_seconds: int = 60, limit: int = 10_000) -> list[int]:
    """Mentions that arrived a while ago and were never detected (their task was lost), except
    those set aside as dead letters."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    set_aside = [int(key) for key in dead_letter_skip_keys(task=DETECT_TASK)]
    return list(
        Mention.objects.filter(detected_at__isnull=True, received_at__lt=cutoff)
        .exclude(pk__in=set_aside)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )


def mentions_detect(*, mention_ids: Sequence[int]) -> int:
    """Detect and route the given mentions that have not been detected yet; return how many.

    One bad mention never stops its batch: if the batch fails, its halves are tried, down to
    single mentions, and a mention that fails on its own becomes a dead letter ("detect";
    `dead_letters_isolate`), which the sweep skips until it is replayed or discarded. Routing
    runs inside the same batch, so a mention that fails to route is set aside here too. A
    deadlock is not a bad row: it propagates and the task runs again.
    """
    ids = list(mention_ids)
    try:
        return _mentions_detect_batch(ids)
    except Exception as exc:
        if is_deadlock(exc):
            raise
        logger.warning("detect batch of %d failed (%s); isolating the bad mention",
                       len(ids), type(exc).__name__)
        first_error = exc
    detected = 0

    def run(chunk: Sequence[int]) -> None:
        nonlocal detected
        detected += _mentions_detect_batch(chunk)

    dead_letters_isolate(task=DETECT_TASK, rows=ids, run=run, failed=first_error,
                         key=lambda mention_id: mention_id,
                         payload=lambda mention_id: {"mention_id": mention_id})
    return detected


def mention_detect_replay(payload: dict[str, Any]) -> int:
    """Replay a "detect" dead letter: detect and route that one mention (once)."""
    return _mentions_detect_batch([int(payload["mention_id"])])


dead_letter_replayer_register(DETECT_TASK, mention_detect_replay)


def _mentions_detect_batch(mention_ids: Sequence[int]) -> int:
    """Detect and route the given mentions that have not been detected yet; return how many.

    Idempotent: mentions already detected are skipped, and the write is conditional on
    `detected_at IS NULL`, so two workers given the same batch store and route each mention
    once. Routing (proposals) happens in the same transaction as storing the detection.
    """
    # In the body: routing proposes outreach, whose delivery needs the platform services, whose
    # webhook batches detect right away (services.platforms → this module): a real cycle.
    from advocates.routing import mentions_route

    detector, config = _detector()
    with transaction.atomic():
        mentions = list(
            Mention.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=mention_ids, detected_at__isnull=True)
            .select_related("author__advocate")
        )
        if not mentions:
            return 0
        detections = detector.detect_batch([mention_detection_input(m) for m in mentions])
        now = timezone.now()
        for mention, detection in zip(mentions, detections, strict=True):
            mention.detected_at = now
            mention.detection_label = detection.label
            mention.detection_intent = detection.intent
            mention.detection_confidence = round(detection.confidence, 4)
            mention.detection_reasons = list(detection.reasons)
            mention.detection_flags = sorted(detection.flags)
            mention.detector_version = detection.version
            if not mention.language:
                mention.language = detection.language
        mentions_route(mentions=mentions, detections=detections, config=config, now=now)
        _detections_save(mentions, now)
    return len(mentions)


def _detections_save(mentions: Sequence[Mention], now: datetime) -> None:
    """Store the detection and route columns of locked, just-detected mentions."""
    rows_update(Mention, mentions, ["detected_at", "detection_label", "detection_intent",
                                    "detection_confidence", "detection_reasons",
                                    "detection_flags", "detector_version", "language", "route",
                                    "skip_reason"])
