"""The PostgreSQL sink (psycopg 3, the ``postgres`` extra): typed columns, a transaction a batch."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from legacy_core.errors import ConfigurationError, SinkError, StaleRun
from legacy_core.sync import Checkpoint

from ._base import (
    CHECKPOINTS,
    CLAIM_FENCE,
    EVENTS,
    PENDING,
    Batch,
    Column,
    canonical_json,
    encode_value,
    stale_run_message,
)
from ._base import (
    by_columns as _by_columns,
)

__all__ = ["PostgresSink"]

_TYPES = {
    "integer": "bigint",
    "real": "double precision",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
    "json": "jsonb",
    "text": "text",
}


_SAVE_CHECKPOINT = (
    f"INSERT INTO {CHECKPOINTS} (mapping, position, deleted_position, runs, seen) "
    "VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT (mapping) DO UPDATE SET "
    "position = excluded.position, deleted_position = excluded.deleted_position, "
    "runs = excluded.runs, seen = excluded.seen, updated_at = now()"
)


def _safe(url: str) -> str:
    """``url`` without its password (errors and logs never carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _psycopg() -> Any:
    try:
        import psycopg  # noqa: PLC0415 - optional: the postgres extra
    except ImportError:
        msg = "the PostgreSQL sink needs psycopg 3: pip install 'legacy-api[postgres]'"
        raise ConfigurationError(msg) from None
    return psycopg


class PostgresSink:
    """Keeps tables in a PostgreSQL database given by a ``postgresql://`` URL."""

    def __init__(self, url: str) -> None:
        psycopg = _psycopg()
        self.url = url
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            msg = f"cannot connect to the PostgreSQL sink {_safe(url)}: {first}"
            raise SinkError(msg) from None
        self._error = psycopg.Error
        self._kinds: dict[str, dict[str, str]] = {}

    @contextlib.contextmanager
    def _errors(self, table: str) -> Iterator[None]:
        try:
            yield
        except self._error as exc:
            first = (str(exc).splitlines() or [""])[0]
            msg = f"PostgreSQL sink {self._db.info.dbname}: table {table}: {first}"
            raise SinkError(msg, table=table) from exc

    def __repr__(self) -> str:
        # The URL may carry a password: only the database name is shown.
        return f"<PostgresSink {self._db.info.dbname}>"

    def prepare(self, table: str, key: str, columns: Sequence[Column]) -> None:
        """Create ``table`` (key as primary key), add new columns, create the bookkeeping."""
        with self._errors(table):
            cols = ", ".join(
                f"{_q(c.name)} {_TYPES[c.kind]}{' PRIMARY KEY' if c.name == key else ''}"
                for c in columns
            )
            with self._db.transaction():
                self._db.execute(f"CREATE TABLE IF NOT EXISTS {_q(table)} ({cols})")
                for c in columns:
                    self._db.execute(
                        f"ALTER TABLE {_q(table)} ADD COLUMN IF NOT EXISTS {_q(c.name)} "
                        f"{_TYPES[c.kind]}"
                    )
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (mapping text PRIMARY KEY, "
                    "position bigint, deleted_position bigint, runs integer NOT NULL, "
                    "seen jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
                )
                self._db.execute(f"ALTER TABLE {CHECKPOINTS} ADD COLUMN IF NOT EXISTS fence bigint")
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {PENDING} (mapping text NOT NULL, "
                    "key text NOT NULL, stamp bigint NOT NULL, position bigint NOT NULL, "
                    "PRIMARY KEY (mapping, key, stamp))"
                )
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {EVENTS} (id bigserial PRIMARY KEY, "
                    "mapping text NOT NULL, kind text NOT NULL, key text NOT NULL, stamp bigint, "
                    "changed jsonb NOT NULL, before jsonb, after jsonb, "
                    "created_at timestamptz NOT NULL DEFAULT now())"
                )
            self._kinds[table] = {c.name: c.kind for c in columns}

    def load_checkpoint(self, mapping: str) -> Checkpoint | None:
        """The committed checkpoint of ``mapping`` and its pending versions, or None."""
        with self._errors(mapping):
            exists = self._db.execute("SELECT to_regclass(%s)", (CHECKPOINTS,)).fetchone()[0]
            if exists is None:
                return None
            row = self._db.execute(
                f"SELECT position, deleted_position, runs, seen FROM {CHECKPOINTS} "
                "WHERE mapping = %s",
                (mapping,),
            ).fetchone()
            pending = self._db.execute(
                f"SELECT key, stamp, position FROM {PENDING} WHERE mapping = %s", (mapping,)
            ).fetchall()
            if row is None and not pending:
                return None
            position, deleted, runs, seen = row if row is not None else (None, None, 0, [])
            return Checkpoint.from_json(
                {
                    "mapping": mapping,
                    "position": position,
                    "deleted_position": deleted,
                    "runs": runs,
                    "seen": seen,
                    "pending": [list(p) for p in pending],
                }
            )

    def rows(self, table: str, key: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of ``keys`` in their stored forms (``encode_value``), by key."""
        with self._errors(table):
            if not keys:
                return {}
            cur = self._db.execute(
                f"SELECT * FROM {_q(table)} WHERE {_q(key)} = ANY(%s)", (list(keys),)
            )
            names = [d.name for d in cur.description]
            kinds = self._kinds.get(table, {})
            out: dict[str, dict[str, Any]] = {}
            for values in cur:
                row = {
                    n: canonical_json(v)
                    if kinds.get(n) == "json" and v is not None
                    else encode_value(v)
                    for n, v in zip(names, values, strict=True)
                }
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
            with db.transaction(), db.cursor() as cur:
                if batch.fence is not None:
                    claim = CLAIM_FENCE.format(p="%s", seen="'[]'::jsonb")
                    if cur.execute(claim, (mapping, batch.fence)).fetchone() is None:
                        where = f"PostgreSQL sink {db.info.dbname}"
                        raise StaleRun(stale_run_message(where, mapping, batch.fence), table=table)
                for names, rows in _by_columns(batch.upserts):
                    cols = ", ".join(_q(n) for n in names)
                    kinds = self._kinds.get(table, {})
                    marks = ", ".join(f"%s::{_TYPES[kinds.get(n, 'text')]}" for n in names)
                    update = ", ".join(f"{_q(n)} = excluded.{_q(n)}" for n in names if n != key)
                    cur.executemany(
                        f"INSERT INTO {_q(table)} ({cols}) VALUES ({marks}) "
                        f"ON CONFLICT ({_q(key)}) DO UPDATE SET {update}",
                        [[row[n] for n in names] for row in rows],
                    )
                if batch.deletes:
                    cur.execute(
                        f"DELETE FROM {_q(table)} WHERE {_q(key)} = ANY(%s)", (list(batch.deletes),)
                    )
                if batch.events:
                    cur.executemany(
                        f"INSERT INTO {EVENTS} (mapping, kind, key, stamp, changed, before, after) "
                        "VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
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
                if batch.pending:
                    cur.executemany(
                        f"INSERT INTO {PENDING} (mapping, key, stamp, position) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        [(mapping, k, s, p) for (k, s), p in batch.pending.items()],
                    )
                cp = batch.checkpoint
                if batch.finished:
                    cur.execute(f"DELETE FROM {PENDING} WHERE mapping = %s", (mapping,))
                if cp is not None and batch.finished:
                    cur.execute(
                        _SAVE_CHECKPOINT,
                        (
                            mapping,
                            cp.position,
                            cp.deleted_position,
                            cp.runs,
                            json.dumps(cp.to_json()["seen"]),
                        ),
                    )

    @contextlib.contextmanager
    def lock(self, mapping: str) -> Iterator[None]:
        """A session advisory lock per mapping; PostgreSQL drops it with the connection."""
        digest = hashlib.blake2b(f"legacy_sync:{mapping}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        with self._errors(mapping):
            got = self._db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        if not got:
            msg = (
                f"PostgreSQL sink {self._db.info.dbname}: another run of mapping {mapping} "
                "is in progress"
            )
            raise SinkError(msg)
        try:
            yield
        finally:
            with self._errors(mapping):
                self._db.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
