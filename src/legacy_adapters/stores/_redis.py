"""RedisSessionStore: sessions shared by every process of a deployment through Redis.

Values are hashes ``{g: generation, p: payload}`` with a PX TTL; compare-and-set and
compare-and-delete are Lua scripts (atomic on the server); the lock is
``SET key token NX PX ttl`` released by a compare-and-delete script.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from legacy_core.errors import ConfigurationError, ServerUnavailable
from legacy_core.ports import Versioned

from ._backoff import retry_until

# redis is the optional `redis` extra: importing this module must not need it, only
# building a store does (ADR 0017).
if TYPE_CHECKING:
    import redis

__all__ = ["RedisSessionStore"]

# KEYS[1] key; ARGV: expected generation ('' = must be absent), new generation, payload, ttl ms
_CAS = """
local current = redis.call('HGET', KEYS[1], 'g')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'g', ARGV[2], 'p', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1] key; ARGV[1] generation
_DELETE_IF = """
if redis.call('HGET', KEYS[1], 'g') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock key; ARGV[1] token
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@contextlib.contextmanager
def translate_errors(client: redis.Redis[bytes], what: str) -> Iterator[None]:
    """Turn redis-py's connection failures into ServerUnavailable naming the store, not the URL."""
    import redis  # noqa: PLC0415 - optional extra, present once a client exists

    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        where = _where(client)
        msg = f"session store Redis at {where} unreachable during {what}: {type(exc).__name__}"
        raise ServerUnavailable(msg) from exc


def _where(client: redis.Redis[bytes]) -> str:
    """``host:port/db`` of ``client``: never the URL, which may carry a password."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def redis_client(client_or_url: redis.Redis[bytes] | str) -> redis.Redis[bytes]:
    """The client itself, or a new one for a ``redis://`` URL."""
    if isinstance(client_or_url, str):
        try:
            import redis  # noqa: PLC0415 - optional extra, needed only for this store
        except ImportError as exc:
            msg = "the redis session store needs the redis extra: pip install 'legacy-api[redis]'"
            raise ConfigurationError(msg) from exc
        return redis.Redis.from_url(client_or_url)
    return client_or_url


@attrs.define(repr=False)
class RedisSessionStore:
    """A :class:`~legacy_core.ports.SessionStore` on a ``redis.Redis`` client (or a URL)."""

    client: redis.Redis[bytes] = attrs.field(converter=redis_client)
    _cas: Any = attrs.field(init=False)
    _delete_if: Any = attrs.field(init=False)
    _unlock: Any = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Scripts are sent by SHA (EVALSHA) and reloaded by redis-py after a restart.
        self._cas = self.client.register_script(_CAS)
        self._delete_if = self.client.register_script(_DELETE_IF)
        self._unlock = self.client.register_script(_UNLOCK)

    def __repr__(self) -> str:
        return f"<RedisSessionStore {_where(self.client)}>"

    def get(self, key: str) -> Versioned | None:
        """Return the current value, or None when absent or expired (one HMGET)."""
        with translate_errors(self.client, "get"):
            generation, payload = self.client.hmget(key, ["g", "p"])
        if generation is None or payload is None:
            return None
        return Versioned(int(generation), bytes(payload))

    def compare_and_set(
        self, key: str, expected_generation: int | None, value: Versioned, ttl: float
    ) -> bool:
        """Store ``value`` only if the generation is ``expected_generation`` (None: absent)."""
        expected = "" if expected_generation is None else str(expected_generation)
        args = [expected, str(value.generation), value.payload, _ms(ttl)]
        with translate_errors(self.client, "compare_and_set"):
            return bool(self._cas(keys=[key], args=args))

    def delete_if(self, key: str, generation: int) -> bool:
        """Delete the value only if its generation is ``generation``."""
        with translate_errors(self.client, "delete_if"):
            return bool(self._delete_if(keys=[key], args=[str(generation)]))

    @contextlib.contextmanager
    def lock(self, key: str, ttl: float, wait: float) -> Iterator[None]:
        """Take ``SET NX PX`` with a random token; LockTimeout after ``wait``."""
        token = secrets.token_hex(16)
        retry_until(
            lambda: self._try_lock(key, token, ttl),
            deadline=time.monotonic() + wait,
            message=f"lock {key!r} still held after {wait:g}s",
        )
        try:
            yield
        finally:
            with translate_errors(self.client, "unlock"):
                self._unlock(keys=[key], args=[token])

    def _try_lock(self, key: str, token: str, ttl: float) -> bool:
        with translate_errors(self.client, "lock"):
            return bool(self.client.set(key, token, nx=True, px=_ms(ttl)))
