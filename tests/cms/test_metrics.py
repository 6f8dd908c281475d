"""/metrics (issue 17): Prometheus text behind a bearer token, with counters that move."""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from prometheus_client.parser import text_string_to_metric_families

from advocates.models import DeadLetter, Mention
from advocates.services import ingest_token_issue
from cms.celery import app as celery_app
from cms.tasks import heartbeat
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


# --- Per-queue task metrics (cms/task_metrics.py) ---------------------------------------------

@celery_app.task(name="tests.cms.metrics_probe", bind=True, max_retries=1)
def _probe(self, outcome: str) -> str:
    """A task that succeeds, fails, or retries once then succeeds, as asked."""
    if outcome == "fail":
        raise ValueError("probe failed")
    if outcome == "retry" and not self.request.retries:
        raise self.retry(countdown=0)
    return outcome


def _task_count(samples, queue: str, task: str, outcome: str) -> float:
    return samples.get(("kansha_tasks_total", (("outcome", outcome), ("queue", queue),
                                               ("task", task))), 0)


@pytest.mark.parametrize("redis", [True, False], ids=["redis", "in-process"])
def test_task_counts_by_queue_and_outcome_and_durations_per_queue(client, settings, redis):
    if not redis:
        settings.REDIS_URL = ""  # the embedded demo: figures kept in this process
    elif not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    before = _scrape(client)

    _probe.delay("ok")
    _probe.delay("ok")
    with pytest.raises(ValueError, match="probe failed"):
        _probe.delay("fail")
    with pytest.raises(Retry):  # eager: the retry runs at once, then Retry is raised here
        _probe.delay("retry")
    heartbeat.delay()

    after = _scrape(client)
    name = "tests.cms.metrics_probe"
    moved = {outcome: _task_count(after, "default", name, outcome)
             - _task_count(before, "default", name, outcome)
             for outcome in ("succeeded", "failed", "retried")}
    # (Whether Celery runs an eager retry again at once is its business: at least the two.)
    assert moved["succeeded"] >= 2
    assert (moved["failed"], moved["retried"]) == (1, 1)
    assert (_task_count(after, "default", "cms.tasks.heartbeat", "succeeded")
            - _task_count(before, "default", "cms.tasks.heartbeat", "succeeded")) == 1

    def seconds(samples, what):
        return samples.get((f"kansha_task_seconds_{what}", (("queue", "default"),)), 0)

    finished = sum(moved.values()) + 1  # and the heartbeat
    assert seconds(after, "count") - seconds(before, "count") == finished
    assert seconds(after, "sum") > seconds(before, "sum")
    inf = ("kansha_task_seconds_bucket", (("le", "+Inf"), ("queue", "default")))
    assert after[inf] - before.get(inf, 0) == finished


def test_a_task_routed_to_its_queue_is_counted_under_it(client):
    from rewards.reports.rollups import rollups_refresh  # noqa: F401 - the reports task's module
    from rewards.tasks import report_rollups_refresh

    before = _scrape(client)
    report_rollups_refresh.delay()
    after = _scrape(client)
    task = "rewards.tasks.report_rollups_refresh"
    assert (_task_count(after, "reports", task, "succeeded")
            - _task_count(before, "reports", task, "succeeded")) == 1


def test_recording_never_fails_a_task_when_redis_is_away(client, settings, monkeypatch):
    from cms import task_metrics

    monkeypatch.setattr(task_metrics, "_client", None)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert _probe.delay("ok").get() == "ok"
    monkeypatch.setattr(task_metrics, "_client", None)
