"""Where write-back finds local changes and parks conflicts: SQL tables in the sink, or memory.

The application records a change in ``_legacy_sync_outgoing`` (``record_change``); the
``WriteBack`` runner pushes it and marks it. A conflict the policy parks goes to
``_legacy_sync_conflicts`` with both versions (ADR 0036).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from legacy_core.errors import ConfigurationError, SinkError
from legacy_core.sync import LocalChange

from ._base import canonical_json

if TYPE_CHECKING:
    from legacy_adapters.django._changes import DjangoChanges

__all__ = [
    "CONFLICTS",
    "OUTGOING",
    "ChangeSource",
    "Conflict",
    "ConflictStore",
    "MemoryChanges",
    "SqlChanges",
    "changes_of",
]

OUTGOING = "_legacy_sync_outgoing"
CONFLICTS = "_legacy_sync_conflicts"

ChangeStatus = Literal["done", "dropped", "parked", "rejected", "unknown"]
"""``done``: 4D holds it; ``dropped``: legacy_wins kept 4D's version; ``parked``: in the
conflict table; ``rejected``: 4D refused it (not retried); ``unknown``: its request failed
after sending, so it stays to be pushed again (a stamp check then tells whether it landed)."""


class ChangeSource(Protocol):
    """Local changes waiting to be pushed, and the record of what became of each."""

    def pending(self, mapping: str) -> list[LocalChange]:
        """The changes of ``mapping`` still to push, oldest first (``unknown`` ones included)."""
        ...

    def mark(
        self,
        mapping: str,
        change: LocalChange,
        status: ChangeStatus,
        *,
        stamp: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record what became of ``change`` (``stamp``: 4D's stamp after it, when saved)."""
        ...


@attrs.frozen
class Conflict:
    """A parked conflict: the local change and 4D's version it met."""

    id: int
    mapping: str
    key: str
    local: Mapping[str, Any]
    base_stamp: int | None
    changed_at: str
    remote: Mapping[str, Any]
    remote_stamp: int | None
    status: str


