"""/healthz and /readyz, the way an orchestrator and an operator read them (issue 17)."""

import json
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from cms import health

# Nothing listens on port 1: a refused connection, as when Redis is stopped (the real Redis
# is never touched).
CLOSED = "redis://127.0.0.1:1/0"


def test_healthz_is_alive_without_touching_the_database(client):
    # No `db` fixture: pytest-django fails any query, so this proves /healthz makes none.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.fixture(autouse=True)
def _no_heartbeat_left_behind():
    yield
    cache.delete(health.WORKER_HEARTBEAT_KEY)


def heartbeats_seen(*, worker_age: float = 0, beat_age: float = 0) -> None:
    """Stamp a worker and a beat heartbeat, as the heartbeat task and beat do."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    cache.set(health.WORKER_HEARTBEAT_KEY, time.time() - worker_age, timeout=None)
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name=health.HEARTBEAT_ENTRY, defaults={
            "task": "cms.tasks.heartbeat", "interval": every,
            "last_run_at": timezone.now() - timedelta(seconds=beat_age)})


@pytest.mark.django_db
def test_readyz_is_ready_on_the_real_database_redis_and_broker(client):
    heartbeats_seen()
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "broker", "worker", "beat"}
    assert all(check["ok"] for check in body["checks"].values())
    if django_settings.REDIS_URL:  # on PostgreSQL + Redis the checks really ran
        assert "note" not in body["checks"]["redis"]
        assert "note" not in body["checks"]["broker"]
    else:  # embedded: nothing to reach, and it says so
        assert "not configured" in body["checks"]["redis"]["note"]


@pytest.mark.django_db
def test_readyz_is_unavailable_when_redis_and_the_broker_cannot_be_reached(client, settings,
                                                                           caplog):
    heartbeats_seen()
    settings.REDIS_URL = CLOSED
    settings.CELERY_BROKER_URL = CLOSED

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"] == {"ok": False, "ms": body["checks"]["redis"]["ms"],
                                       "error": "ConnectionError"}
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"] == "OperationalError"
    # The public answer names no host or port; the log does, once per check.
    assert "127.0.0.1" not in response.content.decode()
    warnings = [r.getMessage() for r in caplog.records if r.name == "cms.health"]
    assert len(warnings) == 2
    assert all("127.0.0.1:1" in w for w in warnings)
    assert not any(r.exc_info for r in caplog.records if r.name == "cms.health")


@pytest.mark.django_db
def test_readyz_is_unavailable_without_a_recent_worker_or_beat_heartbeat(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as with real workers, whatever this run uses
    cache.delete(health.WORKER_HEARTBEAT_KEY)
    body = client.get("/readyz").json()
    assert body["checks"]["worker"]["error"] == "HeartbeatMissingError"
    assert body["checks"]["beat"]["error"] == "HeartbeatMissingError"

    heartbeats_seen(worker_age=health.HEARTBEAT_MAX_AGE + 5, beat_age=10)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["worker"]["error"] == "HeartbeatStaleError"
    assert body["checks"]["beat"]["ok"] is True

    heartbeats_seen(worker_age=1, beat_age=health.HEARTBEAT_MAX_AGE + 5)
    body = client.get("/readyz").json()
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["beat"]["error"] == "HeartbeatStaleError"


def test_the_heartbeat_is_in_the_beat_schedule_and_records_a_worker(settings):
    from cms.tasks import heartbeat

    entry = settings.CELERY_BEAT_SCHEDULE[health.HEARTBEAT_ENTRY]
    assert entry["task"] == heartbeat.name
    assert entry["schedule"] * 3 < health.HEARTBEAT_MAX_AGE
    cache.delete(health.WORKER_HEARTBEAT_KEY)
    heartbeat.delay()
    assert time.time() - cache.get(health.WORKER_HEARTBEAT_KEY) < 5


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_database_fails(client, monkeypatch):
    def broken() -> str:
        raise RuntimeError("could not connect to server at db.internal:5432")

    monkeypatch.setitem(health.READINESS_CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["error"] == "RuntimeError"
    assert "db.internal" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_needs_no_sign_in_and_shows_no_personal_data(client):
    response = client.get("/readyz")
    assert response.status_code in (200, 503)  # never a redirect to the sign-in page
    allowed = {"status", "checks", "ok", "ms", "error", "note", "database", "redis", "broker",
               "worker", "beat"}

    def keys(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield key
                yield from keys(inner)

    assert set(keys(json.loads(response.content))) <= allowed
    assert "sessionid" not in response.cookies
