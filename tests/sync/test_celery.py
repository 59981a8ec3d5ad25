"""The Celery sync tasks on a real worker (prefork, two children, Redis broker) vs the emulator.

The worker is a ``celery -A tests.sync.celery_app worker`` subprocess; the broker, the
result backend, the run locks and the 4D session store are a private redis-server; the
sink is a SQLite file the test reads directly.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.sync._celery_worker import celery_worker

celery = pytest.importorskip("celery")
redis = pytest.importorskip("redis")

from fourd_emulator import EmulatorServer  # noqa: E402
from legacy_adapters.sync._lock import RunLock  # noqa: E402
from legacy_adapters.sync.celery import run_locked  # noqa: E402
from legacy_adapters.testing import RedisServerError, private_redis_server  # noqa: E402
from legacy_core.sync import ChangeEvent, SyncMapping  # noqa: E402

from .conftest import Fourd, make_client  # noqa: E402
from .test_sqlite_sync import sqlite_table  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
VARIANT = "Artikel_Variante"
FAMILY = "Artikel_Familie"
RUN_MAPPING = "legacy_api.sync.run_mapping"
RUN_ALL = "legacy_api.sync.run_all"


@pytest.fixture(scope="module")
def redis_base() -> Iterator[str]:
    """A private redis-server (or $REDIS_URL) for the module: ``redis://host:port``."""
    try:
        with private_redis_server() as url:
            yield url.rsplit("/", 1)[0]
    except RedisServerError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def sink_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite sink file every worker run writes to."""
    return tmp_path_factory.mktemp("celery-sink") / "sink.db"


@pytest.fixture(scope="module")
def worker(
    server: EmulatorServer,
    redis_base: str,
    sink_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process (prefork pool, two children) serving the sync tasks."""
    log = tmp_path_factory.mktemp("celery-log") / "worker.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "LEGACY_API_TEST_CELERY_URL": f"{redis_base}/0",
        "LEGACY_API_LIVE_URL": server.base_url,
        "LEGACY_API_SESSION_STORE": "redis",
        "LEGACY_API_REDIS_URL": f"{redis_base}/2",
        "LEGACY_API_RETRIES": "2",
        "LEGACY_API_MAX_CONCURRENT": "1",  # one request budget for every worker process
        "LEGACY_API_SYNC_MAPPINGS": "tests.sync.celery_mappings",
        "LEGACY_API_SYNC_TO": f"sqlite:{sink_path}",
        "LEGACY_API_SYNC_REDIS_URL": f"{redis_base}/1",
        "LEGACY_API_SYNC_LOCK_TTL": "30",
        "LEGACY_API_SYNC_MAX_RETRIES": "5",
    }
    with celery_worker(
        "tests.sync.celery_app", env, log, "--pool", "prefork", "--concurrency", "2", "-O", "fair"
    ) as proc:
        yield proc


@pytest.fixture(scope="module")
def app(redis_base: str) -> Iterator[Any]:
    """A Celery app of this test process that sends tasks to the worker and reads results."""
    sender = celery.Celery("sender", broker=f"{redis_base}/0", backend=f"{redis_base}/0")
    sender.conf.result_extended = True
    yield sender
    sender.close()


@pytest.fixture
def fresh(
    worker: subprocess.Popen[bytes], emulator: EmulatorServer, redis_base: str, sink_path: Path
) -> Iterator[EmulatorServer]:
    """The emulator reset, an empty sink, no locks or stored 4D session left over."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sink_path}{suffix}").unlink(missing_ok=True)
    for db in (1, 2):
        with redis.Redis.from_url(f"{redis_base}/{db}") as r:
            r.flushdb()
    yield emulator
    assert worker.poll() is None, "the worker died during the test"


def wait(app: Any, task_id: str, timeout: float = 120) -> dict[str, Any]:
    """The result of the task ``task_id`` (raises what the task raised)."""
    result: dict[str, Any] = app.AsyncResult(task_id).get(timeout=timeout)
    return result


def checkpoint_fence(path: Path, mapping: str) -> int | None:
    """The fencing token stored with ``mapping``'s checkpoint, read straight from the file."""
    import sqlite3  # noqa: PLC0415 - local to this helper

    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT fence FROM _legacy_sync_checkpoints WHERE mapping = ?", (mapping,)
        ).fetchone()
        return None if row is None else row[0]
    finally:
        db.close()


