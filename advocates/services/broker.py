"""Enqueueing after a commit when the broker may be away (docs/reliability.md).

Work is stored first and enqueued after the commit; when the broker (or the Redis that holds
the webhook batch flag) cannot be reached, the stored rows wait for their sweep, and the
request still succeeds. A web process enqueues on nearly every request, so an outage must not
log a traceback per request: the first failure logs one warning, the first success after it
one line saying the broker is back.

    broker_send(send, *, what) -> bool            (whether it was sent)
    broker_send_on_commit(send, *, what) -> None  (broker_send after the current commit)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What "the broker is away" looks like: kombu wraps the transport's connection errors in its
# OperationalError; the batch flag's Redis client raises its own; a socket may raise OSError.
BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, RedisConnectionError,
                                                  RedisTimeoutError, OSError)

_lock = threading.Lock()
_down_since: float | None = None  # per process: when the current outage was first seen


def broker_send(send: Callable[[], object], *, what: str) -> bool:
    """Call `send` (a task's `delay` or `apply_async`); whether it went.

    On a broker error returns False: the caller's rows are committed and a sweep re-enqueues
    them. Logs one warning per outage (per process), not one per call.
    """
    global _down_since
    try:
        send()
    except BROKER_ERRORS as exc:
        with _lock:
            first = _down_since is None
            if first:
                _down_since = time.monotonic()
        if first:
            logger.warning("broker unreachable (%s: %s); %s and later work stays stored until "
                           "the sweeps re-enqueue it", type(exc).__name__, exc, what)
        return False
    if _down_since is not None:
        with _lock:
            since, _down_since = _down_since, None
        if since is not None:
            logger.warning("broker reachable again after %.0f s", time.monotonic() - since)
    return True


def broker_send_on_commit(send: Callable[[], object], *, what: str) -> None:
    """`broker_send` once the current transaction commits (at once outside one).

    Robust: any other error in `send` is logged by Django and never undoes the commit or turns
    the request into a 500.
    """
    transaction.on_commit(lambda: broker_send(send, what=what), robust=True)
