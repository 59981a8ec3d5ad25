"""The one 402 policy of the client (ADR 0013): a licence backoff shared by every process.

4D answers 402 when no client licence is free. A 402 on a *login* is retried after a few
short grace waits (an orphan being logged out elsewhere frees its licence within a round
trip), then this policy stores ``{until, delay}`` under the environment's
``…:licence-backoff`` key: first ``first`` seconds, doubling on every further 402 up to
``cap``; until then nobody logs in, in any process, and every caller gets
``LicenceExhausted(retry_after=remaining)`` without a request. A login that succeeds
clears it. The client's circuit breaker only mirrors the remaining time. A 402 on a
request that carried a stale cookie never gets here: the session provider resends it.
Pure: the store and clock are injected.
"""

from __future__ import annotations

import json

import attrs

from legacy_core._log import get_logger
from legacy_core.errors import LicenceExhausted
from legacy_core.model import Environment
from legacy_core.ports import Clock, SessionStore, Versioned

__all__ = ["LicencePolicy", "backoff_key"]

_log = get_logger()


def backoff_key(environment: Environment) -> str:
    """Return the store key of the shared licence backoff of ``environment``."""
    return environment.session_key + ":licence-backoff"


@attrs.define
class LicencePolicy:
    """Grace waits, then a shared, doubling backoff after 402s on login."""

    store: SessionStore
    clock: Clock
    grace: tuple[float, ...] = (0.1, 0.3, 0.6)
    """Waits before a login refused with 402 is tried again, before the backoff starts."""
    first: float = 30.0
    """First backoff after a 402; doubles on every further 402 up to ``cap``."""
    cap: float = 900.0

    def check(self, environment: Environment) -> None:
        """Raise LicenceExhausted (with ``retry_after``) while the shared backoff runs."""
        versioned = self.store.get(backoff_key(environment))
        if versioned is None:
            return
        remaining = _state(versioned)["until"] - self.clock.time()
        if remaining > 0:
            msg = (
                f"{environment.name}: no 4D licence free; not logging in for another "
                f"{remaining:.0f}s (shared backoff)"
            )
            raise LicenceExhausted(
                msg,
                environment=environment.name,
                status=402,
                retry_after=remaining,
                not_applied=True,
            )

    def start(self, environment: Environment, error: LicenceExhausted) -> float | None:
        """Start (or double) the shared backoff after ``error``; return its delay."""
        key = backoff_key(environment)
        for _ in range(10):
            versioned = self.store.get(key)
            previous = _state(versioned)["delay"] if versioned is not None else 0.0
            delay = min(self.cap, previous * 2 if previous else self.first)
            if error.retry_after is not None:
                delay = max(delay, min(error.retry_after, self.cap))
            until = self.clock.time() + delay
            payload = json.dumps({"until": until, "delay": delay}).encode()
            expected = versioned.generation if versioned is not None else None
            generation = (expected or 0) + 1
            # The record outlives the wait by the cap, so the next 402 doubles the delay.
            if self.store.compare_and_set(
                key, expected, Versioned(generation, payload), delay + self.cap
            ):
                _log.warning(
                    "legacy_api.session.licence_backoff",
                    environment=environment.name,
                    delay=delay,
                    attempt=generation,
                )
                return delay
        return None

    def clear(self, environment: Environment) -> None:
        """Forget the backoff (a login succeeded)."""
        key = backoff_key(environment)
        versioned = self.store.get(key)
        if versioned is not None:
            self.store.delete_if(key, versioned.generation)


def _state(versioned: Versioned | None) -> dict[str, float]:
    if versioned is None:
        return {"until": 0.0, "delay": 0.0}
    try:
        data = json.loads(versioned.payload)
        return {"until": float(data["until"]), "delay": float(data["delay"])}
    except (ValueError, KeyError, TypeError):
        return {"until": 0.0, "delay": 0.0}
