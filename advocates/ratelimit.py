"""Per brand account token buckets, so Kansha never posts faster than a platform allows.

With REDIS_URL the bucket lives in Redis (one Lua script: refill, take, answer), shared by
every worker. Embedded (no Redis) it is an in-process bucket: the demo runs tasks in-process.

A bucket is `capacity` tokens refilled evenly over `per_seconds`. `acquire` answers 0 when a
token was taken, otherwise how many seconds to wait. `hold` empties the bucket until a time
the platform told us (a 429's reset header), so other deliveries on the account wait too.

Limits come from `BrandAccount.config["rate_limit"] = {"capacity": n, "per_seconds": s}`,
else the platform's policy (`PlatformPolicy.rate_limit`).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from advocates.policies import POLICIES

if TYPE_CHECKING:
    from advocates.models import BrandAccount

# For a platform Kansha has no policy for (a test client, say).
DEFAULT_LIMIT = (30, 60 * 60)

_LUA = """
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', key, 'tokens', 'ts', 'hold')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
local hold = tonumber(state[3]) or 0
if tokens == nil then tokens = capacity; ts = now end
if now < hold then return tostring(hold - now) end
tokens = math.min(capacity, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', key, math.ceil(capacity / rate) + 3600)
return tostring(wait)
"""


def limits_for(account: BrandAccount) -> tuple[int, float]:
    custom = (account.config or {}).get("rate_limit") or {}
    policy = POLICIES.get(account.platform)
    capacity, per = policy.rate_limit if policy is not None else DEFAULT_LIMIT
    try:
        capacity = int(custom.get("capacity", capacity))
        per = float(custom.get("per_seconds", per))
    except (TypeError, ValueError):
        pass  # a typo in the account's config must not stop delivery; defaults apply
    return max(capacity, 1), max(per, 0.001)


def _key(account: BrandAccount) -> str:
    return f"kansha:ratelimit:{account.platform}:{account.pk}"


class _RedisBuckets:
    def __init__(self, url: str) -> None:
        # Only with REDIS_URL: the embedded demo runs without the redis client.
        import redis

        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_LUA)

    def acquire(self, key: str, capacity: int, rate: float) -> float:
        return float(self.script(keys=[key], args=[capacity, rate, time.time()]))

    def hold(self, key: str, until: float) -> None:
        self.client.hset(key, "hold", str(until))
        self.client.expire(key, max(int(until - time.time()) + 3600, 60))

    def reset(self, key: str) -> None:
        self.client.delete(key)


class _LocalBuckets:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, list[float]] = {}  # key -> [tokens, ts, hold]

    def acquire(self, key: str, capacity: int, rate: float) -> float:
        now = time.time()
        with self.lock:
            tokens, ts, hold = self.state.get(key, [capacity, now, 0.0])
            if now < hold:
                return hold - now
            tokens = min(capacity, tokens + (now - ts) * rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate
            self.state[key] = [tokens, now, hold]
            return wait

    def hold(self, key: str, until: float) -> None:
        with self.lock:
            tokens, ts, _ = self.state.get(key, [0.0, time.time(), 0.0])
            self.state[key] = [tokens, ts, until]

    def reset(self, key: str) -> None:
        with self.lock:
            self.state.pop(key, None)


_buckets: _RedisBuckets | _LocalBuckets | None = None


def _backend() -> _RedisBuckets | _LocalBuckets:
    global _buckets
    if _buckets is None:
        url = getattr(settings, "REDIS_URL", "")
        _buckets = _RedisBuckets(url) if url else _LocalBuckets()
    return _buckets


def acquire(account: BrandAccount) -> float:
    """Take one token for a post on this account: 0 if allowed, else seconds to wait."""
    capacity, per = limits_for(account)
    return _backend().acquire(_key(account), capacity, capacity / per)


def hold(account: BrandAccount, *, until: datetime) -> None:
    """Let nothing through on this account until `until` (the platform's reset time)."""
    _backend().hold(_key(account), until.timestamp())


def reset(account: BrandAccount) -> None:
    """Forget the account's bucket (tests, or staff after changing the limits)."""
    _backend().reset(_key(account))
