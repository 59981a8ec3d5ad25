"""Fencing tokens: sinks refuse an older token's batch; the Redis run lock hands out rising ones."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from legacy_adapters.sync import SqliteSink, SyncRunner
from legacy_adapters.testing import RedisServerError, private_redis_server
from legacy_core.errors import SinkError, StaleRun
from legacy_core.service import LegacyClient
from legacy_core.sync import SyncMapping

from .conftest import Fourd
from .test_sqlite_sync import sqlite_table

pytestmark = pytest.mark.integration

TABLE = "Artikel_Familie"


def fenced_run(client: LegacyClient, path: Path, fence: int | None, **kw: Any) -> Any:
    """One run into the SQLite file at ``path`` carrying ``fence``."""
    sink = SqliteSink(path)
    try:
        return SyncRunner(client, SyncMapping(TABLE), sink, fence=fence, **kw).run()
    finally:
        sink.close()


def stored(path: Path) -> tuple[int | None, int | None, int]:
    """The checkpoint row's (fence, position, runs), read straight from the file."""
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT fence, position, runs FROM _legacy_sync_checkpoints WHERE mapping = ?",
            (TABLE,),
        ).fetchone()
        return (row[0], row[1], row[2]) if row else (None, None, 0)
    finally:
        db.close()


class TestSqliteFence:
    """The SQLite sink stores the newest token with the checkpoint and refuses older ones."""

    def test_older_token_is_refused_and_changes_nothing(
        self, client: LegacyClient, fourd: Fourd, tmp_path: Path
    ) -> None:
        """After token 5 committed, a run with token 4 raises StaleRun and changes nothing."""
        path = tmp_path / "s.db"
        fenced_run(client, path, 5)
        assert 5 == stored(path)[0]
        before_rows, before_cp = sqlite_table(path, TABLE), stored(path)
        key = sorted(before_rows)[0]
        fourd.update(TABLE, {"__KEY": key, "Bezeichnung": "vom alten Lauf"})
        with pytest.raises(StaleRun, match="fencing token 4 is older") as info:
            fenced_run(client, path, 4)
        assert isinstance(info.value, SinkError)
        assert before_rows == sqlite_table(path, TABLE)
        assert before_cp == stored(path)
        fenced_run(client, path, 6)
        assert 6 == stored(path)[0]
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)

    def test_equal_token_commits_every_batch_of_its_run(
        self, client: LegacyClient, fourd: Fourd, tmp_path: Path
    ) -> None:
        """One run's many batches all carry its token: equal tokens are accepted."""
        path = tmp_path / "s.db"
        summary = fenced_run(client, path, 3, batch_size=25)
        assert summary.rows_read > 25  # more than one batch really committed
        assert (3, summary.position, 1) == stored(path)
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)

    def test_sink_made_before_fences_gains_the_column(
        self, client: LegacyClient, fourd: Fourd, tmp_path: Path
    ) -> None:
        """A checkpoint table without the fence column (an older sink) gets it on the next run."""
        path = tmp_path / "s.db"
        db = sqlite3.connect(path)
        db.execute(
            "CREATE TABLE _legacy_sync_checkpoints (mapping TEXT PRIMARY KEY, position INTEGER, "
            "deleted_position INTEGER, runs INTEGER NOT NULL, seen TEXT NOT NULL, "
            "updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        db.close()
        fenced_run(client, path, 9)
        assert 9 == stored(path)[0]
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    """A redis-py client of a private redis-server, flushed per module."""
    redis = pytest.importorskip("redis")
    try:
        with private_redis_server() as url:
            r = redis.Redis.from_url(url)
            r.flushdb()
            yield r
            r.close()
    except RedisServerError as exc:
        pytest.skip(str(exc))


class TestRunLock:
    """The Redis run lock: one holder at a time, a larger token per holding, renewal, expiry."""

    def lock(self, r: Any, mapping: str, **kw: Any) -> Any:
        """A RunLock of ``mapping`` (imported here: it needs redis)."""
        from legacy_adapters.sync._lock import RunLock  # noqa: PLC0415 - needs redis

        return RunLock(r, mapping, **kw)

    def test_second_holder_is_refused_then_gets_a_larger_token(self, redis_client: Any) -> None:
        """A held lock refuses others; after release one gets it, with a larger token."""
        a, b = self.lock(redis_client, "m1"), self.lock(redis_client, "m1")
        assert a.acquire()
        assert not b.acquire()
        assert b.fence is None
        assert a.fence == b.holder_fence()
        a.release()
        assert b.acquire()
        assert b.fence is not None
        assert a.fence is not None
        assert b.fence > a.fence
        b.release()
        assert not a.lost
        assert not b.lost

    def test_bounded_wait_takes_the_lock_when_it_is_released(self, redis_client: Any) -> None:
        """A waiter with ``wait`` gets the lock once the holder releases it within that time."""
        import threading  # noqa: PLC0415 - local to this test

        a, b = self.lock(redis_client, "m2"), self.lock(redis_client, "m2", wait=5.0)
        assert a.acquire()
        timer = threading.Timer(0.3, a.release)
        timer.start()
        started = time.monotonic()
        assert b.acquire()
        assert 0.2 < time.monotonic() - started < 5.0
        timer.join()
        b.release()

    def test_renewal_keeps_the_lock_past_its_ttl(self, redis_client: Any) -> None:
        """A renewed lock outlives its 0.6 s TTL; an unrenewed one expires and is marked lost."""
        kept = self.lock(redis_client, "m3", ttl=0.6, renew_every=0.1)
        lapsed = self.lock(redis_client, "m4", ttl=0.6, renew_every=0)
        assert kept.acquire()
        assert lapsed.acquire()
        time.sleep(1.2)
        assert not self.lock(redis_client, "m3").acquire()
        other = self.lock(redis_client, "m4")
        assert other.acquire()
        assert other.fence > lapsed.fence
        kept.release()
        lapsed.release()  # expired and taken: nothing to release
        other.release()
        assert not kept.lost
        assert lapsed.lost

    def test_lock_without_a_ttl_is_refused(self, redis_client: Any) -> None:
        """A fenced lock must expire: a holder that dies may not block the mapping for ever."""
        from legacy_adapters.sync._lock import FencedLock  # noqa: PLC0415 - needs redis

        lock = FencedLock(redis_client, "x:lock", "x:fence", timeout=None)
        with pytest.raises(ValueError, match="needs a timeout"):
            lock.acquire(blocking=False)
