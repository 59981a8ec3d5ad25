"""The request budget: a shared cap on concurrent 4D requests and a token-bucket rate (ADR 0028).

Pure: the budget's arithmetic (:func:`take`, :func:`give_back` on a :class:`BudgetState`),
the generic :class:`StoreBudget` over any :class:`~legacy_core.ports.SessionStore`
(memory, file, Django cache: its lock, get and compare-and-set) and :class:`RequestBudget`,
which the 4D exchange asks for a permit as steps (a bounded wait, then
:class:`~legacy_core.errors.BudgetExhausted`). The Redis implementation (one Lua script,
server time) lives in ``legacy_adapters.stores``.

A permit is a *lease*: it expires after ``lease`` seconds, so the permits of a process that
died (``kill -9``, an OOM kill) come back without anybody releasing them.
"""

from __future__ import annotations

import functools
import json
import math
import random
import secrets
import threading
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core._steps import Blocking, Sleep, Steps
from legacy_core.clock import SystemClock
from legacy_core.errors import BudgetExhausted, LockTimeout
from legacy_core.model import Environment
from legacy_core.ports import Clock, SessionStore, Versioned

__all__ = [
    "BudgetLimits",
    "BudgetState",
    "BudgetStore",
    "RequestBudget",
    "StoreBudget",
    "budget_key",
    "give_back",
    "take",
]

_log = get_logger()

POLL = 0.02
"""Seconds between two tries while every permit is leased (releases are not signalled)."""

TAKE_GRACE = 30.0
"""Seconds a cancelled request waits for its take still running on a thread (the store's
own timeouts end it sooner) before giving back the permit it may have been granted."""


