"""MemorySessionStore: the in-process store (threads of one process share it)."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator

import attrs

from legacy_core.clock import SystemClock
from legacy_core.errors import LockTimeout
from legacy_core.ports import Clock, Versioned

__all__ = ["MemorySessionStore"]

# Waiters wake at least this often, so a ManualClock moved by a test is noticed.
_POLL = 0.02


@attrs.define(repr=False)
class MemorySessionStore:
    """A dict with TTLs and locks, guarded by one condition variable; times come from ``clock``."""

    clock: Clock = attrs.field(factory=SystemClock)
    _values: dict[str, tuple[Versioned, float]] = attrs.field(factory=dict, init=False)
    _locks: dict[str, tuple[str, float]] = attrs.field(factory=dict, init=False)
    _cond: threading.Condition = attrs.field(factory=threading.Condition, init=False)

    def __repr__(self) -> str:
        return f"<MemorySessionStore keys={len(self._values)}>"

    def _live(self, key: str) -> Versioned | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires = entry
        if self.clock.monotonic() >= expires:
            del self._values[key]
            return None
        return value

    def get(self, key: str) -> Versioned | None:
        """Return the current value, or None when absent or expired."""
        with self._cond:
            return self._live(key)

    def compare_and_set(
        self, key: str, expected_generation: int | None, value: Versioned, ttl: float
    ) -> bool:
        """Store ``value`` only if the generation is ``expected_generation`` (None: absent)."""
        with self._cond:
            current = self._live(key)
            found = current.generation if current is not None else None
            if found != expected_generation:
                return False
            self._values[key] = (value, self.clock.monotonic() + ttl)
            return True

    def delete_if(self, key: str, generation: int) -> bool:
        """Delete the value only if its generation is ``generation``."""
        with self._cond:
            current = self._live(key)
            if current is None or current.generation != generation:
                return False
            del self._values[key]
            return True

    @contextlib.contextmanager
    def lock(self, key: str, ttl: float, wait: float) -> Iterator[None]:
        """Hold ``key`` exclusively for at most ``ttl`` seconds; LockTimeout after ``wait``."""
        token = secrets.token_hex(8)
        deadline = self.clock.monotonic() + wait
        with self._cond:
            while True:
                now = self.clock.monotonic()
                holder = self._locks.get(key)
                if holder is None or holder[1] <= now:
                    self._locks[key] = (token, now + ttl)
                    break
                if now >= deadline:
                    msg = f"lock {key!r} still held after {wait:g}s"
                    raise LockTimeout(msg)
                self._cond.wait(min(_POLL, holder[1] - now, max(deadline - now, 0.0)) or _POLL)
        try:
            yield
        finally:
            with self._cond:
                # Release only our own lock: after our ttl ran out it may be someone else's.
                holder = self._locks.get(key)
                if holder is not None and holder[0] == token:
                    del self._locks[key]
                self._cond.notify_all()
