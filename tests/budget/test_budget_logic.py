"""Tests of legacy_core.budget: the token bucket, the leased semaphore and the bounded wait."""

from __future__ import annotations

import attrs
import pytest

from legacy_adapters.stores import MemorySessionStore
from legacy_core._steps import run
from legacy_core.budget import (
    BudgetLimits,
    BudgetState,
    RequestBudget,
    StoreBudget,
    give_back,
    take,
)
from legacy_core.clock import ManualClock
from legacy_core.errors import BudgetExhausted, ServerBusy
from legacy_core.model import Environment
from legacy_core.resilience import RetryPolicy, counts_as_server_failure

ENV = Environment("live", "http://wsz-db:8080")


class TestTake:
    """The pure arithmetic of one take."""

    def test_cap_refuses_beyond_max_concurrent(self) -> None:
        """A third permit of a cap of two waits; a release lets it through."""
        limits = BudgetLimits(max_concurrent=2)
        state, wait_a = take(BudgetState(), limits, "a", 0.0)
        state, wait_b = take(state, limits, "b", 0.0)
        refused, wait_c = take(state, limits, "c", 0.0)
        assert (0.0, 0.0) == (wait_a, wait_b)
        assert wait_c > 0
        assert {"a", "b"} == set(refused.leases)
        _, wait_again = take(give_back(refused, "a"), limits, "c", 0.0)
        assert 0.0 == wait_again

    def test_lease_of_a_dead_holder_expires(self) -> None:
        """A permit never given back stops counting once its lease ended."""
        limits = BudgetLimits(max_concurrent=1, lease=10.0)
        state, _ = take(BudgetState(), limits, "dead", 0.0)
        _, early = take(state, limits, "next", 9.0)
        after, late = take(state, limits, "next", 10.5)
        assert early > 0
        assert 0.0 == late
        assert ["next"] == list(after.leases)

    def test_bucket_refills_at_the_rate(self) -> None:
        """A burst of three empties the bucket; one token comes back every 1/rate seconds."""
        limits = BudgetLimits(rate=2.0, burst=3)
        state = BudgetState()
        for _ in range(3):
            state, wait = take(state, limits, "t", 0.0)
            assert 0.0 == wait
        state, wait = take(state, limits, "t", 0.0)
        assert pytest.approx(0.5) == wait
        _, wait = take(state, limits, "t", 0.5)
        assert 0.0 == wait

    def test_neither_limit_spent_when_the_other_refuses(self) -> None:
        """A take refused by the cap spends no token of the bucket."""
        limits = BudgetLimits(max_concurrent=1, rate=1.0, burst=2)
        state, _ = take(BudgetState(), limits, "a", 0.0)
        refused, wait = take(state, limits, "b", 0.0)
        assert wait > 0
        assert pytest.approx(1.0) == refused.tokens

    def test_state_round_trips_through_its_payload(self) -> None:
        """The generic store's payload decodes to the same state."""
        state = BudgetState({"a": 12.5}, 1.25, 3.0)
        assert state == BudgetState.decode(state.encode())


class TestRequestBudget:
    """The bounded wait for a permit, on a manual clock and the memory store."""

    def _budget(self, limits: BudgetLimits, wait: float = 5.0) -> tuple[RequestBudget, ManualClock]:
        clock = ManualClock()
        store = StoreBudget(MemorySessionStore(clock), clock)
        return RequestBudget(store, {"live": limits}, wait=wait, clock=clock), clock

    def test_rate_waits_on_the_clock(self) -> None:
        """With one token a second, the second request sleeps about a second, then goes."""
        budget, clock = self._budget(BudgetLimits(rate=1.0, burst=1))
        assert run(budget.acquire_steps(ENV), clock) is not None
        started = clock.monotonic()
        assert run(budget.acquire_steps(ENV), clock) is not None
        assert 0.5 <= clock.monotonic() - started <= 1.5

    def test_bounded_wait_raises_budget_exhausted(self) -> None:
        """A cap held for longer than budget_wait raises BudgetExhausted, a ServerBusy."""
        budget, clock = self._budget(BudgetLimits(max_concurrent=1), wait=2.0)
        run(budget.acquire_steps(ENV), clock)
        with pytest.raises(BudgetExhausted) as caught:
            run(budget.acquire_steps(ENV), clock)
        assert isinstance(caught.value, ServerBusy)
        assert caught.value.not_applied
        assert clock.monotonic() - 1000.0 >= 2.0

    def test_release_frees_the_permit(self) -> None:
        """A given-back permit lets the next request through without waiting."""
        budget, clock = self._budget(BudgetLimits(max_concurrent=1), wait=0.0)
        token = run(budget.acquire_steps(ENV), clock)
        run(budget.release_steps(ENV, token), clock)
        assert run(budget.acquire_steps(ENV), clock) is not None
        assert [] == clock.sleeps

    def test_unlimited_environment_takes_nothing(self) -> None:
        """An environment without limits gets no permit and never waits."""
        budget, clock = self._budget(BudgetLimits(max_concurrent=1))
        other = Environment("test", "http://wsz-test:8080")
        assert run(budget.acquire_steps(other), clock) is None

    def test_budget_exhausted_is_not_retried_nor_a_server_failure(self) -> None:
        """The client neither retries BudgetExhausted nor counts it against the breaker."""
        err = BudgetExhausted("no permit", environment="live")
        assert not RetryPolicy().should_retry(err, 1, idempotent=True)
        assert not counts_as_server_failure(err)


@pytest.mark.parametrize("field", ["max_concurrent", "burst"])
@pytest.mark.parametrize("value", [0, 0.5, 2.0, True, "2"])
def test_cap_and_burst_are_whole_numbers(field: str, value: object) -> None:
    """A cap or bucket of 0.5 would never admit anything: only whole numbers >= 1 are taken."""
    with pytest.raises(ValueError, match=field):
        BudgetLimits(**{field: value})


def test_fractional_override_is_a_configuration_error() -> None:
    """A per-environment burst of 0.5 (TOML [budget.test]) is refused when configuring."""
    from legacy_adapters.config import ClientConfig  # noqa: PLC0415
    from legacy_core.errors import ConfigurationError  # noqa: PLC0415

    with pytest.raises(ConfigurationError, match=r"budget of 'test'.*burst"):
        ClientConfig(
            environments={"live": "http://a:1", "test": "http://b:1"},
            rate=5.0,
            budget_overrides={"test": {"burst": 0.5}},
        )


class _LostLock(MemorySessionStore):
    """A memory store where another writer slips in between a take's read and its write,
    as when a take stalls past its lock's ttl and another process takes the lock."""

    def get(self, key: str):  # type: ignore[no-untyped-def]
        current = super().get(key)
        if key.endswith(":budget") and current is not None:
            stale = current
            super().compare_and_set(
                key,
                current.generation,
                attrs.evolve(current, generation=current.generation + 1),
                60,
            )
            return stale
        return current


def test_grant_lost_to_a_concurrent_write_is_no_grant() -> None:
    """A take whose write loses the compare-and-set answers 'wait', never a phantom permit."""
    clock = ManualClock()
    store = _LostLock(clock)
    budget = StoreBudget(store, clock)
    limits = BudgetLimits(max_concurrent=2)
    assert 0.0 == budget.take("k:budget", "first", limits)  # nothing stored yet: a plain write
    assert budget.take("k:budget", "second", limits) > 0
    decoded = BudgetState.decode(store.get("k:budget").payload)  # type: ignore[union-attr]
    assert ["first"] == list(decoded.leases)
