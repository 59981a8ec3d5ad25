"""StoreBreakerState: the circuit breaker's state shared by processes through Redis."""

# The house style puts the expected value on the left of ==, which SIM300 calls "Yoda".

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.sessions._support import RedisDb

from legacy_adapters.stores import RedisSessionStore, StoreBreakerState
from legacy_core.errors import CircuitOpen, ServerUnavailable
from legacy_core.model import Environment
from legacy_core.resilience import BreakerState, CircuitBreaker

pytestmark = pytest.mark.integration


def _down() -> None:
    msg = "connection refused"
    raise ServerUnavailable(msg, environment="live")


class TestStoreBreakerState:
    """StoreBreakerState implements BreakerState atomically on Redis server time."""

    def test_is_a_breaker_state(self, redis_db: RedisDb) -> None:
        """It satisfies the resilience BreakerState protocol."""
        assert isinstance(StoreBreakerState(redis_db[0], "live"), BreakerState)

    def test_trips_at_the_threshold_for_every_process(self, redis_db: RedisDb) -> None:
        """Failures counted by two instances (two processes) trip the breaker for both."""
        mine, theirs = (
            StoreBreakerState(redis_db[0], "live"),
            StoreBreakerState(redis_db[1], "live"),
        )
        assert False is mine.record_failure(3, 30.0)
        assert False is theirs.record_failure(3, 30.0)
        assert True is mine.record_failure(3, 30.0)
        snapshot = theirs.get()
        assert ("open", 3) == (snapshot.name, snapshot.failures)
        assert 29.0 < snapshot.open_remaining <= 30.0

    def test_success_while_closed_resets_the_count(self, redis_db: RedisDb) -> None:
        """A success while closed forgets earlier failures."""
        state = StoreBreakerState(redis_db[0], "live")
        state.record_failure(3, 30.0)
        state.record_success(probe=False)
        assert 0 == state.get().failures

    def test_open_period_ends_by_server_time(self, redis_db: RedisDb) -> None:
        """Once the PX period passes the breaker is half-open for everybody."""
        state = StoreBreakerState(redis_db[0], "live")
        state.trip(0.2)
        assert "open" == state.get().name
        time.sleep(0.3)
        assert "half-open" == StoreBreakerState(redis_db[0], "live").get().name

    def test_one_probe_among_many_claimants(self, redis_db: RedisDb) -> None:
        """Sixteen threads claiming the half-open probe at once get exactly one claim."""
        state = StoreBreakerState(redis_db[0], "live")
        state.trip(0.05)
        time.sleep(0.1)
        barrier = threading.Barrier(16)

        def claim(_i: int) -> bool:
            barrier.wait()
            return StoreBreakerState(redis_db[0], "live").try_claim_probe(5.0)

        with ThreadPoolExecutor(16) as pool:
            assert 1 == sum(pool.map(claim, range(16)))

    def test_failure_while_half_open_reopens(self, redis_db: RedisDb) -> None:
        """Any failure while half-open opens the breaker again for the full period."""
        state = StoreBreakerState(redis_db[0], "live")
        state.trip(0.05)
        time.sleep(0.1)
        assert True is state.record_failure(5, 30.0)
        assert "open" == state.get().name
        assert 29.0 < state.get().open_remaining

    def test_probe_success_closes(self, redis_db: RedisDb) -> None:
        """The probe's success closes the breaker and clears the count."""
        state = StoreBreakerState(redis_db[0], "live")
        state.record_failure(1, 0.05)
        time.sleep(0.1)
        assert True is state.try_claim_probe(5.0)
        assert True is state.record_success(probe=True)
        assert ("closed", 0) == (state.get().name, state.get().failures)

    def test_straggler_success_does_not_close(self, redis_db: RedisDb) -> None:
        """A non-probe success while open leaves the breaker open."""
        state = StoreBreakerState(redis_db[0], "live")
        state.trip(30.0)
        assert False is state.record_success(probe=False)
        assert "open" == state.get().name

    def test_trip_never_shortens_a_longer_open_period(self, redis_db: RedisDb) -> None:
        """Tripping for less than what remains keeps the longer period."""
        state = StoreBreakerState(redis_db[0], "live")
        state.trip(60.0)
        state.trip(1.0)
        assert 59.0 < state.get().open_remaining

    def test_released_probe_can_be_claimed_again(self, redis_db: RedisDb) -> None:
        """release_probe frees the half-open slot without a verdict."""
        state = StoreBreakerState(redis_db[0], "live")
        state.trip(0.05)
        time.sleep(0.1)
        assert True is state.try_claim_probe(5.0)
        assert False is state.try_claim_probe(5.0)
        state.release_probe()
        assert True is state.try_claim_probe(5.0)

    def test_breakers_of_environments_are_separate(self, redis_db: RedisDb) -> None:
        """for_environment keys the state by name and base URL, like sessions."""
        live = StoreBreakerState.for_environment(
            RedisSessionStore(redis_db[0]), Environment("live", "http://a.invalid")
        )
        test = StoreBreakerState.for_environment(
            redis_db[0], Environment("test", "http://b.invalid")
        )
        live.trip(30.0)
        assert ("open", "closed") == (live.get().name, test.get().name)


class TestSharedCircuitBreaker:
    """CircuitBreakers of several processes on one StoreBreakerState fail fast together."""

    def test_other_workers_fail_fast_once_one_trips(self, redis_db: RedisDb) -> None:
        """After one worker's breaker opens, another worker's breaker rejects without calling."""
        first = CircuitBreaker(
            "live", failure_threshold=2, state=StoreBreakerState(redis_db[0], "live")
        )
        second = CircuitBreaker(
            "live", failure_threshold=2, state=StoreBreakerState(redis_db[0], "live")
        )
        for _ in range(2):
            with pytest.raises(ServerUnavailable):
                first.call(_down)
        calls = []
        with pytest.raises(CircuitOpen):
            second.call(lambda: calls.append(1))
        assert [] == calls
        assert "open" == second.state
