"""/healthz and /readyz, the way an orchestrator and an operator read them (issue 17)."""

import json

import pytest
from django.conf import settings as django_settings

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


@pytest.mark.django_db
def test_readyz_is_ready_on_the_real_database_redis_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    if django_settings.REDIS_URL:  # on PostgreSQL + Redis the checks really ran
        assert "note" not in body["checks"]["redis"]
        assert "note" not in body["checks"]["broker"]
    else:  # embedded: nothing to reach, and it says so
        assert "not configured" in body["checks"]["redis"]["note"]


@pytest.mark.django_db
def test_readyz_is_unavailable_when_redis_and_the_broker_cannot_be_reached(client, settings,
                                                                           caplog):
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
    allowed = {"status", "checks", "ok", "ms", "error", "note", "database", "redis", "broker"}

    def keys(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield key
                yield from keys(inner)

    assert set(keys(json.loads(response.content))) <= allowed
    assert "sessionid" not in response.cookies