class TestRunsOnAWorker:
    """A task run the task makes the sink equal the 4D table, in full, then incrementally."""

    def test_task_run_makes_the_sink_equal_the_table(
        self, app: Any, fresh: EmulatorServer, fourd: Fourd, sink_path: Path
    ) -> None:
        """The first task run copies the table; after 4D changes a second one applies just those."""
        first = wait(app, app.send_task(RUN_MAPPING, args=(VARIANT,)).id)
        assert ("ran", True) == (first["status"], first["full"])
        assert fourd.table(VARIANT) == sqlite_table(sink_path, VARIANT)
        keys = sorted(fourd.table(VARIANT))
        fourd.update(VARIANT, {"__KEY": keys[3], "Bezeichnung": "per Celery"})
        fourd.delete(VARIANT, keys[4])
        second = wait(app, app.send_task(RUN_MAPPING, args=(VARIANT,)).id)
        assert ("ran", False) == (second["status"], second["full"])
        assert (1, 1) == (second["updated"], second["deleted"])
        assert second["fence"] > first["fence"]
        assert fourd.table(VARIANT) == sqlite_table(sink_path, VARIANT)
        assert second["fence"] == checkpoint_fence(sink_path, VARIANT)

    def test_full_run_copies_again_and_finds_nothing_changed(
        self, app: Any, fresh: EmulatorServer, fourd: Fourd, sink_path: Path
    ) -> None:
        """``full=True`` reads the whole table again (the nightly run) and announces no change."""
        wait(app, app.send_task(RUN_MAPPING, args=(FAMILY,)).id)
        full = wait(app, app.send_task(RUN_MAPPING, args=(FAMILY,), kwargs={"full": True}).id)
        assert full["full"] is True
        assert len(fourd.records(FAMILY)) == full["rows_read"]
        assert (0, 0, 0) == (full["created"], full["updated"], full["deleted"])
        assert fourd.table(FAMILY) == sqlite_table(sink_path, FAMILY)


class TestOneRunPerMapping:
    """Two tasks started on one mapping at once do one run; the other skips and says so."""

    def test_concurrent_tasks_on_one_mapping_read_once(
        self, app: Any, fresh: EmulatorServer, fourd: Fourd, sink_path: Path
    ) -> None:
        """Two children on one mapping: one runs, one skips; 4D sends the rows once."""
        rows = len(fourd.records(VARIANT))
        fresh.set_faults(latency_ms=150)  # a run of ~10 requests outlasts the other's start
        before = fresh.stats()["rows_sent"]
        sent = [app.send_task(RUN_MAPPING, args=(VARIANT,)) for _ in range(2)]
        results = [wait(app, s.id) for s in sent]
        fresh.set_faults()
        statuses = sorted(r["status"] for r in results)
        assert ["ran", "skipped"] == statuses
        ran = next(r for r in results if r["status"] == "ran")
        skipped = next(r for r in results if r["status"] == "skipped")
        assert skipped["started"] < ran["finished"]  # they really overlapped
        assert {ran["pid"], skipped["pid"]} == {r["pid"] for r in results}
        assert ran["pid"] != skipped["pid"]
        assert rows == fresh.stats()["rows_sent"] - before
        assert fourd.table(VARIANT) == sqlite_table(sink_path, VARIANT)

    def test_many_runs_share_one_4d_session(self, app: Any, fresh: EmulatorServer) -> None:
        """Runs in both pool processes share one 4D session and one request budget (Redis)."""
        pids = set()
        fresh.set_faults(latency_ms=30)  # each run lasts long enough for both children to start
        for _ in range(10):  # a busy machine may let one child take a round: go on until both ran
            sent = [app.send_task(RUN_MAPPING, args=(m,)) for m in (VARIANT, FAMILY)]
            pids |= {wait(app, s.id)["pid"] for s in sent}
            if len(pids) == 2:
                break
        fresh.set_faults()
        assert 2 == len(pids)
        stats = fresh.stats()
        assert 1 == stats["sessions_created"]
        assert 1 == stats["peak_in_flight"]  # the shared budget: one request at a time


