"""The Redis budget's Lua script against a real private redis-server: cap, bucket, leases, time."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from legacy_adapters.stores import RedisBudget, RedisSessionStore, budget_store
from legacy_core.budget import BudgetLimits, StoreBudget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

KEY = "legacy:live:budget"
LEASES, BUCKET = KEY + ":leases", KEY + ":bucket"


def _server_ms(client: redis.Redis[bytes]) -> float:
    seconds, micros = client.time()
    return seconds * 1000 + micros / 1000


def _until_granted(budget: RedisBudget, token: str, limits: BudgetLimits, limit: float) -> float:
    """Take ``token``, sleeping the hinted waits; return the seconds it took."""
    started = time.monotonic()
    while (hint := budget.take(KEY, token, limits)) > 0:
        assert time.monotonic() - started < limit, f"no permit within {limit}s"
        time.sleep(hint)
    return time.monotonic() - started


class TestCap:
    """The leased semaphore: a sorted set of leases scored by their end."""

    def test_grants_max_concurrent_then_waits(self, redis_client: redis.Redis[bytes]) -> None:
        """A cap of three grants three permits, refuses the fourth, and a release lets it in."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=3)
        waits = [budget.take(KEY, f"t{i}", limits) for i in range(4)]
        assert [0.0, 0.0, 0.0] == waits[:3]
        assert waits[3] > 0
        assert {b"t0", b"t1", b"t2"} == set(redis_client.zrange(LEASES, 0, -1))
        budget.give_back(KEY, "t1")
        assert 0.0 == budget.take(KEY, "t3", limits)
        assert {b"t0", b"t2", b"t3"} == set(redis_client.zrange(LEASES, 0, -1))

    def test_threads_never_hold_more_than_the_cap(self, redis_client: redis.Redis[bytes]) -> None:
        """Eight threads taking and giving back 25 permits each never hold more than two at once."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=2)
        lock = threading.Lock()
        held, peak, granted = [0], [0], [0]

        def worker(n: int) -> None:
            for i in range(25):
                token = f"w{n}-{i}"
                _until_granted(budget, token, limits, 30)
                with lock:
                    held[0] += 1
                    peak[0] = max(peak[0], held[0])
                    granted[0] += 1
                time.sleep(0.002)
                with lock:
                    held[0] -= 1
                budget.give_back(KEY, token)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(45)
        assert 200 == granted[0]
        assert 1 <= peak[0] <= 2
        assert 0 == redis_client.zcard(LEASES)

    def test_lease_of_a_lost_permit_ends_on_its_own(self, redis_client: redis.Redis[bytes]) -> None:
        """A permit never given back blocks the cap until its 0.4 s lease ends, not before."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=1, lease=0.4)
        assert 0.0 == budget.take(KEY, "lost", limits)
        taken = time.monotonic()
        assert budget.take(KEY, "next", limits) > 0
        waited = _until_granted(budget, "next", limits, 5)
        assert time.monotonic() - taken >= 0.39
        assert waited < 2.0
        assert [b"next"] == redis_client.zrange(LEASES, 0, -1)

    def test_unknown_or_expired_release_is_harmless(self, redis_client: redis.Redis[bytes]) -> None:
        """Giving back a permit that is not held changes nothing and raises nothing."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=1)
        budget.give_back(KEY, "never-taken")
        assert 0.0 == budget.take(KEY, "a", limits)
        budget.give_back(KEY, "never-taken")
        assert [b"a"] == redis_client.zrange(LEASES, 0, -1)


class TestBucket:
    """The token bucket in a hash (tokens, stamp)."""

    def test_burst_then_one_token_per_interval(self, redis_client: redis.Redis[bytes]) -> None:
        """A burst of three goes at once; the fourth is told to wait about 1/rate seconds."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(rate=2.0, burst=3)
        assert [0.0, 0.0, 0.0] == [budget.take(KEY, "t", limits) for _ in range(3)]
        hint = budget.take(KEY, "t", limits)
        # 0.5 s less what refilled while the four takes ran (a busy machine: up to 0.25 s).
        assert 0.25 <= hint <= 0.5
        time.sleep(hint + 0.01)
        assert 0.0 == budget.take(KEY, "t", limits)

    def test_grants_follow_the_rate_over_time(self, redis_client: redis.Redis[bytes]) -> None:
        """Four threads spinning for 1.5 s get burst + rate x elapsed permits, give or take one."""
        budget = RedisBudget(redis_client)
        rate, burst = 20.0, 5
        limits = BudgetLimits(rate=rate, burst=burst)
        grants: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + 1.5

        def worker() -> None:
            while time.monotonic() < stop:
                hint = budget.take(KEY, "t", limits)
                if hint == 0:
                    with lock:
                        grants.append(time.monotonic())
                else:
                    time.sleep(min(hint, 0.005))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        elapsed = max(grants) - started
        # The bucket allows at most burst + rate x (time since the first take); scheduling
        # can only make the spinners late, so the lower bound is loose.
        assert len(grants) <= burst + rate * (elapsed + 0.05) + 1
        assert len(grants) >= burst + rate * elapsed * 0.5

    def test_refused_by_the_cap_spends_no_token(self, redis_client: redis.Redis[bytes]) -> None:
        """A take the cap refuses leaves the bucket's tokens where they were."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=1, rate=0.5, burst=2)
        assert 0.0 == budget.take(KEY, "a", limits)
        before = float(redis_client.hget(BUCKET, "t") or -1)
        assert budget.take(KEY, "b", limits) > 0
        after = float(redis_client.hget(BUCKET, "t") or -1)
        assert before == pytest.approx(1.0, abs=0.05)
        assert after == pytest.approx(before, abs=0.05)

    def test_keys_expire_when_idle(self, redis_client: redis.Redis[bytes]) -> None:
        """Both keys carry a TTL (lease + 1 s, full-refill time + 1 s): nothing stays forever."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=2, rate=4.0, burst=8, lease=3.0)
        assert 0.0 == budget.take(KEY, "a", limits)
        assert 3000 < redis_client.pttl(LEASES) <= 4000
        assert 2000 < redis_client.pttl(BUCKET) <= 3000


