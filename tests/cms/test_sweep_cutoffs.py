"""Stranded work (its task lost with a broker outage or a killed worker) is picked up within
two minutes: each sweep's cutoff plus its beat interval (issue 17)."""

from __future__ import annotations

from django.conf import settings

from advocates.services.detection import mentions_undetected_ids
from advocates.services.platforms import WEBHOOK_SWEEP_AFTER_SECONDS

PICKED_UP_WITHIN = 120


def _every(entry: str) -> float:
    return float(settings.CELERY_BEAT_SCHEDULE[entry]["schedule"])


def test_stranded_webhook_deliveries_are_swept_within_two_minutes():
    assert WEBHOOK_SWEEP_AFTER_SECONDS + _every("webhooks-sweep") <= PICKED_UP_WITHIN


def test_stranded_mentions_are_swept_within_two_minutes():
    cutoff = mentions_undetected_ids.__kwdefaults__["older_than_seconds"]
    assert cutoff + _every("sweep-undetected-mentions") <= PICKED_UP_WITHIN