def _optional_positive(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        msg = f"budget {attribute.name} must be a number > 0 or None, got {value!r}"
        raise ValueError(msg)


def _optional_count(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    # A cap or a bucket of 0.5 would let nothing through, ever: whole numbers only.
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"budget {attribute.name} must be a whole number >= 1 or None, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class BudgetLimits:
    """What one environment may take: concurrent requests, requests per second, burst."""

    max_concurrent: int | None = attrs.field(default=None, validator=_optional_count)
    """Requests in flight at once for the whole deployment (None: no cap)."""
    rate: float | None = attrs.field(default=None, validator=_optional_positive)
    """Requests started per second for the whole deployment (None: no rate)."""
    burst: int | None = attrs.field(default=None, validator=_optional_count)
    """The bucket's size: requests that may start at once after a quiet time (default:
    ``max(1, rate)``)."""
    lease: float = attrs.field(default=120.0, validator=_optional_positive)
    """Seconds a permit lives unless released: longer than the longest request."""

    @property
    def active(self) -> bool:
        """Whether anything is limited."""
        return self.max_concurrent is not None or self.rate is not None

    @property
    def capacity(self) -> float:
        """The bucket's size in tokens."""
        if self.burst is not None:
            return float(self.burst)
        return max(1.0, float(self.rate or 1.0))


@attrs.frozen
class BudgetState:
    """The shared state of one environment's budget: live leases and the bucket."""

    leases: Mapping[str, float] = attrs.field(factory=dict)
    """Permit token -> wall time its lease ends."""
    tokens: float | None = None
    """Tokens in the bucket at ``stamp`` (None: a full bucket)."""
    stamp: float = 0.0

    def encode(self) -> bytes:
        """The state as JSON bytes (the generic store's payload)."""
        return json.dumps({"l": dict(self.leases), "t": self.tokens, "s": self.stamp}).encode()

    @classmethod
    def decode(cls, payload: bytes) -> BudgetState:
        """Read :meth:`encode`'s bytes; an unreadable payload is an empty budget."""
        try:
            data = json.loads(payload)
            leases = {str(k): float(v) for k, v in dict(data["l"]).items()}
            tokens = None if data["t"] is None else float(data["t"])
            return cls(leases, tokens, float(data["s"]))
        except (ValueError, KeyError, TypeError):
            return cls()


def take(
    state: BudgetState, limits: BudgetLimits, token: str, now: float
) -> tuple[BudgetState, float]:
    """Try to take a permit ``token`` at wall time ``now``.

    Returns the new state and 0.0 when granted (a lease added, a token spent), or the
    state (expired leases dropped, bucket refilled) and the seconds worth waiting
    before the next try. Both limits are checked before either is spent.
    """
    leases = {t: end for t, end in state.leases.items() if end > now}
    wait = 0.0
    if limits.max_concurrent is not None and len(leases) >= limits.max_concurrent:
        wait = min(POLL, max(min(leases.values()) - now, 0.0)) or POLL
    tokens = state.tokens
    if limits.rate is not None:
        capacity = limits.capacity
        level = capacity if tokens is None else tokens
        level = min(capacity, level + max(now - state.stamp, 0.0) * limits.rate)
        tokens = level
        if level < 1.0:
            wait = max(wait, (1.0 - level) / limits.rate)
    if wait > 0:
        return BudgetState(leases, tokens, now), wait
    if limits.rate is not None and tokens is not None:
        tokens -= 1.0
    if limits.max_concurrent is not None:
        leases[token] = now + limits.lease
    return BudgetState(leases, tokens, now), 0.0


def give_back(state: BudgetState, token: str) -> BudgetState:
    """The state without the lease ``token`` (a spent rate token is not given back)."""
    leases = {t: end for t, end in state.leases.items() if t != token}
    return attrs.evolve(state, leases=leases)


def budget_key(environment: Environment) -> str:
    """The store key of ``environment``'s budget."""
    return environment.session_key + ":budget"


@runtime_checkable
class BudgetStore(Protocol):
    """Where the budget of every process lives; each call is atomic for the deployment."""

    def take(self, key: str, token: str, limits: BudgetLimits) -> float:
        """Take a permit ``token`` of ``key``: 0.0 when granted, else seconds to wait."""
        ...

    def give_back(self, key: str, token: str) -> None:
        """Release the permit ``token`` of ``key`` (an unknown or expired one: nothing)."""
        ...


@attrs.define(repr=False)
class StoreBudget:
    """A :class:`BudgetStore` over a session store's lock, ``get`` and ``compare_and_set``.

    Times are the ``clock``'s wall time, so every process of one host (file store) or of
    the deployment (Django cache) must agree on it; the Redis budget uses server time.
    """

    store: SessionStore
    clock: Clock = attrs.field(factory=SystemClock)
    lock_ttl: float = 5.0

    def __repr__(self) -> str:
        return f"<StoreBudget on {self.store!r}>"

    def take(self, key: str, token: str, limits: BudgetLimits) -> float:
        """Take a permit under the store's lock of ``key``."""
        try:
            with self.store.lock(key + ":lock", self.lock_ttl, self.lock_ttl):
                current = self.store.get(key)
                state = BudgetState.decode(current.payload) if current else BudgetState()
                new, wait = take(state, limits, token, self.clock.time())
                if not self._write(key, current, new, limits) and wait == 0:
                    # Someone wrote meanwhile (this lock outlived its ttl): the grant was
                    # not recorded, so it is no grant; the next try reads the new state.
                    return POLL
                return wait
        except LockTimeout:
            return POLL

    def give_back(self, key: str, token: str) -> None:
        """Release ``token`` under the store's lock of ``key``."""
        with self.store.lock(key + ":lock", self.lock_ttl, self.lock_ttl):
            current = self.store.get(key)
            if current is None:
                return
            state = BudgetState.decode(current.payload)
            if token in state.leases:
                self._write(key, current, give_back(state, token), None)

    def _write(
        self, key: str, current: Versioned | None, state: BudgetState, limits: BudgetLimits | None
    ) -> bool:
        generation = current.generation if current is not None else None
        ends = [end - state.stamp for end in state.leases.values()]
        refill = 0.0
        if limits is not None and limits.rate is not None:
            refill = limits.capacity / limits.rate
        ttl = max([60.0, refill, *ends]) + 1.0  # nothing worth keeping outlives this
        value = Versioned((generation or 0) + 1, state.encode())
        return self.store.compare_and_set(key, generation, value, ttl)


@attrs.define
class RequestBudget:
    """The budget of every configured environment, asked by the 4D exchange as steps."""

    store: BudgetStore
    limits: Mapping[str, BudgetLimits]
    """Environment name -> its limits; an environment not named (or inactive) is free."""
    wait: float = 30.0
    """Seconds a request may wait for a permit before BudgetExhausted."""
    clock: Clock = attrs.field(factory=SystemClock)
    jitter: random.Random = attrs.field(factory=random.Random, repr=False)

    def limits_for(self, environment: str) -> BudgetLimits | None:
        """The active limits of ``environment``, or None when it is not limited."""
        limits = self.limits.get(environment)
        return limits if limits is not None and limits.active else None

    def acquire_steps(self, environment: Environment) -> Steps[str | None]:
        """Wait (bounded) for a permit; the result is its token (None: not limited)."""
        limits = self.limits_for(environment.name)
        if limits is None:
            return None
        key, token = budget_key(environment), secrets.token_hex(8)
        started = self.clock.monotonic()
        deadline = started + self.wait
        waited = False
        while True:
            ended = threading.Event()

            def attempt(ended: threading.Event = ended) -> float:
                try:
                    return self.store.take(key, token, limits)
                finally:
                    ended.set()

            try:
                hint: float = yield Blocking(attempt)
            except BaseException:
                # Cancelled (asyncio) while the take ran on its thread: it may yet be
                # granted. A cancel stops the await, not the thread, so give the permit
                # back only once the take has ended; else it stays taken until its lease.
                yield Blocking(functools.partial(ended.wait, TAKE_GRACE))
                yield from self.release_steps(environment, token)
                raise
            now = self.clock.monotonic()
            if hint <= 0:
                if waited:
                    self._report(environment, "waited", now - started)
                return token
            if not waited:
                waited = True
                instrument.budget_event("waits", environment.name)
            if now >= deadline:
                self._report(environment, "exhausted", now - started)
                msg = (
                    f"request budget of {environment.name} exhausted: no permit within "
                    f"{self.wait:g}s ({_describe(limits)})"
                )
                raise BudgetExhausted(msg, environment=environment.name, retry_after=hint)
            # Jitter spreads the waiters of many processes so they do not retry in step.
            pause = min(hint, deadline - now) * (0.5 + self.jitter.random() / 2)
            yield Sleep(max(pause, 0.001))

    def release_steps(self, environment: Environment, token: str | None) -> Steps[None]:
        """Give the permit ``token`` back (None: nothing was taken); failures are logged."""
        limits = self.limits_for(environment.name)
        if token is None or limits is None or limits.max_concurrent is None:
            return  # a rate token is spent, not given back
        key = budget_key(environment)
        try:
            yield Blocking(lambda: self.store.give_back(key, token))
        except Exception as exc:  # noqa: BLE001 - the lease expires by itself; never mask
            _log.warning(
                "legacy_api.budget.release_failed",
                environment=environment.name,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _report(self, environment: Environment, outcome: str, seconds: float) -> None:
        level = "warning" if outcome == "exhausted" else "info"
        getattr(_log, level)(
            f"legacy_api.budget.{outcome}",
            environment=environment.name,
            waited_ms=round(seconds * 1000, 1),
            limit_s=self.wait,
        )
        if outcome == "exhausted":
            instrument.budget_event("exhausted", environment.name)


def _describe(limits: BudgetLimits) -> str:
    parts = []
    if limits.max_concurrent is not None:
        parts.append(f"max {limits.max_concurrent} concurrent")
    if limits.rate is not None:
        parts.append(f"{limits.rate:g}/s, burst {math.floor(limits.capacity)}")
    return ", ".join(parts)