class TestServerTime:
    """Time comes from Redis ``TIME``, not from the clock of the process asking."""

    def test_stamps_are_the_servers_time(
        self, redis_client: redis.Redis[bytes], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With this process's clock stopped at 1970, lease ends and bucket stamp are Redis time."""
        budget = RedisBudget(redis_client)
        monkeypatch.setattr(time, "time", lambda: 0.0)
        limits = BudgetLimits(max_concurrent=2, rate=5.0, lease=60.0)
        before = _server_ms(redis_client)
        assert 0.0 == budget.take(KEY, "a", limits)
        after = _server_ms(redis_client)
        ((_, end),) = redis_client.zrange(LEASES, 0, -1, withscores=True)
        stamp = float(redis_client.hget(BUCKET, "s") or 0)
        assert before - 1 <= stamp <= after + 1
        assert before + 60_000 - 1 <= end <= after + 60_000 + 1

    def test_script_reloaded_after_script_flush(self, redis_client: redis.Redis[bytes]) -> None:
        """A server that forgot the script (restart, SCRIPT FLUSH) gets it again transparently."""
        budget = RedisBudget(redis_client)
        limits = BudgetLimits(max_concurrent=1)
        assert 0.0 == budget.take(KEY, "a", limits)
        redis_client.script_flush()
        assert budget.take(KEY, "b", limits) > 0


def test_budget_store_picks_the_lua_script_for_redis(redis_client: redis.Redis[bytes]) -> None:
    """budget_store() gives the Redis session store the Lua budget, others the generic one."""
    from legacy_adapters.stores import MemorySessionStore  # noqa: PLC0415

    assert isinstance(budget_store(RedisSessionStore(redis_client)), RedisBudget)
    assert isinstance(budget_store(MemorySessionStore()), StoreBudget)


def test_a_shorter_lease_does_not_cut_longer_ones(redis_client: redis.Redis[bytes]) -> None:
    """A process configured with a 1 s lease does not shorten the key kept for a 10 s one."""
    budget = RedisBudget(redis_client)
    assert 0.0 == budget.take(KEY, "long", BudgetLimits(max_concurrent=3, lease=10.0))
    assert 0.0 == budget.take(KEY, "short", BudgetLimits(max_concurrent=3, lease=1.0))
    assert redis_client.pttl(LEASES) > 9000
    time.sleep(2.1)
    # The short lease ended, and so would the whole key with a 1 s + 1 s TTL; the long
    # lease must still count against the cap.
    assert budget.take(KEY, "third", BudgetLimits(max_concurrent=1, lease=1.0)) > 0
    assert [b"long"] == redis_client.zrange(LEASES, 0, -1)
