"""Per-queue task metrics: counted in the worker, read by `/metrics` (cms/metrics.py).

The worker is its own process, so what it counts cannot live in the web process's memory.
Celery's signals (`task_prerun` starts the clock, `task_postrun` gives the outcome: its state
SUCCESS, FAILURE or RETRY) record each finished task into Redis, in one pipeline per task:

- hash `kansha:tasks:count`, field `<queue>|<task>|<outcome>` (succeeded, failed, retried);
- hash `kansha:tasks:seconds`, fields `<queue>|sum`, `<queue>|count` and one cumulative
  `<queue>|le=<bound>` per histogram bucket.

The scrape reads both hashes (`task_metrics_read`); every web process sees the same totals.
They live in the Redis of `REDIS_URL` (the cache's, also with a RabbitMQ broker). Without
Redis (the embedded demo runs tasks in-process, eagerly) they are kept in this process's
memory, which is the one `/metrics` answers from. Recording never fails a task: a Redis error
is logged at debug level and the figures for that task are lost.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from celery import signals
from celery.exceptions import Retry
from django.conf import settings

logger = logging.getLogger(__name__)

COUNT_KEY = "kansha:tasks:count"
SECONDS_KEY = "kansha:tasks:seconds"
# Upper bounds of the duration histogram (seconds): batch tasks take 10 ms to a minute.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
TIMEOUT_SECONDS = 0.5

_started: dict[str, float] = {}
_local_lock = threading.Lock()
_local: dict[str, dict[str, float]] = {COUNT_KEY: defaultdict(float),
                                       SECONDS_KEY: defaultdict(float)}
_client: Any = None


def _redis() -> Any:
    """A long-lived client for REDIS_URL (None without Redis: figures stay in-process)."""
    global _client
    if not settings.REDIS_URL:
        return None
    if _client is None:
        # Only with Redis configured: the embedded demo never loads it.
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS,
                                       socket_connect_timeout=TIMEOUT_SECONDS)
    return _client


def _queue(task: Any) -> str:
    """The queue the task came from (its routing key), or where the router would send it."""
    info = getattr(task.request, "delivery_info", None) or {}
    queue = info.get("routing_key")
    if queue:
        return str(queue)
    try:
        route = task.app.amqp.router.route({}, task.name)
        return str(route["queue"].name)
    except Exception:  # an unusual route: counted under the default queue
        return str(settings.CELERY_TASK_DEFAULT_QUEUE)


def task_record(*, queue: str, task: str, outcome: str, seconds: float | None) -> None:
    """Count one finished task (and its duration, when its start was seen)."""
    fields: list[tuple[str, str, float]] = [(COUNT_KEY, f"{queue}|{task}|{outcome}", 1)]
    if seconds is not None:
        fields += [(SECONDS_KEY, f"{queue}|sum", seconds), (SECONDS_KEY, f"{queue}|count", 1)]
        fields += [(SECONDS_KEY, f"{queue}|le={bound}", 1) for bound in BUCKETS
                   if seconds <= bound]
    client = _redis()
    if client is None:
        with _local_lock:
            for key, name, amount in fields:
                _local[key][name] += amount
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key, name, amount in fields:
            if name.endswith("|sum"):
                pipe.hincrbyfloat(key, name, amount)
            else:
                pipe.hincrby(key, name, int(amount))
        pipe.execute()
    except Exception as exc:  # Redis away: the task's figures are lost, the task is not
        logger.debug("task metrics not recorded: %s: %s", type(exc).__name__, exc)


@signals.task_prerun.connect(dispatch_uid="kansha.task_metrics.prerun")
def _task_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect(dispatch_uid="kansha.task_metrics.postrun")
def _task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None,
                  **kwargs: Any) -> None:
    if task is None:
        return
    started = _started.pop(task_id, None) if task_id else None
    seconds = None if started is None else time.perf_counter() - started
    if state is None:
        # Eager tasks that propagate their exception (the demo, tests) reach this signal from
        # Celery's `finally` with no state; the exception on its way out tells which.
        raised = sys.exc_info()[1]
        state = "RETRY" if isinstance(raised, Retry) else "FAILURE" if raised else "SUCCESS"
    outcome = OUTCOMES.get(state, state.lower())
    task_record(queue=_queue(task), task=task.name, outcome=outcome, seconds=seconds)


@dataclass
class TaskFigures:
    """What `/metrics` shows: counts by (queue, task, outcome); durations per queue."""

    counts: dict[tuple[str, str, str], float] = field(default_factory=dict)
    seconds_sum: dict[str, float] = field(default_factory=dict)
    seconds_count: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, dict[float, float]] = field(default_factory=dict)  # cumulative


def task_metrics_read() -> TaskFigures:
    """The totals recorded so far (from Redis, or from this process without Redis)."""
    client = _redis()
    if client is None:
        with _local_lock:
            raw = {key: dict(values) for key, values in _local.items()}
    else:
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(COUNT_KEY)
        pipe.hgetall(SECONDS_KEY)
        counts, seconds = pipe.execute()
        raw = {COUNT_KEY: {k.decode(): float(v) for k, v in counts.items()},
               SECONDS_KEY: {k.decode(): float(v) for k, v in seconds.items()}}
    figures = TaskFigures()
    for name, value in raw[COUNT_KEY].items():
        parts = name.split("|")
        if len(parts) == 3:
            figures.counts[parts[0], parts[1], parts[2]] = value
    for name, value in raw[SECONDS_KEY].items():
        queue, _, what = name.rpartition("|")
        if what == "sum":
            figures.seconds_sum[queue] = value
        elif what == "count":
            figures.seconds_count[queue] = value
        elif what.startswith("le="):
            figures.buckets.setdefault(queue, {})[float(what[3:])] = value
    return figures
