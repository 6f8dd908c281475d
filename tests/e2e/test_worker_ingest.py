"""An ingested batch is processed by a real Celery worker on Redis and PostgreSQL.

The API request commits the mentions, the commit enqueues detection on Redis, and a separate
`celery worker` process (same PostgreSQL test database) detects and routes every mention.
"""

import json

import pytest

from advocates.models import Mention, Outreach
from advocates.services import ingest_token_issue
from advocates.simulation import MentionSimulator
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.conftest import wait_for

# The reply templates come from a data migration, which an earlier transactional test may
# have flushed; without them every thank-you is skipped ("no live praise template").
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_data")]


def _post(client, secret, mentions):
    return client.post("/api/v1/mentions", data=json.dumps({"mentions": mentions}),
                       content_type="application/json",
                       headers={"Authorization": f"Bearer {secret}"})


def test_a_batch_posted_to_the_api_is_detected_by_the_worker(celery_worker_process, client):
    _, secret = ingest_token_issue(name="e2e")
    mentions = MentionSimulator(seed=2026).batch(60)

    response = _post(client, secret, mentions)

    assert response.status_code == 200, response.content
    assert response.json()["created"] == 60

    def all_detected():
        return not Mention.objects.filter(detected_at__isnull=True).exists()

    wait_for(all_detected, timeout=90)
    detected = Mention.objects.all()
    assert detected.count() == 60
    assert all(m.detection_label and m.detection_intent and m.detector_version
               for m in detected)
    # The worker's judgement, not a default: the simulated stream is mostly praise.
    labels = set(detected.values_list("detection_label", flat=True))
    assert {"positive", "negative"} <= labels
    assert detected.filter(route="thank").exists()
    assert detected.filter(route="care").exists()

    # Delivering the same batch again changes nothing: no new mentions, no new proposals.
    outreach = Outreach.objects.count()
    again = _post(client, secret, mentions)
    assert again.json() == {"created": 0, "duplicate": 60, "invalid": []}
    assert Mention.objects.count() == 60
    assert Outreach.objects.count() == outreach
