"""StoreBreakerState: a circuit breaker's state shared by all processes through Redis.

Every transition is one Lua script, so it is atomic; every deadline is a Redis ``PX``
TTL, so all workers see the same server-side time whatever their own clocks say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from legacy_core.model import Environment
from legacy_core.resilience import BreakerSnapshot

from ._redis import RedisSessionStore, _ms, redis_client, translate_errors

# redis is the optional extra of this feature: imported for types only, used at runtime
# through _redis.py when a store or breaker is actually built.
if TYPE_CHECKING:
    import redis

__all__ = ["StoreBreakerState"]

# Keys: 1 failures (INCR), 2 tripped marker, 3 open period (PX), 4 probe claim (NX PX).
_GET = """
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
local tripped = redis.call('EXISTS', KEYS[2])
local open_ms = redis.call('PTTL', KEYS[3])
local probing = redis.call('EXISTS', KEYS[4])
return {failures, tripped, open_ms, probing}
"""

# ARGV: threshold, open_for ms, counter ttl ms, tripped ttl ms
_FAILURE = """
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local tripped = redis.call('EXISTS', KEYS[2]) == 1
if tripped and redis.call('PTTL', KEYS[3]) > 0 then return 0 end
if tripped or failures >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[4])
  return 1
end
return 0
"""

# ARGV: probe ('1' or '0')
_SUCCESS = """
local tripped = redis.call('EXISTS', KEYS[2]) == 1
if ARGV[1] == '1' and tripped then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
  return 1
end
if not tripped then redis.call('DEL', KEYS[1]) end
return 0
"""

# ARGV: open_for ms, tripped ttl ms
_TRIP = """
if redis.call('EXISTS', KEYS[2]) == 1 and redis.call('PTTL', KEYS[3]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"""

# ARGV: probe ttl ms
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('PTTL', KEYS[3]) > 0 then return 0 end
if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""

# Consecutive failures older than this are forgotten; a breaker left open with nobody
# probing closes after a day rather than staying tripped forever.
_COUNTER_TTL = 600.0
_TRIPPED_TTL = 24 * 3600.0


def _client(source: redis.Redis[bytes] | RedisSessionStore | str) -> redis.Redis[bytes]:
    if isinstance(source, RedisSessionStore):
        return source.client
    return redis_client(source)


@attrs.define(repr=False)
class StoreBreakerState:
    """A ``legacy_core.resilience.BreakerState`` in Redis under ``{prefix}:{name}:*``."""

    client: redis.Redis[bytes] = attrs.field(converter=_client)
    name: str = "default"
    prefix: str = "legacy_api:breaker"
    _scripts: dict[str, Any] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        for label, source in {
            "get": _GET,
            "failure": _FAILURE,
            "success": _SUCCESS,
            "trip": _TRIP,
            "claim": _CLAIM,
        }.items():
            self._scripts[label] = self.client.register_script(source)

    @classmethod
    def for_environment(
        cls, source: redis.Redis[bytes] | RedisSessionStore | str, environment: Environment
    ) -> StoreBreakerState:
        """Return the shared breaker of ``environment`` (keyed by name and base URL)."""
        return cls(source, name=f"{environment.name}:{environment.url_hash}")

    def __repr__(self) -> str:
        return f"<StoreBreakerState {self.prefix}:{self.name}>"

    def _keys(self) -> list[str]:
        base = f"{self.prefix}:{self.name}"
        return [f"{base}:failures", f"{base}:tripped", f"{base}:open", f"{base}:probe"]

    def _run(self, label: str, *args: object) -> Any:
        with translate_errors(self.client, f"breaker {label}"):
            return self._scripts[label](keys=self._keys(), args=list(args))

    def get(self) -> BreakerSnapshot:
        """Return the current state (one script, consistent)."""
        failures, tripped, open_ms, probing = self._run("get")
        return BreakerSnapshot(
            failures=int(failures),
            tripped=bool(tripped),
            open_remaining=max(int(open_ms), 0) / 1000.0 if tripped else 0.0,
            probing=bool(probing),
        )

    def record_failure(self, threshold: int, open_for: float) -> bool:
        """Count a failure; trip at ``threshold`` or when half-open."""
        result = self._run(
            "failure", threshold, _ms(open_for), _ms(_COUNTER_TTL), _ms(_TRIPPED_TTL)
        )
        return bool(result)

    def record_success(self, probe: bool) -> bool:
        """Close on a probe's success; otherwise reset the count while closed."""
        return bool(self._run("success", "1" if probe else "0"))

    def trip(self, open_for: float) -> None:
        """Open for at least ``open_for`` seconds."""
        self._run("trip", _ms(open_for), _ms(max(_TRIPPED_TTL, open_for * 2)))

    def try_claim_probe(self, ttl: float) -> bool:
        """Claim the single half-open probe (``SET NX PX``)."""
        return bool(self._run("claim", _ms(ttl)))

    def release_probe(self) -> None:
        """Give the probe back."""
        with translate_errors(self.client, "breaker release_probe"):
            self.client.delete(self._keys()[3])
