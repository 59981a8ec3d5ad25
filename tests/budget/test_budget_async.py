"""The async client under a shared budget: waiting for a permit never blocks the event loop."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest
import redis

from fourd_emulator import EmulatorServer
from legacy_adapters.aio import arun
from legacy_adapters.stores import RedisBudget
from legacy_api import build_async_client
from legacy_core.budget import BudgetLimits, RequestBudget, budget_key
from legacy_core.errors import BudgetExhausted
from legacy_core.model import Environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TABLE = "Artikel_Variante"


def _config(server: EmulatorServer, redis_url: str, wait: float) -> dict[str, object]:
    return {
        "environments": {"live": server.base_url},
        "session_store": "redis",
        "redis_url": redis_url,
        "page_size": 5,
        "workers": 6,
        "budget": {"max_concurrent": 2, "wait": wait},
    }


async def _ticker(ticks: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        ticks.append(time.monotonic())
        await asyncio.sleep(0.01)


class TestAsyncBudget:
    """AsyncLegacyClient reads six pages at a time through a cap of two."""

    def test_cap_holds_and_the_loop_stays_free(
        self, slow_emulator: EmulatorServer, redis_client: redis.Redis[bytes], redis_server_url: str
    ) -> None:
        """Both permits held 1 s by another holder: a ticker keeps ticking, then peak <= 2."""
        budget = RedisBudget(redis_client)
        key = budget_key(Environment("live", slow_emulator.base_url))
        for token in ("x", "y"):
            assert 0.0 == budget.take(key, token, BudgetLimits(max_concurrent=2))
        release = threading.Timer(1.0, lambda: [budget.give_back(key, t) for t in ("x", "y")])

        async def main() -> tuple[int, list[float], float]:
            ticks: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.create_task(_ticker(ticks, stop))
            async with build_async_client(_config(slow_emulator, redis_server_url, 10)) as client:
                started = time.monotonic()
                release.start()
                frame = await client.fetch_frame(TABLE, workers=6)
                took = time.monotonic() - started
            stop.set()
            await ticker
            return len(frame), ticks, took

        try:
            rows, ticks, took = asyncio.run(main())
        finally:
            release.cancel()
        assert 60 == rows
        assert took >= 0.95  # it did wait for the held permits
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        # A 10 ms ticker: a loop blocked by the wait would show a gap of ~1 s.
        assert max(gaps) < 0.5
        assert len(ticks) >= 10  # the ticker ran beside the read
        assert 1 <= slow_emulator.stats()["peak_in_flight"] <= 2

    def test_a_long_rate_wait_sleeps_on_the_loop(
        self, slow_emulator: EmulatorServer, redis_client: redis.Redis[bytes], redis_server_url: str
    ) -> None:
        """An empty bucket at 1/s: the read waits ~1 s in one sleep while a ticker goes on."""
        limits = BudgetLimits(rate=1.0, burst=1)
        key = budget_key(Environment("live", slow_emulator.base_url))
        spent = time.monotonic()
        assert 0.0 == RedisBudget(redis_client).take(key, "spent", limits)  # the bucket empty
        config = {
            "environments": {"live": slow_emulator.base_url},
            "session_store": "redis",
            "redis_url": redis_server_url,
            "budget": {"rate": 1.0, "burst": 1, "wait": 10},
        }

        async def main() -> tuple[int, list[float]]:
            ticks: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.create_task(_ticker(ticks, stop))
            async with build_async_client(config) as client:
                rows = await client.count(TABLE)
            stop.set()
            await ticker
            return rows, ticks

        rows, ticks = asyncio.run(main())
        assert 60 == rows
        # It waited for the next token: nothing reached 4D within 1/rate of the spend.
        assert min(t for t, _ in slow_emulator.request_timeline()) >= spent + 0.95
        # A sleep that blocked the loop would leave one gap of 0.5 s or more (the jittered
        # pause is half to all of the ~1 s hint); the 10 ms ticker shows none.
        assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.25

    def test_exhausted_in_async(
        self, slow_emulator: EmulatorServer, redis_client: redis.Redis[bytes], redis_server_url: str
    ) -> None:
        """With the cap held throughout, the awaited read raises BudgetExhausted after the wait."""
        budget = RedisBudget(redis_client)
        key = budget_key(Environment("live", slow_emulator.base_url))
        for token in ("x", "y"):
            assert 0.0 == budget.take(key, token, BudgetLimits(max_concurrent=2))

        async def main() -> float:
            async with build_async_client(_config(slow_emulator, redis_server_url, 0.2)) as client:
                started = time.monotonic()
                with pytest.raises(BudgetExhausted):
                    await client.fetch_frame(TABLE)
                return time.monotonic() - started

        assert 0.2 <= asyncio.run(main()) < 1.5
        assert 0 == slow_emulator.stats()["requests_total"]


class _SlowTake:
    """The real Redis budget, its takes delayed 0.3 s (a slow network to Redis)."""

    def __init__(self, inner: RedisBudget) -> None:
        self.inner = inner

    def take(self, key: str, token: str, limits: BudgetLimits) -> float:
        time.sleep(0.3)
        return self.inner.take(key, token, limits)

    def give_back(self, key: str, token: str) -> None:
        self.inner.give_back(key, token)


def test_cancel_during_a_take_leaks_no_permit(redis_client: redis.Redis[bytes]) -> None:
    """A task cancelled while its take runs on a thread gives the permit back after the take."""
    env = Environment("live", "http://wsz-db:8080")
    budget = RequestBudget(
        _SlowTake(RedisBudget(redis_client)), {"live": BudgetLimits(max_concurrent=2)}
    )
    leases = budget_key(env) + ":leases"

    async def main() -> None:
        task = asyncio.create_task(arun(budget.acquire_steps(env)))
        await asyncio.sleep(0.1)  # the take is on its thread now, 0.2 s from being granted
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    time.sleep(0.4)  # any take still running has ended by now
    assert 0 == redis_client.zcard(leases)
