"""Atomic request counters in the cache (Redis in production), for throttles in any app.

The opt-out form (advocates) and the admin sign-in (cms) both count requests per client
address; both use these helpers, which live here because `advocates` is the bottom app and
may not import `cms`.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str:
    """The client address. Behind a proxy, REMOTE_ADDR is the proxy's unless the deployment
    rewrites it (gunicorn --forwarded-allow-ips); we never trust X-Forwarded-For ourselves,
    since a client can set it to anything and dodge the counter."""
    if request is None:
        return "-"
    return request.META.get("REMOTE_ADDR") or "-"


def counter_key(*parts: str) -> str:
    # Hashed: usernames are personal data and cache keys show up in monitoring tools.
    # (The prefix predates the rate limits; changing it would reset live counters.)
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"login-fail:{digest}"


def counter_add(key: str, delta: int, window: int) -> int:
    """Add `delta` to a counter and return its new value, in one atomic cache step.

    `add` creates the counter only if it is missing (Redis SET NX; the window starts at the
    first attempt), and `incr` is Redis INCR: two attempts can never read the same value.
    """
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key, delta)
    except ValueError:  # expired between add and incr
        cache.add(key, 0, timeout=window)
        return cache.incr(key, delta)


def rate_limit_take(*, scope: str, ip: str, limit: int, window_seconds: int) -> bool:
    """Count one request of `scope` from `ip` and say whether it is within `limit` per window
    (the window starts at the first request). Counting and checking are one atomic step."""
    return counter_add(counter_key("rate", scope, ip), 1, window_seconds) <= limit