class ConflictStore(Protocol):
    """Where ``manual`` (and undecidable) conflicts wait for a person."""

    def park(
        self, mapping: str, change: LocalChange, remote: Mapping[str, Any], remote_stamp: int | None
    ) -> None:
        """Keep both versions."""
        ...


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class SqlChanges:
    """The outgoing and conflict tables in a sink's database (SQLite or PostgreSQL).

    Every statement commits on its own (the sinks' connections are in autocommit); a
    ``mark`` is written only after 4D answered, so a crash before it pushes the change
    again, and the stamp check then finds it already applied.
    """

    def __init__(self, db: Any, *, dialect: Literal["sqlite", "postgres"], where: str) -> None:
        self._db = db
        self._mark = "?" if dialect == "sqlite" else "%s"
        self._where = where
        self._lock = threading.Lock()
        ident = (
            "INTEGER PRIMARY KEY AUTOINCREMENT"
            if dialect == "sqlite"
            else "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        )
        self._exec(
            f"CREATE TABLE IF NOT EXISTS {OUTGOING} (id {ident}, mapping TEXT NOT NULL, "
            "key TEXT NOT NULL, changes TEXT NOT NULL, base_stamp BIGINT, "
            "changed_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', "
            "attempts INTEGER NOT NULL DEFAULT 0, stamp BIGINT, error TEXT, "
            "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, done_at TEXT)"
        )
        self._exec(
            f"CREATE INDEX IF NOT EXISTS {OUTGOING}_todo ON {OUTGOING} (mapping, status, id)"
        )
        self._exec(
            f"CREATE TABLE IF NOT EXISTS {CONFLICTS} (id {ident}, mapping TEXT NOT NULL, "
            "key TEXT NOT NULL, local TEXT NOT NULL, base_stamp BIGINT, "
            "changed_at TEXT NOT NULL, remote TEXT NOT NULL, remote_stamp BIGINT, "
            "outgoing_id BIGINT, status TEXT NOT NULL DEFAULT 'open', resolution TEXT, "
            "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, resolved_at TEXT)"
        )

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("?", self._mark)
        try:
            with self._lock:
                cur = self._db.execute(sql, params)
                rows = cur.fetchall() if cur.description is not None else []
        except Exception as exc:
            if isinstance(exc, SinkError):
                raise
            msg = f"{self._where}: write-back tables: {type(exc).__name__}: {exc}"
            raise SinkError(msg) from exc
        return [tuple(r) for r in rows]

    def record_change(
        self,
        mapping: str,
        key: str,
        values: Mapping[str, Any],
        *,
        base_stamp: int | None,
        changed_at: dt.datetime | None = None,
    ) -> int:
        """Record a local change of ``key`` (4D field names to values) to push; its id."""
        LocalChange(key, values, base_stamp, changed_at or dt.datetime.now(dt.UTC))  # checks
        if not values:
            msg = f"a change of {mapping}[{key}] sets no field"
            raise ConfigurationError(msg)
        rows = self._exec(
            f"INSERT INTO {OUTGOING} (mapping, key, changes, base_stamp, changed_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (
                mapping,
                str(key),
                canonical_json(dict(values)),
                base_stamp,
                _iso(changed_at or dt.datetime.now(dt.UTC)),
            ),
        )
        return int(rows[0][0])

    def pending(self, mapping: str) -> list[LocalChange]:
        """The changes still to push (``pending`` and ``unknown``), oldest first."""
        rows = self._exec(
            f"SELECT id, key, changes, base_stamp, changed_at FROM {OUTGOING} "
            "WHERE mapping = ? AND status IN ('pending', 'unknown') ORDER BY id",
            (mapping,),
        )
        return [
            LocalChange(key, json.loads(values), base, _moment(at), id=int(id_))
            for id_, key, values, base, at in rows
        ]

    def mark(
        self,
        mapping: str,
        change: LocalChange,
        status: ChangeStatus,
        *,
        stamp: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome; ``unknown`` keeps the change to push (and counts the attempt)."""
        del mapping
        done = None if status == "unknown" else _iso(dt.datetime.now(dt.UTC))
        self._exec(
            f"UPDATE {OUTGOING} SET status = ?, stamp = ?, error = ?, done_at = ?, "
            "attempts = attempts + 1 WHERE id = ?",
            (status, stamp, error, done, change.id),
        )

    def outgoing(self, mapping: str) -> list[dict[str, Any]]:
        """Every recorded change of ``mapping`` with its status, oldest first."""
        rows = self._exec(
            f"SELECT id, key, changes, base_stamp, status, attempts, stamp, error "
            f"FROM {OUTGOING} WHERE mapping = ? ORDER BY id",
            (mapping,),
        )
        names = ("id", "key", "values", "base_stamp", "status", "attempts", "stamp", "error")
        out = [dict(zip(names, r, strict=True)) for r in rows]
        for row in out:
            row["values"] = json.loads(row["values"])
        return out

    def park(
        self, mapping: str, change: LocalChange, remote: Mapping[str, Any], remote_stamp: int | None
    ) -> None:
        """Keep both versions in ``_legacy_sync_conflicts``."""
        self._exec(
            f"INSERT INTO {CONFLICTS} (mapping, key, local, base_stamp, changed_at, remote, "
            "remote_stamp, outgoing_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mapping,
                change.key,
                canonical_json(dict(change.values)),
                change.base_stamp,
                _iso(change.changed_at),
                canonical_json(dict(remote)),
                remote_stamp,
                change.id,
            ),
        )

    def conflicts(self, mapping: str, *, status: str | None = "open") -> list[Conflict]:
        """The parked conflicts of ``mapping`` (``status`` None: resolved ones too)."""
        rows = self._exec(
            f"SELECT id, mapping, key, local, base_stamp, changed_at, remote, remote_stamp, "
            f"status FROM {CONFLICTS} WHERE mapping = ? ORDER BY id",
            (mapping,),
        )
        found = [
            Conflict(
                int(r[0]), r[1], r[2], json.loads(r[3]), r[4], r[5], json.loads(r[6]), r[7], r[8]
            )
            for r in rows
        ]
        return [c for c in found if status is None or c.status == status]

    def resolve(
        self,
        conflict_id: int,
        keep: Literal["local", "legacy"],
        *,
        values: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Close a conflict; the id of the new change it records, if any.

        ``legacy`` keeps 4D's version; ``local`` (with ``values``: those instead) records a
        new change on 4D's current stamp, which the next write-back pushes.
        """
        rows = self._exec(
            f"SELECT mapping, key, local, remote_stamp, status FROM {CONFLICTS} WHERE id = ?",
            (conflict_id,),
        )
        if not rows or rows[0][4] != "open":
            msg = f"no open conflict {conflict_id} in {CONFLICTS}"
            raise ConfigurationError(msg)
        mapping, key, local, remote_stamp, _status = rows[0]
        new_id = None
        if keep == "local":
            new_id = self.record_change(
                mapping, key, values or json.loads(local), base_stamp=remote_stamp
            )
        self._exec(
            f"UPDATE {CONFLICTS} SET status = 'resolved', resolution = ?, "
            "resolved_at = CURRENT_TIMESTAMP WHERE id = ?",
            (keep, conflict_id),
        )
        return new_id


@attrs.define
class MemoryChanges:
    """A source of changes given as an iterable; outcomes and parked conflicts kept in memory."""

    changes: list[LocalChange] = attrs.field(converter=list)
    status: dict[int, tuple[ChangeStatus, int | None, str | None]] = attrs.field(factory=dict)
    parked: list[tuple[LocalChange, dict[str, Any], int | None]] = attrs.field(factory=list)

    def __init__(self, changes: Iterable[LocalChange]) -> None:
        self.__attrs_init__(list(changes))  # type: ignore[attr-defined]

    def pending(self, mapping: str) -> list[LocalChange]:
        """The changes without an outcome yet, or whose outcome is ``unknown``."""
        del mapping
        return [
            c
            for i, c in enumerate(self.changes)
            if i not in self.status or self.status[i][0] == "unknown"
        ]

    def mark(
        self,
        mapping: str,
        change: LocalChange,
        status: ChangeStatus,
        *,
        stamp: int | None = None,
        error: str | None = None,
    ) -> None:
        """Keep the outcome of ``change``."""
        del mapping
        index = next(i for i, c in enumerate(self.changes) if c is change)
        self.status[index] = (status, stamp, error)

    def park(
        self, mapping: str, change: LocalChange, remote: Mapping[str, Any], remote_stamp: int | None
    ) -> None:
        """Keep both versions."""
        del mapping
        self.parked.append((change, dict(remote), remote_stamp))


def changes_of(sink: object) -> SqlChanges | DjangoChanges:
    """The outgoing and conflict tables in ``sink``'s database.

    A SqliteSink or PostgresSink: its ``_legacy_sync_*`` tables; a DjangoSink: the
    ``SyncOutgoing`` and ``SyncConflict`` models on the sink's database.
    """
    from ._postgres import PostgresSink  # noqa: PLC0415
    from ._sqlite import SqliteSink  # noqa: PLC0415

    django_sink = sys.modules.get("legacy_adapters.django._sink")  # never imports Django
    if django_sink is not None and isinstance(sink, django_sink.DjangoSink):
        from legacy_adapters.django._changes import DjangoChanges  # noqa: PLC0415

        return DjangoChanges(sink.using)

    if isinstance(sink, SqliteSink):
        return SqlChanges(sink._db, dialect="sqlite", where=f"SQLite sink {sink.path}")
    if isinstance(sink, PostgresSink):
        return SqlChanges(sink._db, dialect="postgres", where=repr(sink))
    msg = f"{type(sink).__name__} has no outgoing-changes table: pass a ChangeSource"
    raise ConfigurationError(msg)
