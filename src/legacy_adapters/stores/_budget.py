"""The request budget's stores: one Lua script on Redis; the generic one for the others.

``RedisBudget`` keeps a sorted set of leases (score: the end of the lease, in the Redis
server's milliseconds) and a hash with the bucket; one script checks both limits, spends
both or neither, and answers how long to wait. Server time, so hosts with skewed clocks
agree. Memory, file and Django-cache stores use :class:`legacy_core.budget.StoreBudget`
(their lock, ``get`` and compare-and-set). :func:`budget_store` picks the right one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from legacy_core.budget import BudgetLimits, BudgetStore, StoreBudget
from legacy_core.clock import SystemClock
from legacy_core.ports import Clock, SessionStore

from ._redis import RedisSessionStore, redis_client, translate_errors

if TYPE_CHECKING:
    import redis

__all__ = ["RedisBudget", "budget_store"]

# KEYS[1] leases (zset), KEYS[2] bucket (hash t, s); ARGV: token, cap ('' none),
# rate per s ('' none), capacity, lease ms. Returns 0 (granted) or the ms to wait.
_TAKE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local wait = 0
local cap = tonumber(ARGV[2])
if cap and redis.call('ZCARD', KEYS[1]) >= cap then
  wait = 20
end
local rate = tonumber(ARGV[3])
local tokens = nil
local capacity = tonumber(ARGV[4])
if rate then
  local b = redis.call('HMGET', KEYS[2], 't', 's')
  tokens = tonumber(b[1]) or capacity
  local stamp = tonumber(b[2]) or now
  tokens = math.min(capacity, tokens + math.max(now - stamp, 0) * rate / 1000)
  if tokens < 1 then
    wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate))
  end
end
if wait == 0 then
  if rate then tokens = tokens - 1 end
  if cap then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[1])
    -- Only ever lengthen: a process with a shorter lease must not drop longer ones.
    if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) + 1000 then
      redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]) + 1000)
    end
  end
end
if rate then
  redis.call('HSET', KEYS[2], 't', tostring(tokens), 's', tostring(now))
  redis.call('PEXPIRE', KEYS[2], math.ceil(capacity * 1000 / rate) + 1000)
end
return wait
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


@attrs.define(repr=False)
class RedisBudget:
    """A :class:`~legacy_core.budget.BudgetStore` on Redis (atomic: one script per take)."""

    client: redis.Redis[bytes] = attrs.field(converter=redis_client)
    _take: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._take = self.client.register_script(_TAKE)

    def __repr__(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        return f"<RedisBudget {kwargs.get('host', '?')}:{kwargs.get('port', '?')}>"

    def take(self, key: str, token: str, limits: BudgetLimits) -> float:
        """Take a permit ``token`` of ``key``: 0.0 when granted, else seconds to wait."""
        args = [
            token,
            "" if limits.max_concurrent is None else str(limits.max_concurrent),
            "" if limits.rate is None else repr(float(limits.rate)),
            repr(limits.capacity),
            str(_ms(limits.lease)),
        ]
        with translate_errors(self.client, "budget take"):
            waited = int(self._take(keys=[key + ":leases", key + ":bucket"], args=args))
        return waited / 1000.0

    def give_back(self, key: str, token: str) -> None:
        """Release the permit ``token`` (ZREM; an expired one is already gone)."""
        with translate_errors(self.client, "budget release"):
            self.client.zrem(key + ":leases", token)


def budget_store(store: SessionStore, clock: Clock | None = None) -> BudgetStore:
    """The budget store that goes with the session ``store``: Lua on Redis, else generic."""
    if isinstance(store, RedisSessionStore):
        return RedisBudget(store.client)
    return StoreBudget(store, clock or SystemClock())
