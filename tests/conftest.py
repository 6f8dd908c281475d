"""Shared fixtures.

Unit tests run Celery tasks eagerly. Tests marked `integration` run against a real Celery
worker process on Redis and the same (PostgreSQL) test database; they are skipped unless
DATABASE_URL points at PostgreSQL and REDIS_URL is set, which is what `.ci/run` does.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from cms.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


def _integration_available() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and bool(
        settings.REDIS_URL
    )


def pytest_report_header(config) -> str:
    """Say which database and broker this run uses (the integration tests need both)."""
    database = settings.DATABASES["default"]
    where = "in-process (eager)" if settings.CELERY_TASK_ALWAYS_EAGER else "a real worker"
    return (f"kansha: database {database['ENGINE'].rsplit('.', 1)[-1]} ({database['NAME']}); "
            f"tasks run {where}")


def pytest_collection_modifyitems(config, items):
    if _integration_available():
        return
    skip = pytest.mark.skip(reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _celery_mode(request):
    """Eager tasks for unit tests; real broker for integration tests."""
    eager = "integration" not in request.keywords
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous


def _database_url_for_worker() -> str:
    s = connection.settings_dict
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


def celery_queues_purge() -> int:
    """Empty every queue Kansha routes tasks to, not only `default` (`control.purge()` empties
    the queues the app declares, which is `default` alone): a task a previous test left in
    `detect` or `rewards` must not run in this one. Returns the messages dropped."""
    dropped = 0
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in settings.CELERY_TASK_QUEUE_NAMES:
            dropped += channel.queue_purge(queue) or 0
    return dropped


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery worker` subprocess on Redis, using this test run's database."""
    celery_queues_purge()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_worker(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_DEBUG": "1",
    }
    log_path = ROOT / "test-artifacts" / f"worker-{os.getpid()}-{time.time_ns()}.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("w")
    hostname = f"test-{os.getpid()}-{time.time_ns()}@localhost"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cms", "worker", "-l", "info", "-P", "solo",
         "-n", hostname, "-Q", ",".join(settings.CELERY_TASK_QUEUE_NAMES), "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early; see {log_path}")
        if "ready." in log_path.read_text():
            break
        time.sleep(0.2)
    else:
        proc.terminate()
        raise RuntimeError(f"celery worker did not become ready; see {log_path}")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")
