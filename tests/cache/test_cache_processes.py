"""Single-flight and invalidation across real processes, over Redis, the Django cache, files."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.cache import _workers
from tests.cache.conftest import TABLE, table_reads
from tests.sessions import _support

from fourd_emulator import EmulatorServer
from legacy_api import build_client
from legacy_core.ports import SessionStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROCESSES = 3
THREADS = 4


@pytest.fixture(params=["redis", "django", "file"])
def store_factory(
    request: pytest.FixtureRequest, redis_url: str, tmp_path: Path
) -> Callable[[], SessionStore]:
    """A picklable factory of the shared store every process uses."""
    if request.param == "redis":
        return functools.partial(_support.redis_store, redis_url)
    if request.param == "django":
        return functools.partial(_support.django_store, redis_url, "django")
    directory = tmp_path / "sessions"
    directory.mkdir(mode=0o700)
    return functools.partial(_support.file_store, str(directory))


def _one_fetch(emulator: EmulatorServer) -> int:
    """The entity requests one uncached read of TABLE makes."""
    client = build_client({"environments": {"live": emulator.base_url}, "session_store": "memory"})
    client.count("Artikel_Stamm")
    before = table_reads(emulator)
    client.fetch_frame(TABLE)
    return table_reads(emulator) - before


def _collect(forkserver: Any, procs: list[Any], results: Any, n: int) -> list[Any]:
    for p in procs:
        p.start()
    out = [results.get(timeout=90) for _ in range(n)]
    for p in procs:
        p.join(timeout=30)
    return out


class TestAcrossProcesses:
    """Every process of a deployment shares one cache through its store."""

    def test_misses_at_once_fetch_once(
        self,
        forkserver: Any,
        emulator: EmulatorServer,
        store_factory: Callable[[], SessionStore],
    ) -> None:
        """Three processes of four threads missing together cause exactly one 4D fetch."""
        one_fetch = _one_fetch(emulator)
        emulator.set_faults(latency_ms=200)  # the fetch lasts: every other reader must wait
        before = table_reads(emulator)
        start = forkserver.Barrier(PROCESSES * THREADS)
        results = forkserver.Queue()
        procs = [
            forkserver.Process(
                target=_workers.read_worker,
                args=(emulator.base_url, TABLE, store_factory, THREADS, start, results),
            )
            for _ in range(PROCESSES)
        ]
        items = [i for out in _collect(forkserver, procs, results, PROCESSES) for i in out]
        crashes = [i["crash"] for i in items if "crash" in i]
        assert [] == crashes
        assert PROCESSES * THREADS == len(items)
        assert 1 == len({i["digest"] for i in items})
        assert one_fetch == table_reads(emulator) - before

    def test_write_in_another_process_invalidates(
        self,
        forkserver: Any,
        emulator: EmulatorServer,
        store_factory: Callable[[], SessionStore],
    ) -> None:
        """A write by another process's client makes this process's next read fetch again."""
        config = {
            "environments": {"live": emulator.base_url},
            "session_store": "memory",
            "cache": {TABLE: 600},
        }
        client = build_client(config, store=store_factory())
        first = list(client.iter_records(TABLE))
        before = table_reads(emulator)
        assert first == list(client.iter_records(TABLE))
        assert before == table_reads(emulator)  # a hit
        results = forkserver.Queue()
        proc = forkserver.Process(
            target=_workers.write_worker,
            args=(emulator.base_url, TABLE, store_factory, first[0]["__KEY"], "Fern", results),
        )
        assert [{"ok": True}] == _collect(forkserver, [proc], results, 1)
        after = list(client.iter_records(TABLE))
        assert table_reads(emulator) > before
        assert "Fern" == next(r for r in after if r["__KEY"] == first[0]["__KEY"])["Bezeichnung"]
