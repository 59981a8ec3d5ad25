"""Retries and circuit breaking: ``RetryPolicy``, ``RetryBudget`` and ``CircuitBreaker``.

Pure and clock-driven: every wait goes through an injected :class:`~legacy_core.ports.Clock`,
so tests run on a ``ManualClock`` without sleeping. What is *retryable* is decided here from
the error category (``legacy_core.errors``) and the request's idempotency (ADR 0002); what
an HTTP status *means* is decided in the adapters. A shared, store-backed breaker state
lives in ``legacy_adapters.stores`` and implements :class:`BreakerState`.
"""

from __future__ import annotations

import collections
import math
import random
import threading
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar, runtime_checkable

import attrs

from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core._steps import Sleep, Steps, direct, run
from legacy_core.clock import SystemClock
from legacy_core.errors import (
    BudgetExhausted,
    CircuitOpen,
    EntitySetExpired,
    LegacyError,
    LicenceExhausted,
    ProtocolError,
    ServerBusy,
    ServerError,
    ServerUnavailable,
)
from legacy_core.ports import Clock

__all__ = [
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStateName",
    "CircuitBreaker",
    "LocalBreakerState",
    "RetryBudget",
    "RetryPolicy",
    "Ticket",
    "counts_as_server_failure",
]

T = TypeVar("T")
BreakerStateName = Literal["closed", "open", "half-open"]

_log = get_logger()

# Never retried inside a call, although transient (ADR 0002):
# - CircuitOpen: the breaker decided to fail fast; retrying would defeat it.
# - LicenceExhausted: a 4D licence frees only when some session idles out (>= 60 min);
#   the facade opens the breaker for all callers instead of blocking this one.
# - EntitySetExpired: the identical request cannot succeed; the caller rebuilds the snapshot.
# - BudgetExhausted: the request already waited budget_wait for a permit (ADR 0028).
_NEVER_RETRIED: tuple[type[LegacyError], ...] = (
    CircuitOpen,
    LicenceExhausted,
    EntitySetExpired,
    BudgetExhausted,
)

# The categories that say "the server is in trouble"; the caller's own mistakes
# (InvalidQuery, RecordNotFound, StampConflict, ...) prove the server is answering.
_SERVER_TROUBLE: tuple[type[LegacyError], ...] = (
    ServerUnavailable,
    ServerBusy,
    LicenceExhausted,
    ProtocolError,
    ServerError,
)

# 2**64 * base already exceeds any sane cap; bounding the exponent avoids OverflowError.
_MAX_EXPONENT = 64


def _positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        msg = f"{attribute.name} must be > 0, not {value!r}"
        raise ValueError(msg)


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        msg = f"{attribute.name} must be >= 0, not {value!r}"
        raise ValueError(msg)


# --------------------------------------------------------------------------- retry budget


