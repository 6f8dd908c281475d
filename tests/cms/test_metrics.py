"""/metrics (issue 17): Prometheus text behind a bearer token, with counters that move."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from advocates.models import DeadLetter, Mention
from advocates.services import ingest_token_issue
from tests.factories import mention_item

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def _token(settings):
    settings.KANSHA_METRICS_TOKEN = TOKEN


def _scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def _api_requests(samples, status: str) -> float:
    return samples.get(("kansha_requests_total", (("endpoint", "api"), ("status", status))), 0)


def test_without_a_configured_token_there_is_no_metrics_endpoint(client, settings):
    settings.KANSHA_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_a_missing_or_wrong_token_is_refused(client):
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_counters_and_state_move_while_the_api_is_used(client,
                                                      django_capture_on_commit_callbacks):
    _, secret = ingest_token_issue(name="metrics")
    before = _scrape(client)

    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True):  # detection, as after a commit
            response = client.post("/api/v1/mentions", {"mentions": [mention_item(n)]},
                                   content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 200, response.content
    assert client.post("/api/v1/mentions", {"mentions": []}, content_type="application/json",
                       HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    DeadLetter.objects.create(task="detect", key="1", payload={"mention_id": 1}, error="boom")

    after = _scrape(client)
    assert _api_requests(after, "200") - _api_requests(before, "200") == 3
    assert _api_requests(after, "401") - _api_requests(before, "401") == 1
    latency = ("kansha_request_seconds_count", (("endpoint", "api"),))
    assert after[latency] - before.get(latency, 0) == 4
    assert after[("kansha_dead_letters_open", (("task", "detect"),))] == 1
    detected = sum(value for (name, _), value in after.items() if name == "kansha_detections")
    assert detected == Mention.objects.filter(detected_at__isnull=False).count() == 3


def test_the_admin_and_the_probes_are_not_counted(client):
    before = _scrape(client)
    client.get("/healthz")
    client.get("/admin/")
    after = _scrape(client)
    counted = {key: value for key, value in after.items() if key[0] == "kansha_requests_total"}
    assert counted == {key: value for key, value in before.items()
                       if key[0] == "kansha_requests_total"}
