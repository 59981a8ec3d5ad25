"""Tests of legacy_core.resilience: RetryPolicy, RetryBudget and CircuitBreaker on a ManualClock."""

from __future__ import annotations

import random
import statistics
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from legacy_core.clock import ManualClock
from legacy_core.errors import (
    AuthenticationFailed,
    CircuitOpen,
    ConfigurationError,
    EntitySetExpired,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    LockTimeout,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerError,
    ServerUnavailable,
    SessionExpired,
    StampConflict,
    Timeout,
    UnknownTable,
)
from legacy_core.resilience import (
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    LocalBreakerState,
    RetryBudget,
    RetryPolicy,
    Ticket,
    counts_as_server_failure,
)

CTX = {"environment": "live", "table": "Artikel_Variante"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def policy_on(clock: ManualClock, **kwargs: object) -> RetryPolicy:
    """A policy with a seeded RNG so waits are reproducible."""
    kwargs.setdefault("rng", random.Random(1234))
    return RetryPolicy(clock=clock, **kwargs)  # type: ignore[arg-type]


class Flaky:
    """A callable that raises the given errors in order, then returns ``result``."""

    def __init__(self, *errors: BaseException, result: object = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


class TestRetryPolicyBackoff:
    @pytest.mark.parametrize("attempt", range(1, 13))
    def test_full_jitter_stays_within_the_capped_exponential_ceiling(self, clock, attempt):
        """Every wait after attempt n lies in [0, min(cap, base * 2**(n-1))]."""
        policy = policy_on(clock, base=0.1, cap=10.0)
        ceiling = min(10.0, 0.1 * 2 ** (attempt - 1))
        waits = [policy.backoff(attempt) for _ in range(500)]
        assert 0.0 <= min(waits)
        assert ceiling >= max(waits)

    def test_full_jitter_spreads_uniformly_over_the_whole_range(self, clock):
        """Waits cover [0, ceiling] uniformly: extremes reached, mean near half the ceiling."""
        policy = policy_on(clock, base=1.0, cap=8.0)
        waits = [policy.backoff(4) for _ in range(4000)]
        assert min(waits) < 0.05 * 8.0
        assert max(waits) > 0.95 * 8.0
        assert 4.0 == pytest.approx(statistics.fmean(waits), rel=0.05)
        # Each eighth of the range holds roughly an eighth of the samples.
        buckets = [0] * 8
        for w in waits:
            buckets[min(int(w), 7)] += 1
        assert all(350 < b < 650 for b in buckets), buckets

    def test_the_cap_bounds_late_attempts_without_overflow(self, clock):
        """A huge attempt number is capped and does not overflow the float exponent."""
        policy = policy_on(clock, base=0.1, cap=3.0)
        assert 3.0 >= policy.backoff(10_000)

    @given(
        attempt=st.integers(min_value=1, max_value=5000),
        base=st.floats(min_value=1e-3, max_value=100.0),
        cap=st.floats(min_value=1e-3, max_value=1000.0),
        seed=st.integers(min_value=0, max_value=2**32),
    )
    def test_backoff_is_never_negative_nor_above_the_cap(self, attempt, base, cap, seed):
        """For any attempt, base, cap and seed the wait is within [0, cap]."""
        policy = RetryPolicy(base=base, cap=cap, clock=ManualClock(), rng=random.Random(seed))
        wait = policy.backoff(attempt)
        assert 0.0 <= wait <= cap

    def test_retry_after_is_a_floor_plus_jitter(self, clock):
        """A Retry-After of 5 s means waiting at least 5 s and at most 5 s plus the jitter."""
        policy = policy_on(clock, base=0.5, cap=10.0)
        error = ServerBusy("busy", retry_after=5.0, **CTX)
        waits = [policy.backoff(1, error) for _ in range(200)]
        assert 5.0 <= min(waits)
        assert 5.5 >= max(waits)

    def test_retry_after_is_capped_by_max_retry_after(self, clock):
        """A Retry-After beyond ``max_retry_after`` waits exactly the maximum."""
        policy = policy_on(clock, max_retry_after=60.0)
        error = ServerBusy("busy", retry_after=3600.0, **CTX)
        assert 60.0 == policy.backoff(1, error)

    def test_same_seed_gives_the_same_waits(self, clock):
        """The injected RNG makes the jitter reproducible."""
        first = policy_on(clock, rng=random.Random(7))
        second = policy_on(clock, rng=random.Random(7))
        assert [first.backoff(n) for n in range(1, 6)] == [second.backoff(n) for n in range(1, 6)]

    @pytest.mark.parametrize(
        "kwargs",
        [{"attempts": 0}, {"attempts": 1.5}, {"base": 0.0}, {"cap": -1.0}, {"max_retry_after": -1}],
    )
    def test_nonsense_settings_are_refused(self, clock, kwargs):
        """Zero attempts, non-positive base or cap and negative Retry-After caps are errors."""
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            RetryPolicy(clock=clock, **kwargs)

    def test_policies_compare_by_settings_not_by_services(self):
        """Two policies with equal settings are equal and hash alike whatever their clocks."""
        assert RetryPolicy(clock=ManualClock()) == RetryPolicy(clock=ManualClock())
        assert hash(RetryPolicy(clock=ManualClock())) == hash(RetryPolicy(clock=ManualClock()))


# (error, idempotent, expected): the idempotency table of ADR 0002.
RETRY_TABLE = [
    (ServerUnavailable("refused", **CTX), True, True),
    (ServerUnavailable("reset", **CTX), False, False),
    (ServerUnavailable("refused before sending", not_applied=True, **CTX), False, True),
    (Timeout("read timeout", **CTX), True, True),
    (Timeout("read timeout", **CTX), False, False),
    (Timeout("connect timeout", not_applied=True, **CTX), False, True),
    (ServerBusy("503", not_applied=True, **CTX), False, True),
    (ServerBusy("503", **CTX), True, True),
    (SessionExpired("401", not_applied=True, **CTX), False, True),
    (SessionExpired("401", **CTX), True, True),
    (ProtocolError("truncated body", transient=True, **CTX), True, True),
    (ProtocolError("not JSON", **CTX), True, False),
    (LockTimeout("store lock", **CTX), True, True),
    (ServerError("500", **CTX), True, False),
    (InvalidQuery("bad filter", **CTX), True, False),
    (RecordNotFound("1800", **CTX), True, False),
    (UnknownTable("no such table", **CTX), True, False),
    (StampConflict("stale", **CTX), False, False),
    (ConfigurationError("typo", **CTX), True, False),
    (AuthenticationFailed("bad password", not_applied=True, **CTX), False, False),
    (CircuitOpen("open", retry_after=3.0, **CTX), True, False),
    (LicenceExhausted("402", not_applied=True, **CTX), True, False),
    (LicenceExhausted("402", not_applied=True, **CTX), False, False),
    (EntitySetExpired("1802", **CTX), True, False),
    (ConnectionError("not ours"), True, False),
    (ValueError("not ours"), True, False),
]


class TestRetryPolicyShouldRetry:
    @pytest.mark.parametrize(
        ("error", "idempotent", "expected"),
        RETRY_TABLE,
        ids=[f"{type(e).__name__}-{'read' if i else 'write'}-{x}" for e, i, x in RETRY_TABLE],
    )
    def test_idempotency_table(self, clock, error, idempotent, expected):
        """Reads retry transient errors; writes only those that were certainly not applied."""
        assert expected == policy_on(clock).should_retry(error, 1, idempotent)

    def test_no_retry_once_the_attempts_are_used(self, clock):
        """With four attempts, the fourth failure is final."""
        policy = policy_on(clock, attempts=4)
        error = ServerBusy("503", **CTX)
        assert [True, True, True, False] == [
            policy.should_retry(error, n, True) for n in (1, 2, 3, 4)
        ]


class TestRetryPolicyCall:
    def test_transient_failures_are_retried_until_success(self, clock):
        """Two 503s then success: three calls, two jittered waits, the result returned."""
        fn = Flaky(ServerBusy("503", **CTX), Timeout("slow", **CTX), result=42)
        policy = policy_on(clock, base=0.1, cap=10.0)
        assert 42 == policy.call(fn, idempotent=True, describe="read Artikel_Variante")
        assert 3 == fn.calls
        assert 2 == len(clock.sleeps)
        assert 0.0 <= clock.sleeps[0] <= 0.1
        assert 0.0 <= clock.sleeps[1] <= 0.2

    def test_each_retry_logs_a_whole_event(self, clock):
        """A retry logs attempt, wait, category and the error's context as flat keys."""
        fn = Flaky(ServerBusy("503", status=503, request_id="r-1", **CTX))
        with capture_logs() as logs:
            policy_on(clock).call(fn, idempotent=True, describe="read Artikel_Variante")
        assert [
            {
                "event": "legacy_api.retry",
                "log_level": "warning",
                "what": "read Artikel_Variante",
                "attempt": 1,
                "wait": round(clock.sleeps[0], 3),
                "category": "ServerBusy",
                "environment": "live",
                "table": "Artikel_Variante",
                "status": 503,
                "request_id": "r-1",
            }
        ] == logs

    def test_the_last_original_error_is_raised_with_a_note(self, clock):
        """When attempts run out, the last error itself is re-raised and notes the attempts."""
        errors = [ServerBusy(f"503 #{n}", **CTX) for n in range(4)]
        fn = Flaky(*errors)
        with pytest.raises(ServerBusy) as info:
            policy_on(clock, attempts=4).call(fn, idempotent=True, describe="read Artikel")
        assert errors[3] is info.value
        assert 4 == fn.calls
        assert 3 == len(clock.sleeps)
        note = (
            f"read Artikel: 4 attempt(s) in {sum(clock.sleeps):.2f}s "
            "(ServerBusy, ServerBusy, ServerBusy, ServerBusy); not retried: all 4 attempts used"
        )
        assert [note] == info.value.__notes__

    def test_the_note_names_why_retrying_stopped(self, clock):
        """After retries, a permanent error is reported as such, not as attempts used up."""
        fn = Flaky(ServerBusy("503", **CTX), StampConflict("stale", **CTX))
        with pytest.raises(StampConflict) as info:
            policy_on(clock).call(fn, idempotent=True, describe="read A")
        assert info.value.__notes__[0].endswith(
            "(ServerBusy, StampConflict); not retried: StampConflict is not retried"
        )

    def test_a_write_stops_at_the_first_error_that_may_have_been_applied(self, clock):
        """A write retried after a 503 stops at a read timeout, and the note says why."""
        fn = Flaky(ServerBusy("503", not_applied=True, **CTX), Timeout("read timeout", **CTX))
        with pytest.raises(Timeout) as info:
            policy_on(clock).call(fn, idempotent=False, describe="update A")
        assert 2 == fn.calls
        assert info.value.__notes__[0].endswith(
            "not retried: a write that may have been applied is never repeated"
        )

    def test_a_permanent_error_is_raised_at_once_without_a_note(self, clock):
        """A caller's mistake is not retried, not waited on and not annotated."""
        fn = Flaky(InvalidQuery("bad filter", **CTX))
        with pytest.raises(InvalidQuery) as info:
            policy_on(clock).call(fn, idempotent=True)
        assert 1 == fn.calls
        assert [] == clock.sleeps
        assert not hasattr(info.value, "__notes__")

    def test_a_write_that_may_have_been_applied_is_not_repeated(self, clock):
        """A read timeout on a write is raised after one call."""
        fn = Flaky(Timeout("read timeout", **CTX))
        with pytest.raises(Timeout):
            policy_on(clock).call(fn, idempotent=False, describe="update Artikel")
        assert 1 == fn.calls

    def test_a_write_refused_before_sending_is_retried(self, clock):
        """A connection refused before the request was sent is safe to repeat for a write."""
        fn = Flaky(ServerUnavailable("refused", not_applied=True, **CTX), result="saved")
        assert "saved" == policy_on(clock).call(fn, idempotent=False)
        assert 2 == fn.calls

    def test_errors_that_are_not_ours_propagate_untouched(self, clock):
        """A bug (KeyError) is neither retried nor annotated."""
        fn = Flaky(KeyError("oops"))
        with pytest.raises(KeyError) as info:
            policy_on(clock).call(fn, idempotent=True)
        assert 1 == fn.calls
        assert not hasattr(info.value, "__notes__")

    def test_retry_after_is_honoured_between_attempts(self, clock):
        """The wait after a 503 with Retry-After: 7 is at least 7 s."""
        fn = Flaky(ServerBusy("503", retry_after=7.0, **CTX))
        policy_on(clock, base=0.1).call(fn, idempotent=True)
        assert 1 == len(clock.sleeps)
        assert 7.0 <= clock.sleeps[0] <= 7.1

    def test_circuit_open_is_never_retried(self, clock):
        """CircuitOpen fails fast even for a read."""
        fn = Flaky(CircuitOpen("open", retry_after=20.0, **CTX))
        with pytest.raises(CircuitOpen):
            policy_on(clock).call(fn, idempotent=True)
        assert 1 == fn.calls


class TestRetryBudget:
    def test_an_exhausted_budget_stops_retries(self, clock):
        """With room for one retry, the second failure of a call is final and says why."""
        budget = RetryBudget(ratio=0.0, min_per_second=0.1, window=10.0)
        fn = Flaky(*[ServerBusy("503", **CTX) for _ in range(4)])
        with capture_logs() as logs, pytest.raises(ServerBusy) as info:
            policy_on(clock, budget=budget).call(fn, idempotent=True, describe="read A")
        assert 2 == fn.calls
        assert info.value.__notes__[0].endswith("not retried: retry budget exhausted")
        assert ["legacy_api.retry", "legacy_api.retry.budget_exhausted"] == [
            e["event"] for e in logs
        ]

    def test_every_policy_has_its_own_budget_by_default(self, clock):
        """Unless told otherwise, a policy gets a fresh 20 %/2 per s/10 s budget of its own."""
        first, second = RetryPolicy(clock=clock), RetryPolicy(clock=clock)
        assert isinstance(first.budget, RetryBudget)
        assert (0.2, 2.0, 10.0) == (
            first.budget.ratio,
            first.budget.min_per_second,
            first.budget.window,
        )
        assert first.budget is not second.budget
        assert RetryPolicy(clock=clock, budget=None).budget is None

    def test_the_budget_recovers_when_the_window_passes(self, clock):
        """Spent retries stop counting once they are older than the window."""
        budget = RetryBudget(ratio=0.0, min_per_second=0.2, window=10.0)
        now = clock.monotonic()
        assert [True, True, False] == [budget.try_withdraw(now) for _ in range(3)]
        assert 0.0 == budget.available(now + 5.0)
        assert 2.0 == budget.available(now + 10.0)
        assert budget.try_withdraw(now + 10.0)

    def test_calls_earn_retries_in_proportion(self, clock):
        """A hundred calls with ratio 0.2 add twenty retries to the floor."""
        budget = RetryBudget(ratio=0.2, min_per_second=1.0, window=10.0)
        now = clock.monotonic()
        for _ in range(100):
            budget.deposit(now)
        assert 30.0 == pytest.approx(budget.available(now))

    def test_a_failure_storm_does_not_multiply_the_load(self, clock):
        """Two hundred failing calls with four attempts each make far fewer than 800 requests."""
        budget = RetryBudget(ratio=0.2, min_per_second=0.5, window=10.0)
        policy = policy_on(clock, attempts=4, budget=budget, base=0.001, cap=0.001)
        requests = 0
        for _ in range(200):
            fn = Flaky(*[ServerBusy("503", **CTX) for _ in range(4)])
            with pytest.raises(ServerBusy):
                policy.call(fn, idempotent=True)
            requests += fn.calls
        # 200 first attempts + at most 5 floor + 20% of 200 retries.
        assert 200 < requests <= 245

    def test_withdrawals_are_exact_under_real_threads(self, clock):
        """Sixteen threads racing for tokens get exactly the allowance, never more."""
        budget = RetryBudget(ratio=0.0, min_per_second=10.0, window=10.0)
        now = clock.monotonic()
        granted: list[bool] = []
        lock = threading.Lock()
        barrier = threading.Barrier(16)

        def worker() -> None:
            barrier.wait()
            mine = [budget.try_withdraw(now) for _ in range(50)]
            with lock:
                granted.extend(mine)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 100 == sum(granted)

    @pytest.mark.parametrize("kwargs", [{"ratio": -0.1}, {"min_per_second": -1.0}, {"window": 0.0}])
    def test_nonsense_settings_are_refused(self, kwargs):
        """Negative ratios or floors and an empty window are errors."""
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            RetryBudget(**kwargs)


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(name="live", failure_threshold=3, reset_timeout=30.0, clock=clock)


def fail_times(breaker: CircuitBreaker, n: int, error: LegacyError | None = None) -> None:
    for _ in range(n):
        with pytest.raises(LegacyError):
            breaker.call(Flaky(error or ServerUnavailable("refused", **CTX)))


class TestCircuitBreaker:
    def test_opens_after_the_threshold_of_consecutive_failures(self, breaker):
        """Two failures keep it closed; the third opens it."""
        fail_times(breaker, 2)
        assert "closed" == breaker.state
        fail_times(breaker, 1)
        assert "open" == breaker.state

    def test_an_open_breaker_fails_fast_with_context(self, breaker, clock):
        """While open, the function is not called and CircuitOpen names the environment and wait."""
        fail_times(breaker, 3)
        clock.advance(10.0)
        fn = Flaky()
        with pytest.raises(CircuitOpen) as info:
            breaker.call(fn)
        assert 0 == fn.calls
        assert "live" == info.value.environment
        assert 20.0 == pytest.approx(info.value.retry_after)
        assert info.value.transient

    def test_a_success_resets_the_consecutive_count(self, breaker):
        """Failures separated by a success never reach the threshold."""
        for _ in range(5):
            fail_times(breaker, 2)
            breaker.call(Flaky())
        assert "closed" == breaker.state

    @pytest.mark.parametrize(
        "error",
        [
            InvalidQuery("bad filter", **CTX),
            RecordNotFound("1800", **CTX),
            StampConflict("stale", **CTX),
            UnknownTable("nope", **CTX),
            SessionExpired("401", **CTX),
            ServerError("500", **CTX),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_the_callers_mistakes_do_not_open_it(self, breaker, error):
        """Errors that prove the server answered never count toward opening."""
        fail_times(breaker, 2)
        fail_times(breaker, 10, error)
        fail_times(breaker, 2)
        assert "closed" == breaker.state

    def test_half_open_after_the_reset_timeout(self, breaker, clock):
        """After ``reset_timeout`` the breaker is half-open."""
        fail_times(breaker, 3)
        clock.advance(29.9)
        assert "open" == breaker.state
        clock.advance(0.1)
        assert "half-open" == breaker.state

    def test_a_successful_probe_closes_it(self, breaker, clock):
        """The probe's success closes the breaker and logs it."""
        fail_times(breaker, 3)
        clock.advance(30.0)
        with capture_logs() as logs:
            assert "ok" == breaker.call(Flaky())
        assert "closed" == breaker.state
        assert [
            {"event": "legacy_api.breaker.half_open", "log_level": "info", "environment": "live"},
            {"event": "legacy_api.breaker.closed", "log_level": "info", "environment": "live"},
        ] == logs

    def test_a_failed_probe_opens_it_again(self, breaker, clock):
        """The probe's failure reopens for a full ``reset_timeout``."""
        fail_times(breaker, 3)
        clock.advance(30.0)
        with capture_logs() as logs:
            fail_times(breaker, 1, Timeout("slow", **CTX))
        assert "open" == breaker.state
        with pytest.raises(CircuitOpen) as info:
            breaker.before_call()
        assert 30.0 == pytest.approx(info.value.retry_after)
        assert {
            "event": "legacy_api.breaker.opened",
            "log_level": "warning",
            "environment": "live",
            "failures": 4,
            "open_for": 30.0,
            "reason": "Timeout",
            "probe": True,
        } == logs[-1]

    def test_a_probe_ended_by_the_callers_mistake_closes_it(self, breaker, clock):
        """A 404 from the probe proves the server answers, so the breaker closes."""
        fail_times(breaker, 3)
        clock.advance(30.0)
        fail_times(breaker, 1, RecordNotFound("1800", **CTX))
        assert "closed" == breaker.state

    def test_only_one_probe_at_a_time(self, breaker, clock):
        """While the probe runs, a second caller gets CircuitOpen."""
        fail_times(breaker, 3)
        clock.advance(30.0)
        ticket = breaker.before_call()
        assert ticket.probe
        with pytest.raises(CircuitOpen):
            breaker.before_call()
        breaker.record_success(ticket)
        assert Ticket(probe=False) == breaker.before_call()

    def test_exactly_one_of_sixteen_threads_probes(self, breaker, clock):
        """Sixteen threads hitting a half-open breaker at once: exactly one reaches fn."""
        fail_times(breaker, 3)
        clock.advance(30.0)
        barrier = threading.Barrier(16)
        rejected = threading.Semaphore(0)
        calls: list[int] = []
        outcomes: list[str] = []
        lock = threading.Lock()

        def probe() -> str:
            calls.append(1)
            # Hold the probe until all fifteen others have been turned away.
            for _ in range(15):
                assert rejected.acquire(timeout=10)
            return "ok"

        def worker() -> None:
            barrier.wait()
            try:
                outcome = breaker.call(probe)
            except CircuitOpen:
                outcome = "rejected"
                rejected.release()
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert 1 == len(calls)
        assert ["ok"] + ["rejected"] * 15 == sorted(outcomes)
        assert "closed" == breaker.state

    def test_a_vanished_probe_frees_the_slot_after_its_ttl(self, clock):
        """A probe that never reports back blocks others only for ``probe_ttl``."""
        breaker = CircuitBreaker(
            name="live", failure_threshold=1, reset_timeout=5.0, clock=clock, probe_ttl=60.0
        )
        fail_times(breaker, 1)
        clock.advance(5.0)
        assert breaker.before_call().probe
        clock.advance(59.0)
        with pytest.raises(CircuitOpen):
            breaker.before_call()
        clock.advance(1.0)
        assert breaker.before_call().probe

    def test_a_probe_ended_by_a_bug_releases_the_slot(self, breaker, clock):
        """A non-4D exception in the probe gives the slot to the next caller at once."""
        fail_times(breaker, 3)
        clock.advance(30.0)
        with pytest.raises(KeyError):
            breaker.call(Flaky(KeyError("bug")))
        assert "half-open" == breaker.state
        assert breaker.before_call().probe

    def test_a_straggler_success_does_not_close_an_open_breaker(self, breaker):
        """A call admitted while closed that succeeds after the breaker opened changes nothing."""
        straggler = breaker.before_call()
        fail_times(breaker, 3)
        breaker.record_success(straggler)
        assert "open" == breaker.state

    def test_open_for_opens_at_once_on_402(self, breaker, clock):
        """``open_for`` (licences exhausted) opens a closed breaker for the given time."""
        with capture_logs() as logs:
            breaker.open_for(600.0, "licences exhausted (402)")
        assert "open" == breaker.state
        clock.advance(100.0)
        with pytest.raises(CircuitOpen) as info:
            breaker.call(Flaky())
        assert 500.0 == pytest.approx(info.value.retry_after)
        assert [
            {
                "event": "legacy_api.breaker.opened",
                "log_level": "warning",
                "environment": "live",
                "open_for": 600.0,
                "reason": "licences exhausted (402)",
            }
        ] == logs

    def test_open_for_never_shortens_a_longer_open_period(self, breaker, clock):
        """A shorter ``open_for`` while open for longer keeps the longer period."""
        breaker.open_for(600.0, "402")
        breaker.open_for(10.0, "402 again")
        clock.advance(11.0)
        assert "open" == breaker.state

    def test_failures_while_open_do_not_extend_it(self, breaker, clock):
        """Stragglers failing during the open period do not push half-open further away."""
        stragglers = [breaker.before_call() for _ in range(3)]
        fail_times(breaker, 3)
        clock.advance(20.0)
        for ticket in stragglers:
            breaker.record_failure(ticket, Timeout("slow", **CTX))
        clock.advance(10.0)
        assert "half-open" == breaker.state

    def test_retries_stop_when_the_breaker_opens(self, clock):
        """Retrying through a breaker: once it opens, CircuitOpen ends the call."""
        breaker = CircuitBreaker(name="live", failure_threshold=2, reset_timeout=30.0, clock=clock)
        fn = Flaky(*[ServerBusy("503", **CTX) for _ in range(4)])
        with pytest.raises(CircuitOpen):
            policy_on(clock, attempts=4).call(lambda: breaker.call(fn), idempotent=True)
        assert 2 == fn.calls

    def test_state_can_be_any_breaker_state(self, clock):
        """A custom BreakerState is used as given and satisfies the Protocol."""
        store = LocalBreakerState(clock)
        breaker = CircuitBreaker(name="test", failure_threshold=1, clock=clock, state=store)
        assert isinstance(store, BreakerState)
        assert store is breaker.store
        fail_times(breaker, 1)
        assert BreakerSnapshot(failures=1, tripped=True, open_remaining=30.0) == store.get()

    def test_repr_is_short_and_does_not_touch_the_store(self, breaker):
        """The repr names the breaker and its settings only."""
        assert "<CircuitBreaker 'live' threshold=3 reset_timeout=30s store=LocalBreakerState>" == (
            repr(breaker)
        )

    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            (ServerUnavailable("refused"), True),
            (Timeout("slow"), True),
            (ServerBusy("503"), True),
            (LicenceExhausted("402"), True),
            (ProtocolError("truncated", transient=True), True),
            (ProtocolError("not JSON"), False),
            (ServerError("500", transient=True), True),
            (ServerError("500"), False),
            (SessionExpired("401"), False),
            (CircuitOpen("open"), False),
            (EntitySetExpired("1802"), False),
            (InvalidQuery("bad"), False),
            (OSError("not ours"), False),
        ],
        ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
    )
    def test_what_counts_as_server_trouble(self, error, expected):
        """Only transient server-side categories count toward opening."""
        assert expected == counts_as_server_failure(error)