@attrs.define(repr=False)
class RetryBudget:
    """A token bucket for retries: at most ``ratio`` of recent calls plus a floor.

    Within any sliding ``window`` (seconds) the retries may number at most
    ``min_per_second * window + ratio * calls``, so a storm of failures adds at most
    ``ratio`` extra load instead of multiplying it by the attempt count. Share one budget
    per environment (all policies of ``live`` use the same object). Thread-safe; times are
    the caller's monotonic seconds, so the budget itself holds no clock.
    """

    ratio: float = attrs.field(default=0.2, validator=_non_negative)
    min_per_second: float = attrs.field(default=2.0, validator=_non_negative)
    window: float = attrs.field(default=10.0, validator=_positive)
    # Ring of [slot, calls, retries]; ten slots per window keep memory constant under load.
    _slots: collections.deque[list[int]] = attrs.field(
        init=False, factory=collections.deque, repr=False
    )
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    _SLOTS_PER_WINDOW = 10

    def __repr__(self) -> str:
        return (
            f"<RetryBudget ratio={self.ratio:g} min_per_second={self.min_per_second:g} "
            f"window={self.window:g}s>"
        )

    def deposit(self, now: float) -> None:
        """Count one call (not one attempt) made at monotonic time ``now``."""
        with self._lock:
            self._current(now)[1] += 1

    def try_withdraw(self, now: float) -> bool:
        """Take one retry token if the budget allows it; return whether it did."""
        with self._lock:
            calls, retries = self._totals(now)
            if retries + 1 > self._allowance(calls):
                return False
            self._current(now)[2] += 1
            return True

    def available(self, now: float) -> float:
        """How many retries the budget would still allow at ``now`` (for health and tests)."""
        with self._lock:
            calls, retries = self._totals(now)
            return max(self._allowance(calls) - retries, 0.0)

    def _allowance(self, calls: int) -> float:
        return self.min_per_second * self.window + self.ratio * calls

    def _slot(self, now: float) -> int:
        return math.floor(now / (self.window / self._SLOTS_PER_WINDOW))

    def _prune(self, slot: int) -> None:
        while self._slots and self._slots[0][0] <= slot - self._SLOTS_PER_WINDOW:
            self._slots.popleft()

    def _current(self, now: float) -> list[int]:
        slot = self._slot(now)
        self._prune(slot)
        if not self._slots or self._slots[-1][0] < slot:
            self._slots.append([slot, 0, 0])
        return self._slots[-1]

    def _totals(self, now: float) -> tuple[int, int]:
        self._prune(self._slot(now))
        return sum(s[1] for s in self._slots), sum(s[2] for s in self._slots)


# --------------------------------------------------------------------------- retry policy


