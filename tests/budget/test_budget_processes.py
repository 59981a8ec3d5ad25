"""Several real processes (spawn) sharing one request budget through the session store.

Each child builds its own client and reads with parallel pages over HTTP from one
emulator in this process; the emulator's own counters (``peak_in_flight``) and its
request timeline are the judges, and every read is checked against the emulator's rows.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.budget._workers import TABLE, hold_permits, read_worker, row_tuples

from fourd_emulator import EmulatorServer
from legacy_api import build_client

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

PROCESSES = 3
WORKERS = 4
ROUNDS = 2

Run = Callable[[dict[str, Any]], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def spawn() -> multiprocessing.context.SpawnContext:
    """Fresh interpreters, as Celery's and gunicorn's workers are (no state inherited)."""
    return multiprocessing.get_context("spawn")


@pytest.fixture
def run_readers(spawn: multiprocessing.context.SpawnContext) -> Iterator[Run]:
    """Start PROCESSES readers of ``config`` together; return what each one reported."""
    started: list[multiprocessing.process.BaseProcess] = []

    def run(config: dict[str, Any]) -> list[dict[str, Any]]:
        start = spawn.Barrier(PROCESSES)
        out = spawn.Queue()
        procs = [
            spawn.Process(target=read_worker, args=(config, ROUNDS, WORKERS, start, out))
            for _ in range(PROCESSES)
        ]
        started.extend(procs)
        for proc in procs:
            proc.start()
        results = [out.get(timeout=150) for _ in procs]
        for proc in procs:
            proc.join(30)
        return results

    yield run
    for proc in started:
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def expected_rows(server: EmulatorServer) -> list[tuple[Any, ...]]:
    """The table as the emulator holds it (wire records), in key order of its storage."""
    table = server.emulator.db.tables[TABLE]
    return row_tuples([table.record(i) for i in range(table.count())])


def check_reads(results: list[dict[str, Any]], server: EmulatorServer) -> None:
    """Every process reported ROUNDS reads, each exactly the emulator's rows."""
    crashes = [r["crash"] for r in results if "crash" in r]
    assert [] == crashes
    expected = expected_rows(server)
    assert 60 == len(expected)
    for result in results:
        assert ROUNDS == len(result["reads"])
        for rows in result["reads"]:
            assert expected == rows


def redis_config(server: EmulatorServer, url: str, **budget: Any) -> dict[str, Any]:
    """A client of the emulator sharing sessions and budget through Redis."""
    return {
        "environments": {"live": server.base_url},
        "session_store": "redis",
        "redis_url": url,
        "page_size": 5,
        "workers": WORKERS,
        "budget": {"wait": 60, **budget},
    }


def max_in_window(times: list[float], window: float) -> int:
    """The most request arrivals any ``window`` seconds of the timeline saw."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] > window:
            first += 1
        best = max(best, last - first + 1)
    return best


class TestConcurrencyCap:
    """max_concurrent=N holds for the deployment, not per process."""

    def test_redis_budget_caps_three_processes(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
        run_readers: Run,
    ) -> None:
        """Three processes x four page workers under a Redis cap of three: peak <= 3, rows right."""
        config = redis_config(slow_emulator, redis_server_url, max_concurrent=3)
        results = run_readers(config)
        check_reads(results, slow_emulator)
        stats = slow_emulator.stats()
        # 12 page workers wanted in flight at once; parallelism did happen, within the cap.
        assert 2 <= stats["peak_in_flight"] <= 3
        assert 0 == redis_client.zcard(
            next(iter(redis_client.scan_iter("*:budget:leases")), b"none")
        )

    def test_file_budget_caps_three_processes(
        self, slow_emulator: EmulatorServer, tmp_path: Path, run_readers: Run
    ) -> None:
        """The same three processes sharing a file store and a cap of two: peak <= 2, rows right."""
        config = {
            "environments": {"live": slow_emulator.base_url},
            "session_store": "file",
            "session_dir": str(tmp_path / "sessions"),
            "page_size": 5,
            "workers": WORKERS,
            "budget": {"max_concurrent": 2, "wait": 60},
        }
        results = run_readers(config)
        check_reads(results, slow_emulator)
        assert 1 <= slow_emulator.stats()["peak_in_flight"] <= 2

    def test_django_cache_budget_caps_three_processes(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
        run_readers: Run,
    ) -> None:
        """Sessions and budget in Django's RedisCache (generic budget): peak <= 2, rows right."""
        pytest.importorskip("django")
        config = {
            "environments": {"live": slow_emulator.base_url},
            "session_store": "django",
            "django_cache_alias": "legacy",
            "django_redis": redis_server_url,
            "page_size": 5,
            "workers": WORKERS,
            "budget": {"max_concurrent": 2, "wait": 60},
        }
        results = run_readers(config)
        check_reads(results, slow_emulator)
        assert 1 <= slow_emulator.stats()["peak_in_flight"] <= 2
        assert list(redis_client.scan_iter("*budget*"))  # the state lived in that cache


