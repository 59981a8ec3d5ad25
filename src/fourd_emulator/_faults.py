"""Injected faults: latency, 503s, connection resets and truncated bodies, repeatably.

Every random decision comes from one RNG seeded with the faults' ``seed``, so a run with
the same settings and the same requests injects the same faults. Not thread-safe by
itself: the emulator rolls under its lock.
"""

from __future__ import annotations

import random

from fourd_emulator._config import Faults

__all__ = ["FaultDice"]


class FaultDice:
    """The current fault settings and their seeded RNG."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)  # noqa: S311 - seeded faults must repeat

    def roll(self) -> tuple[str | None, float]:
        """One request's fate: ``(None | "503" | "reset" | "truncate", latency in ms)``."""
        f, rng = self.faults, self._rng
        delay = f.latency_ms + (rng.random() * f.latency_jitter_ms if f.latency_jitter_ms else 0.0)
        outcome: str | None = None
        if f.error_503_rate and rng.random() < f.error_503_rate:
            outcome = "503"
        elif f.reset_rate and rng.random() < f.reset_rate:
            outcome = "reset"
        elif f.truncate_rate and rng.random() < f.truncate_rate:
            outcome = "truncate"
        return outcome, delay
