"""Per-caller request rates: ``LEGACY_API_GATEWAY["THROTTLE_RATE"]`` (``"100/min"``), off unset.

A sliding window per caller (consumer name or ``jwt:<id>``). When the throttle's cache
(``LEGACY_API_GATEWAY["THROTTLE_CACHE"]``, default ``"default"``) is a Redis cache, or
``THROTTLE_REDIS_URL`` names a server, the window is a sorted set in Redis checked and
updated by one Lua script: atomic, so racing requests of one caller, on any worker or
host, never pass more than the limit. Any other cache (local memory) falls back to DRF's
read-then-write window, per process and approximate. Over the rate: 429 problem with
``Retry-After``. Redis unreachable: the request passes and an error is logged (the
throttle bounds a runaway consumer; it must not take the gateway down with Redis).
"""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from legacy_adapters.django.gateway.auth import caller_of
from legacy_core._log import get_logger

__all__ = ["CallerRateThrottle"]

_log = get_logger()

# KEYS[1] the caller's window; ARGV: window seconds, limit, a unique member.
# Time is the Redis server's (one clock for every worker and host).
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""

_scripts: dict[str, Any] = {}
_scripts_lock = threading.Lock()


def _gateway_setting(name: str, default: Any) -> Any:
    from django.conf import settings  # noqa: PLC0415

    return getattr(settings, "LEGACY_API_GATEWAY", {}).get(name, default)


def _redis_url(cache_name: str) -> str | None:
    """``THROTTLE_REDIS_URL``, else the throttle cache's server when it is a Redis cache."""
    from django.conf import settings  # noqa: PLC0415

    explicit = _gateway_setting("THROTTLE_REDIS_URL", None)
    if explicit:
        return str(explicit)
    config = getattr(settings, "CACHES", {}).get(cache_name, {})
    if not str(config.get("BACKEND", "")).endswith("RedisCache"):
        return None
    location = config.get("LOCATION")
    if isinstance(location, (list, tuple)):
        location = location[0] if location else None  # the first server takes the writes
    return str(location) if location else None


def _script(url: str) -> Any:
    """The registered Lua window of ``url`` (one Redis connection pool per process)."""
    with _scripts_lock:
        script = _scripts.get(url)
        if script is None:
            import redis  # noqa: PLC0415

            script = redis.Redis.from_url(url).register_script(_SLIDING_WINDOW)
            _scripts[url] = script
        return script


class CallerRateThrottle(SimpleRateThrottle):
    """At most ``THROTTLE_RATE`` requests per caller per window; no limit when it is unset."""

    scope = "legacy_gateway"

    def __init__(self) -> None:
        """Read the rate and the store now (settings may change between tests)."""
        from django.core.cache import caches  # noqa: PLC0415

        self.rate = _gateway_setting("THROTTLE_RATE", None)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        cache_name = _gateway_setting("THROTTLE_CACHE", "default")
        self.cache = caches[cache_name]
        self.redis_url = _redis_url(cache_name) if self.rate is not None else None
        self._wait: float | None = None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        """One window per caller (None: an anonymous request, refused before this anyway)."""
        caller = caller_of(request)
        if caller is None:
            return None
        return str(self.cache_format % {"scope": self.scope, "ident": caller.name})

    def allow_request(self, request: Request, view: Any) -> bool:
        """True when no rate is set or the caller is under it (atomically, in Redis)."""
        if self.rate is None:
            return True
        if self.redis_url is None:
            return bool(super().allow_request(request, view))
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        import redis  # noqa: PLC0415

        try:
            allowed, wait = _script(self.redis_url)(
                keys=[f"legacy-gateway:{key}"],
                args=[self.duration, self.num_requests, uuid.uuid4().hex],
            )
        except redis.RedisError as exc:
            _log.error("legacy_api.gateway.throttle_unavailable", category=type(exc).__name__)
            return True
        if int(allowed) == 1:
            return True
        self._wait = float(wait)
        return False

    def wait(self) -> float | None:
        """Seconds until the caller's oldest request leaves the window (``Retry-After``)."""
        if self._wait is not None:
            return max(math.ceil(self._wait), 1)
        return super().wait()  # type: ignore[no-any-return]
