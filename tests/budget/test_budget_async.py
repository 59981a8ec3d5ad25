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

    def test_wait_leaves_the_loop_free_and_the_cap_holds(
        self, slow_emulator: EmulatorServer, redis_client: redis.Redis[bytes], redis_server_url: str
    ) -> None:
        """Both permits held 0.5 s by another holder: a ticker keeps ticking, then peak <= 2."""
        budget = RedisBudget(redis_client)
        key = budget_key(Environment("live", slow_emulator.base_url))
        for token in ("x", "y"):
            assert 0.0 == budget.take(key, token, BudgetLimits(max_concurrent=2))
        release = threading.Timer(0.5, lambda: [budget.give_back(key, t) for t in ("x", "y")])

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
        assert took >= 0.45  # it did wait for the held permits
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        # A 10 ms ticker: a loop blocked by the wait would show a gap of ~0.5 s.
        assert max(gaps) < 0.25
        assert len(ticks) >= 20
        assert 1 <= slow_emulator.stats()["peak_in_flight"] <= 2

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