class TestOrderAndRetries:
    """run_all runs parents before variants; transient errors retry, user errors do not."""

    def test_run_all_runs_families_before_variants(
        self, app: Any, fresh: EmulatorServer, fourd: Fourd, sink_path: Path
    ) -> None:
        """The chain runs Artikel_Familie first though the registry declares the variants first."""
        plan = wait(app, app.send_task(RUN_ALL).id)
        assert [FAMILY, VARIANT, "missing_table"] == plan["order"]
        family, variant = (wait(app, t) for t in plan["tasks"][:2])
        assert (FAMILY, VARIANT) == (family["mapping"], variant["mapping"])
        assert family["finished"] <= variant["started"]
        last = app.AsyncResult(plan["tasks"][2])
        with pytest.raises(Exception, match="Kein_Tisch"):
            last.get(timeout=60)
        assert fourd.table(FAMILY) == sqlite_table(sink_path, FAMILY)
        assert fourd.table(VARIANT) == sqlite_table(sink_path, VARIANT)

    def test_unknown_table_fails_without_a_retry(self, app: Any, fresh: EmulatorServer) -> None:
        """A mapping of a table 4D does not have fails at once: a user error is never retried."""
        sent = app.send_task(RUN_MAPPING, args=("missing_table",))
        with pytest.raises(Exception, match="Kein_Tisch") as info:
            sent.get(timeout=60)
        assert "UnknownTable" == type(info.value).__name__
        assert "FAILURE" == sent.state
        assert 0 == (sent.retries or 0)

    def test_server_busy_is_retried_by_celery(
        self, app: Any, fresh: EmulatorServer, fourd: Fourd, sink_path: Path
    ) -> None:
        """While 4D answers 503 the task retries later (Celery), then completes once 4D recovers."""
        fresh.set_faults(error_503_rate=1.0)
        sent = app.send_task(RUN_MAPPING, args=(FAMILY,))
        deadline = time.monotonic() + 30
        while fresh.stats()["faults"]["503"] < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        fresh.set_faults()
        result = wait(app, sent.id)
        assert "ran" == result["status"]
        assert result["retries"] >= 1
        assert fourd.table(FAMILY) == sqlite_table(sink_path, FAMILY)


class TestFencing:
    """A run whose lock expired while it was paused cannot overwrite the run that took over."""

    def test_stale_writer_is_refused_after_a_newer_run(
        self,
        app: Any,
        fresh: EmulatorServer,
        fourd: Fourd,
        sink_path: Path,
        redis_base: str,
    ) -> None:
        """A paused run (1 s lock, no renewal) loses the lock to a newer run; its commit fails."""
        r = redis.Redis.from_url(f"{redis_base}/1")
        lock = RunLock(r, VARIANT, ttl=1.0, renew_every=0)
        paused, resume = threading.Event(), threading.Event()
        first_page: list[str] = []

        def pause(events: Sequence[ChangeEvent]) -> None:
            if not paused.is_set():  # before the first batch's commit
                first_page.extend(e.key for e in events)
                paused.set()
                assert resume.wait(60)

        outcome: dict[str, Any] = {}
        stale = threading.Thread(
            target=lambda: outcome.update(
                run_locked(
                    SyncMapping(VARIANT),
                    client=make_client(fresh),
                    to=f"sqlite:{sink_path}",
                    lock=lock,
                    batch_size=200,
                    handlers=[pause],
                )
            )
        )
        stale.start()
        try:
            assert paused.wait(60)
            time.sleep(1.3)  # the paused run's lock expires
            changed = first_page[0]
            fourd.update(VARIANT, {"__KEY": changed, "Bezeichnung": "neuer als der Pausierte"})
            newer = wait(app, app.send_task(RUN_MAPPING, args=(VARIANT,)).id)
        finally:
            resume.set()
            stale.join(60)
        r.close()
        assert "ran" == newer["status"]
        assert "stale" == outcome["status"]
        assert outcome["fence"] < newer["fence"]
        assert lock.lost
        assert newer["fence"] == checkpoint_fence(sink_path, VARIANT)
        sink = sqlite_table(sink_path, VARIANT)
        assert "neuer als der Pausierte" == sink[changed]["Bezeichnung"]
        assert fourd.table(VARIANT) == sink