@attrs.frozen
class RetryPolicy:
    """Capped exponential backoff with full jitter, a retry budget and Retry-After.

    ``attempts`` counts the first call too (4 = one call and up to three retries). The
    wait after the n-th failed attempt is ``uniform(0, min(cap, base * 2**(n-1)))`` (AWS
    "full jitter"); when the error carries ``retry_after`` the wait is that plus the
    jitter, never more than ``max_retry_after``. Which errors are retried is decided by
    :meth:`should_retry` (ADR 0002). ``clock``, ``rng`` and ``budget`` are services and take
    no part in equality. The budget is shared by every call through this policy (and
    ``attrs.evolve`` copies keep it): build one policy per environment, or pass each a
    budget of its own, so that ``test`` failing cannot spend ``live``'s retries;
    ``budget=None`` disables it.
    """

    attempts: int = attrs.field(default=4)
    base: float = attrs.field(default=0.1, validator=_positive)
    cap: float = attrs.field(default=10.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    clock: Clock = attrs.field(factory=SystemClock, eq=False)
    rng: random.Random | None = attrs.field(default=None, eq=False, repr=False)
    # A fresh budget per policy by default: unbounded retries are never the default.
    budget: RetryBudget | None = attrs.field(factory=RetryBudget, eq=False)

    @attempts.validator
    def _check_attempts(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or value < 1:
            msg = f"{attribute.name} must be an int >= 1, not {value!r}"
            raise ValueError(msg)

    def should_retry(self, error: BaseException, attempt: int, idempotent: bool) -> bool:
        """Whether to retry after ``error`` ended attempt number ``attempt`` (1-based).

        Only transient ``LegacyError``s are retried, never CircuitOpen, LicenceExhausted
        or EntitySetExpired; an idempotent request (a read) retries every other transient
        error, a non-idempotent one (a write) only when ``error.not_applied`` says the
        server certainly did not apply it. The budget is not consulted here.
        """
        if attempt >= self.attempts or not isinstance(error, LegacyError):
            return False
        if isinstance(error, _NEVER_RETRIED) or not error.transient:
            return False
        return idempotent or error.not_applied

    def backoff(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) ended by ``error``."""
        ceiling = min(self.cap, self.base * 2.0 ** min(max(attempt - 1, 0), _MAX_EXPONENT))
        rng = self.rng if self.rng is not None else _RNG
        jitter = rng.uniform(0.0, ceiling)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and retry_after > 0:
            # Honour the server, plus jitter so all waiting clients do not return at once.
            return min(float(retry_after) + jitter, self.max_retry_after)
        return jitter

    def call(self, fn: Callable[[], T], *, idempotent: bool, describe: str = "call") -> T:
        """Run ``fn()``, retrying per this policy; re-raise the last error with a note.

        Only ``LegacyError``s are considered; anything else propagates at once. The note
        (``add_note``) lists the attempts and why retrying stopped.
        """
        return run(
            self.steps(lambda: direct(fn), idempotent=idempotent, describe=describe), self.clock
        )

    def steps(
        self, attempt_steps: Callable[[], Steps[T]], *, idempotent: bool, describe: str = "call"
    ) -> Steps[T]:
        """:meth:`call` as steps: each attempt is ``attempt_steps()``; waits yield Sleep."""
        started = self.clock.monotonic()
        if self.budget is not None:
            self.budget.deposit(started)
        history: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                return (yield from attempt_steps())
            except LegacyError as exc:
                history.append(type(exc).__name__)
                reason = self._stop_reason(exc, attempt, idempotent)
                if reason is not None:
                    if attempt > 1 or reason == "retry budget exhausted":
                        elapsed = self.clock.monotonic() - started
                        exc.add_note(
                            f"{describe}: {attempt} attempt(s) in {elapsed:.2f}s "
                            f"({', '.join(history)}); not retried: {reason}"
                        )
                    raise
                wait = self.backoff(attempt, exc)
                instrument.retry(exc)
                _log.warning(
                    "legacy_api.retry",
                    what=describe,
                    attempt=attempt,
                    wait=round(wait, 3),
                    category=type(exc).__name__,
                    **exc.context(),
                )
                yield Sleep(wait)

    def _stop_reason(self, error: LegacyError, attempt: int, idempotent: bool) -> str | None:
        if not self.should_retry(error, attempt, idempotent):
            if isinstance(error, _NEVER_RETRIED) or not error.transient:
                return f"{type(error).__name__} is not retried"
            if not (idempotent or error.not_applied):
                return "a write that may have been applied is never repeated"
            return f"all {self.attempts} attempts used"
        if self.budget is not None and not self.budget.try_withdraw(self.clock.monotonic()):
            _log.warning(
                "legacy_api.retry.budget_exhausted",
                attempt=attempt,
                category=type(error).__name__,
                **error.context(),
            )
            return "retry budget exhausted"
        return None


# Jitter is not security-relevant; one shared generator (thread-safe under the GIL).
_RNG = random.Random()  # noqa: S311


# --------------------------------------------------------------------------- breaker state


@attrs.frozen
class BreakerSnapshot:
    """A breaker's state as its store sees it.

    ``tripped`` is set from the moment the breaker opens until a probe succeeds;
    ``open_remaining`` is the time left before half-open (0 once elapsed).
    """

    failures: int = 0
    tripped: bool = False
    open_remaining: float = 0.0
    probing: bool = False

    @property
    def name(self) -> BreakerStateName:
        """``closed``, ``open`` or ``half-open``."""
        if not self.tripped:
            return "closed"
        return "open" if self.open_remaining > 0 else "half-open"


@runtime_checkable
class BreakerState(Protocol):
    """Where a breaker keeps its state; every method is atomic.

    Durations only (``open_for``, ``ttl`` in seconds), never the caller's absolute wall
    clock, so a shared store can use its own server-side time (Redis ``PX`` TTLs).
    """

    def get(self) -> BreakerSnapshot:
        """Return the current state."""
        ...

    def record_failure(self, threshold: int, open_for: float) -> bool:
        """Count a consecutive failure; trip at ``threshold`` or when half-open.

        Tripping opens for ``open_for`` seconds; a half-open breaker trips on any failure
        (the probe failed); a failure while already open does not extend the open period.
        Returns whether this call tripped the breaker.
        """
        ...

    def record_success(self, probe: bool) -> bool:
        """Record a success; a probe's success closes the breaker.

        Any other success resets the failure count only while closed, so a straggler that
        started before the breaker opened cannot close it. Returns whether this call
        closed a tripped breaker.
        """
        ...

    def trip(self, open_for: float) -> None:
        """Open now for at least ``open_for`` seconds (an existing longer period stays)."""
        ...

    def try_claim_probe(self, ttl: float) -> bool:
        """Claim the single half-open probe; return whether this caller got it.

        A claim holds until released, resolved by a success or failure, or until ``ttl``
        seconds pass (so a prober that died cannot block the breaker forever).
        """
        ...

    def release_probe(self) -> None:
        """Give the probe back without a verdict (the call ended by a non-4D error)."""
        ...


@attrs.define
class LocalBreakerState:
    """In-process :class:`BreakerState` for one breaker; thread-safe."""

    clock: Clock = attrs.field(factory=SystemClock)
    _failures: int = attrs.field(init=False, default=0)
    _tripped: bool = attrs.field(init=False, default=False)
    _open_until: float = attrs.field(init=False, default=0.0)
    _probe_until: float | None = attrs.field(init=False, default=None)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def get(self) -> BreakerSnapshot:
        """Return the current state."""
        with self._lock:
            return self._snapshot(self.clock.monotonic())

    def record_failure(self, threshold: int, open_for: float) -> bool:
        """Count a failure; trip at ``threshold`` or when half-open."""
        with self._lock:
            now = self.clock.monotonic()
            self._failures += 1
            if self._tripped and now < self._open_until:
                return False
            if self._tripped or self._failures >= threshold:
                self._open(now, open_for)
                return True
            return False

    def record_success(self, probe: bool) -> bool:
        """Close on a probe's success; otherwise reset the count while closed."""
        with self._lock:
            if probe and self._tripped:
                self._failures, self._tripped, self._probe_until = 0, False, None
                return True
            if not self._tripped:
                self._failures = 0
            return False

    def trip(self, open_for: float) -> None:
        """Open for at least ``open_for`` seconds."""
        with self._lock:
            now = self.clock.monotonic()
            if self._tripped and self._open_until - now >= open_for:
                return
            self._open(now, open_for)

    def try_claim_probe(self, ttl: float) -> bool:
        """Claim the half-open probe if nobody holds it."""
        with self._lock:
            now = self.clock.monotonic()
            snap = self._snapshot(now)
            if snap.name != "half-open" or snap.probing:
                return False
            self._probe_until = now + ttl
            return True

    def release_probe(self) -> None:
        """Give the probe back."""
        with self._lock:
            self._probe_until = None

    def _open(self, now: float, open_for: float) -> None:
        self._tripped = True
        self._open_until = now + open_for
        self._probe_until = None

    def _snapshot(self, now: float) -> BreakerSnapshot:
        probing = self._probe_until is not None and now < self._probe_until
        return BreakerSnapshot(
            failures=self._failures,
            tripped=self._tripped,
            open_remaining=max(self._open_until - now, 0.0) if self._tripped else 0.0,
            probing=probing,
        )


# --------------------------------------------------------------------------- breaker


def counts_as_server_failure(error: BaseException) -> bool:
    """Whether ``error`` says the server is in trouble (and so counts toward opening).

    Transient ServerUnavailable (incl. Timeout), ServerBusy, LicenceExhausted,
    ProtocolError and ServerError do; the caller's mistakes (InvalidQuery, RecordNotFound,
    StampConflict, ...), session problems and BudgetExhausted (the deployment's own
    request budget, not 4D, said no) do not.
    """
    if isinstance(error, BudgetExhausted):
        return False
    return isinstance(error, _SERVER_TROUBLE) and error.transient


@attrs.frozen
class Ticket:
    """Permission for one call through a breaker; ``probe`` marks the half-open probe."""

    probe: bool = False


@attrs.define(repr=False)
class CircuitBreaker:
    """A circuit breaker for one environment, thread-safe and clock-driven.

    Closed → open after ``failure_threshold`` consecutive server failures → half-open
    after ``reset_timeout`` with exactly one probe → closed on its success, open on failure.
    ``name`` is the environment; CircuitOpen carries it and ``retry_after``. The state lives
    in the :class:`BreakerState` passed as ``state=`` (kept as ``store``; in-process by
    default, a shared store makes all processes agree).
    ``probe_ttl`` bounds how long a vanished probe can hold the half-open slot.
    """

    name: str
    failure_threshold: int = attrs.field(default=5)
    reset_timeout: float = attrs.field(default=30.0, validator=_positive)
    clock: Clock = attrs.field(factory=SystemClock)
    # ``state=`` in the constructor (an API the facade relies on), ``store`` inside:
    # ``breaker.state`` is the state's name.
    store: BreakerState = attrs.field(
        default=None,
        alias="state",
        converter=attrs.Converter(  # type: ignore[misc, call-overload]
            lambda value, self_: value if value is not None else LocalBreakerState(self_.clock),
            takes_self=True,
        ),
    )
    probe_ttl: float = attrs.field(default=120.0, validator=_positive)

    @failure_threshold.validator
    def _check_threshold(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or value < 1:
            msg = f"{attribute.name} must be an int >= 1, not {value!r}"
            raise ValueError(msg)

    def __repr__(self) -> str:
        # No store access here: a shared store would do I/O inside repr().
        return (
            f"<CircuitBreaker {self.name!r} threshold={self.failure_threshold} "
            f"reset_timeout={self.reset_timeout:g}s store={type(self.store).__name__}>"
        )

    @property
    def state(self) -> BreakerStateName:
        """``closed``, ``open`` or ``half-open``."""
        return self.store.get().name

    def before_call(self) -> Ticket:
        """Allow a call or raise CircuitOpen; in half-open exactly one caller gets the probe."""
        snap = self.store.get()
        if not snap.tripped:
            return Ticket(probe=False)
        if snap.open_remaining > 0:
            raise self._rejection(snap.open_remaining, "open")
        if self.store.try_claim_probe(self.probe_ttl):
            _log.info("legacy_api.breaker.half_open", environment=self.name)
            instrument.breaker_transition(self.name, "half-open")
            return Ticket(probe=True)
        # Another caller's probe is running; its failure would reopen for reset_timeout.
        raise self._rejection(self.reset_timeout, "half-open, a probe is running")

    def record_success(self, ticket: Ticket) -> None:
        """Record that the call succeeded (or failed by the caller's own mistake)."""
        if self.store.record_success(ticket.probe):
            _log.info("legacy_api.breaker.closed", environment=self.name)
            instrument.breaker_transition(self.name, "closed")

    def record_failure(self, ticket: Ticket, error: BaseException) -> None:
        """Record that the call failed with ``error``; only server trouble counts."""
        if not counts_as_server_failure(error):
            # The server answered (404, bad filter, stale stamp): that is a sign of health.
            self.record_success(ticket)
            return
        if self.store.record_failure(self.failure_threshold, self.reset_timeout):
            snap = self.store.get()
            _log.warning(
                "legacy_api.breaker.opened",
                environment=self.name,
                failures=snap.failures,
                open_for=self.reset_timeout,
                reason=type(error).__name__,
                probe=ticket.probe,
            )
            instrument.breaker_transition(self.name, "open")

    def release(self, ticket: Ticket) -> None:
        """Free the probe slot: the call ended without a verdict (a non-4D exception)."""
        if ticket.probe:
            self.store.release_probe()

    def open_for(self, seconds: float, reason: str) -> None:
        """Open immediately for at least ``seconds`` (4D 402: no licence is free)."""
        self.store.trip(seconds)
        _log.warning(
            "legacy_api.breaker.opened", environment=self.name, open_for=seconds, reason=reason
        )
        instrument.breaker_transition(self.name, "open")

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` through the breaker."""
        return run(self.steps(direct(fn)), self.clock)

    def steps(self, call_steps: Steps[T]) -> Steps[T]:
        """:meth:`call` as sans-I/O steps around ``call_steps``."""
        ticket = self.before_call()
        try:
            result = yield from call_steps
        except LegacyError as exc:
            self.record_failure(ticket, exc)
            raise
        except BaseException:
            self.release(ticket)
            raise
        self.record_success(ticket)
        return result

    def _rejection(self, retry_after: float, why: str) -> CircuitOpen:
        msg = f"circuit breaker {self.name!r} is {why}: failing fast for {retry_after:.1f}s"
        # Nothing was sent: a write refused here is certainly not applied.
        return CircuitOpen(msg, environment=self.name, retry_after=retry_after, not_applied=True)
