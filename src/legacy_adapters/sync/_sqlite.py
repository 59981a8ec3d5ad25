"""The SQLite sink (stdlib ``sqlite3``): one table per 4D table, the checkpoint beside it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from legacy_core.errors import SinkError, StaleRun
from legacy_core.sync import Checkpoint

from ._base import (
    CHECKPOINTS,
    CLAIM_FENCE,
    EVENTS,
    PENDING,
    Batch,
    Column,
    encode_value,
    stale_run_message,
)
from ._base import by_columns as _by_columns

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no run lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["SqliteSink"]

_TYPES = {
    "integer": "INTEGER",
    "real": "REAL",
    "bool": "INTEGER",
    "date": "TEXT",
    "timestamp": "TEXT",
    "json": "TEXT",
    "text": "TEXT",
}


_SAVE_CHECKPOINT = (
    f"INSERT INTO {CHECKPOINTS} (mapping, position, deleted_position, runs, seen) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (mapping) DO UPDATE SET "
    "position = excluded.position, deleted_position = excluded.deleted_position, "
    "runs = excluded.runs, seen = excluded.seen, updated_at = CURRENT_TIMESTAMP"
)


def _q(name: str) -> str:
    # Names are 4D identifiers (validated by the mapping): letters, digits, underscores.
    return '"' + name.replace('"', '""') + '"'


class SqliteSink:
    """Keeps tables in a SQLite file; every commit is one transaction (WAL journal)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            msg = f"cannot open the SQLite sink {self.path}: {exc}"
            raise SinkError(msg) from exc
        self._bools: dict[str, set[str]] = {}

    @contextlib.contextmanager
    def _errors(self, table: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            msg = f"SQLite sink {self.path}: table {table}: {type(exc).__name__}: {exc}"
            raise SinkError(msg, table=table) from exc

    def __repr__(self) -> str:
        return f"<SqliteSink {self.path}>"

    def prepare(self, table: str, key: str, columns: Sequence[Column]) -> None:
        """Create ``table`` (key as primary key), add new columns, create the bookkeeping."""
        with self._errors(table):
            db = self._db
            cols = ", ".join(
                f"{_q(c.name)} {_TYPES[c.kind]}{' PRIMARY KEY NOT NULL' if c.name == key else ''}"
                for c in columns
            )
            db.execute(f"CREATE TABLE IF NOT EXISTS {_q(table)} ({cols})")
            have = {r[1] for r in db.execute(f"PRAGMA table_info({_q(table)})")}
            for c in columns:
                if c.name not in have:
                    db.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c.name)} {_TYPES[c.kind]}")
            self._bools[table] = {c.name for c in columns if c.kind == "bool"}
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (mapping TEXT PRIMARY KEY, "
                "position INTEGER, deleted_position INTEGER, runs INTEGER NOT NULL, "
                "seen TEXT NOT NULL, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
            if "fence" not in {r[1] for r in db.execute(f"PRAGMA table_info({CHECKPOINTS})")}:
                db.execute(f"ALTER TABLE {CHECKPOINTS} ADD COLUMN fence INTEGER")
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {PENDING} (mapping TEXT NOT NULL, key TEXT NOT NULL, "
                "stamp INTEGER NOT NULL, position INTEGER NOT NULL, "
                "PRIMARY KEY (mapping, key, stamp))"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {EVENTS} (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "mapping TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, stamp INTEGER, "
                "changed TEXT NOT NULL, before TEXT, after TEXT, "
                "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )

    def load_checkpoint(self, mapping: str) -> Checkpoint | None:
        """The committed checkpoint of ``mapping`` and its pending versions, or None."""
        try:
            row = self._db.execute(
                f"SELECT position, deleted_position, runs, seen FROM {CHECKPOINTS} "
                "WHERE mapping = ?",
                (mapping,),
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # no bookkeeping table yet: never synced
        pending = self._db.execute(
            f"SELECT key, stamp, position FROM {PENDING} WHERE mapping = ?", (mapping,)
        ).fetchall()
        if row is None and not pending:
            return None
        position, deleted, runs, seen = row if row is not None else (None, None, 0, "[]")
        return Checkpoint.from_json(
            {
                "mapping": mapping,
                "position": position,
                "deleted_position": deleted,
                "runs": runs,
                "seen": json.loads(seen),
                "pending": [list(p) for p in pending],
            }
        )

    def rows(self, table: str, key: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of ``keys``, by key."""
        with self._errors(table):
            out: dict[str, dict[str, Any]] = {}
            bools = self._bools.get(table, set())
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                cur = self._db.execute(
                    f"SELECT * FROM {_q(table)} WHERE {_q(key)} IN ({marks})", chunk
                )
                names = [d[0] for d in cur.description]
                for values in cur:
                    row = dict(zip(names, values, strict=True))
                    for b in bools & row.keys():
                        row[b] = None if row[b] is None else bool(row[b])
                    out[str(row[key])] = row
            return out

    def keys(self, table: str, key: str) -> set[str]:
        """Every key of ``table``."""
        with self._errors(table):
            return {str(r[0]) for r in self._db.execute(f"SELECT {_q(key)} FROM {_q(table)}")}

    def count(self, table: str) -> int:
        """Rows of ``table``."""
        with self._errors(table):
            return int(self._db.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()[0])

    def commit(self, table: str, key: str, mapping: str, batch: Batch) -> None:
        """Write ``batch`` in one transaction (rolled back whole on any error)."""
        with self._errors(table):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if batch.fence is not None:
                    self._claim_fence(table, mapping, batch.fence)
                for names, rows in _by_columns(batch.upserts):
                    cols = ", ".join(_q(n) for n in names)
                    marks = ", ".join("?" * len(names))
                    update = ", ".join(f"{_q(n)} = excluded.{_q(n)}" for n in names if n != key)
                    db.executemany(
                        f"INSERT INTO {_q(table)} ({cols}) VALUES ({marks}) "
                        f"ON CONFLICT ({_q(key)}) DO UPDATE SET {update}",
                        [[encode_value(row[n]) for n in names] for row in rows],
                    )
                db.executemany(
                    f"DELETE FROM {_q(table)} WHERE {_q(key)} = ?", [(k,) for k in batch.deletes]
                )
                db.executemany(
                    f"INSERT INTO {EVENTS} (mapping, kind, key, stamp, changed, before, after) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.mapping,
                            e.kind,
                            e.key,
                            e.stamp,
                            json.dumps(list(e.changed)),
                            None if e.before is None else json.dumps(e.before, default=str),
                            None if e.after is None else json.dumps(e.after, default=str),
                        )
                        for e in batch.events
                    ],
                )
                db.executemany(
                    f"INSERT OR REPLACE INTO {PENDING} (mapping, key, stamp, position) "
                    "VALUES (?, ?, ?, ?)",
                    [(mapping, k, s, p) for (k, s), p in batch.pending.items()],
                )
                if batch.finished:
                    db.execute(f"DELETE FROM {PENDING} WHERE mapping = ?", (mapping,))
                cp = batch.checkpoint
                if cp is not None and batch.finished:
                    db.execute(
                        _SAVE_CHECKPOINT,
                        (
                            mapping,
                            cp.position,
                            cp.deleted_position,
                            cp.runs,
                            json.dumps(cp.to_json()["seen"]),
                        ),
                    )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _claim_fence(self, table: str, mapping: str, fence: int) -> None:
        """Store ``fence`` with the checkpoint, or StaleRun when a newer one is stored."""
        claim = CLAIM_FENCE.format(p="?", seen="'[]'")
        if self._db.execute(claim, (mapping, fence)).fetchone() is None:
            msg = stale_run_message(f"SQLite sink {self.path}", mapping, fence)
            raise StaleRun(msg, table=table)

    @contextlib.contextmanager
    def lock(self, mapping: str) -> Iterator[None]:
        """An exclusive ``flock`` on ``PATH.lock`` per mapping; the OS drops it with the process."""
        if fcntl is None or self.path == ":memory:":  # pragma: no cover - not POSIX
            yield
            return
        name = f"{self.path}.{hashlib.blake2b(mapping.encode(), digest_size=6).hexdigest()}.lock"
        try:
            handle = open(name, "a+b")  # noqa: SIM115 - held for the block
        except OSError as exc:
            msg = f"SQLite sink {self.path}: cannot create the lock file {name}: {exc}"
            raise SinkError(msg) from exc
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                msg = f"SQLite sink {self.path}: another run of mapping {mapping} is in progress"
                raise SinkError(msg) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
