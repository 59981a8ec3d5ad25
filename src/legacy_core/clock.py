"""Clocks: the system one and a manual one for tests (no real sleeping)."""

from __future__ import annotations

import threading
import time as _time

import attrs

__all__ = ["ManualClock", "SystemClock"]


@attrs.frozen
class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        return _time.time()

    def monotonic(self) -> float:
        """Monotonic seconds."""
        return _time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Really wait."""
        if seconds > 0:
            _time.sleep(seconds)


@attrs.define
class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it and records the wait."""

    now: float = 1_700_000_000.0
    mono: float = 1000.0
    sleeps: list[float] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def time(self) -> float:
        """The manual wall time."""
        return self.now

    def monotonic(self) -> float:
        """The manual monotonic time."""
        return self.mono

    def sleep(self, seconds: float) -> None:
        """Record the wait and advance both clocks by it."""
        with self._lock:
            self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        with self._lock:
            self.now += max(seconds, 0.0)
            self.mono += max(seconds, 0.0)
