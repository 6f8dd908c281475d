"""Liveness and readiness for whoever runs Kansha (docs/operations.md).

`/healthz` says the process answers; it touches nothing else, so a database or Redis outage
never makes an orchestrator restart healthy web processes. `/readyz` checks what a request
needs — the database, Redis (the cache: sign-in throttling, rate limits) and the Celery broker
(webhooks and the API enqueue work) — and that a worker and beat were seen lately (their
heartbeats), and is unhealthy when any of them fails.

Both are public, so the answer names each check, whether it passed, how long it took and, on
failure, only the error's type: hosts, ports and passwords in the message stay in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu import Connection

logger = logging.getLogger(__name__)

# Each check gives up after this long, so /readyz answers within a few seconds even when a
# dependency is down; orchestrator probes usually time out at 1-10 s.
CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    ms: float
    error: str = ""  # the exception's type only (its message may name hosts or credentials)
    note: str = ""  # e.g. why a check did not apply


def _timed(name: str, probe: Callable[[], str]) -> CheckResult:
    """Run `probe` (which returns an optional note) and time it; any exception is a failure,
    logged as one line (a probe every few seconds must not fill the log with tracebacks)."""
    started = time.perf_counter()
    try:
        note = probe()
    except Exception as exc:  # whatever breaks, the answer is "not ready", never a 500
        ms = round((time.perf_counter() - started) * 1000, 1)
        logger.warning("readiness: %s unreachable: %s: %s", name, type(exc).__name__, exc)
        return CheckResult(ok=False, ms=ms, error=type(exc).__name__)
    return CheckResult(ok=True, ms=round((time.perf_counter() - started) * 1000, 1), note=note)


def _database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return ""


def _redis() -> str:
    if not settings.REDIS_URL:
        return "not configured: embedded mode uses an in-process cache"
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                                  socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.ping()
    finally:
        client.close()
    return ""


def _broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return "not configured: embedded mode runs tasks in-process"
    # A fresh connection, not the app's pool: a pooled connection may look alive after the
    # broker went away. One attempt, no retry sleeps.
    with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                               interval_max=0, timeout=CHECK_TIMEOUT_SECONDS)
    return ""


# Heartbeats: beat sends `cms.tasks.heartbeat` every 30 s (the HEARTBEAT_ENTRY in
# CELERY_BEAT_SCHEDULE) and a worker runs it. The worker's run is stamped in the cache (Redis,
# which every process shares); beat's send is django-celery-beat's `last_run_at` for that
# entry, which beat writes to the database at least every 3 minutes. Either one older than
# HEARTBEAT_MAX_AGE (or never seen) makes /readyz unhealthy.
HEARTBEAT_ENTRY = "kansha-heartbeat"
HEARTBEAT_MAX_AGE = 300.0
WORKER_HEARTBEAT_KEY = "kansha:heartbeat:worker"


class HeartbeatMissingError(Exception):
    """No heartbeat was ever recorded."""


class HeartbeatStaleError(Exception):
    """The last heartbeat is older than HEARTBEAT_MAX_AGE."""


def heartbeat_record() -> None:
    """A worker is alive: stamp the time (the heartbeat task calls this)."""
    cache.set(WORKER_HEARTBEAT_KEY, time.time(), timeout=None)


def _age_note(age: float) -> str:
    if age > HEARTBEAT_MAX_AGE:
        raise HeartbeatStaleError(f"last heartbeat {age:.0f} s ago")
    return f"last heartbeat {age:.0f} s ago"


def _worker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "not configured: embedded mode runs tasks in-process"
    seen = cache.get(WORKER_HEARTBEAT_KEY)
    if seen is None:
        raise HeartbeatMissingError("no worker heartbeat recorded")
    return _age_note(time.time() - float(seen))


def _beat() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "not configured: embedded mode runs periodic tasks in-process"
    last = (PeriodicTask.objects.filter(name=HEARTBEAT_ENTRY)
            .values_list("last_run_at", flat=True).first())
    if last is None:
        raise HeartbeatMissingError("beat never sent the heartbeat")
    return _age_note((timezone.now() - last).total_seconds())


READINESS_CHECKS: dict[str, Callable[[], str]] = {
    "database": _database,
    "redis": _redis,
    "broker": _broker,
    "worker": _worker,
    "beat": _beat,
}


def readiness_check() -> tuple[bool, dict[str, object]]:
    """(ready, details): every check in READINESS_CHECKS, each timed; ready when all pass."""
    results = {name: _timed(name, probe) for name, probe in READINESS_CHECKS.items()}
    ready = all(result.ok for result in results.values())
    checks = {name: {k: v for k, v in asdict(result).items() if v != ""}
              for name, result in results.items()}
    return ready, {"status": "ok" if ready else "unavailable", "checks": checks}