class TestRate:
    """The token bucket holds for the deployment: the emulator counts the arrivals."""

    def test_three_processes_stay_within_rate_and_burst(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
        run_readers: Run,
    ) -> None:
        """At 20/s with a burst of 5, no second of the run sees more than 5 + 20 (+ slack)."""
        rate, burst = 20.0, 5
        url = redis_server_url
        results = run_readers(redis_config(slow_emulator, url, rate=rate, burst=burst))
        check_reads(results, slow_emulator)
        times = sorted(t for t, _ in slow_emulator.request_timeline())
        total = len(times)
        # The grants follow Redis time; a request reaches the emulator a little after its
        # grant, and a busy machine can delay one more than the next, so arrivals may
        # bunch by the spread of those delays. 0.25 s of it is allowed (5 more requests).
        slack = 0.25
        assert max_in_window(times, 1.0) <= burst + rate * (1.0 + slack)
        assert total <= burst + rate * (times[-1] - times[0] + slack) + 1
        # ... and the run really was paced: unpaced, these ~90 requests take well under 2 s.
        assert total > 60
        assert times[-1] - times[0] >= (total - burst) / rate - slack


class TestKilledHolder:
    """The permits of a process killed while holding them come back with the lease's end."""

    def test_permits_return_after_the_lease_and_not_before(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
        spawn: multiprocessing.context.SpawnContext,
    ) -> None:
        """A SIGKILLed holder of both permits blocks a read until its 3 s lease ends, then reads."""
        lease = 3.0
        url = redis_server_url
        ready = spawn.Queue()
        holder = spawn.Process(
            target=hold_permits, args=(url, slow_emulator.base_url, 2, lease, ready)
        )
        holder.start()
        try:
            report = ready.get(timeout=60)
            assert 2 == report["tokens"]
            assert holder.pid is not None
            os.kill(holder.pid, signal.SIGKILL)
            holder.join(10)
            assert -signal.SIGKILL == holder.exitcode
            killed = time.monotonic()
            client = build_client(redis_config(slow_emulator, url, max_concurrent=2),
                                  budget_lease=lease)  # fmt: skip
            frame = client.fetch_frame(TABLE, workers=WORKERS)
            done = time.monotonic()
        finally:
            if holder.is_alive():
                holder.kill()
                holder.join(5)
        assert expected_rows(slow_emulator) == row_tuples(frame.to_dict("records"))
        arrivals = [t for t, _ in slow_emulator.request_timeline()]
        # Not before: nothing reached 4D until the dead holder's leases ended.
        assert min(arrivals) >= report["before"] + lease
        # After: the read went on soon after the lease's end, long before budget_wait (60 s).
        # Idle, it is within a poll or two (~20 ms); two busy loops on the 2 cores made it
        # up to 1.2 s in our runs, hence the margin.
        assert min(arrivals) - (report["before"] + lease) < 5.0
        assert killed < report["before"] + lease  # the kill came while the leases lived
        assert done - killed < 30
