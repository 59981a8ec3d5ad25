"""What every sink shares: the column model, the stored form of values, the batch, the port."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs

from legacy_core.sync import ChangeEvent, Checkpoint, Version

__all__ = [
    "Batch",
    "Column",
    "Sink",
    "by_columns",
    "canonical_json",
    "encode_value",
    "storage_class",
    "stored_form",
]

CHECKPOINTS = "_legacy_sync_checkpoints"
PENDING = "_legacy_sync_pending"
EVENTS = "_legacy_sync_events"

# Claims the fencing token in the batch's transaction: no row comes back when a newer
# token is stored (the upsert's WHERE is false), and the caller rolls back (ADR 0035).
# Our constant table name; the values are bound parameters.
CLAIM_FENCE = (
    f"INSERT INTO {CHECKPOINTS} AS c (mapping, runs, seen, fence) VALUES ({{p}}, 0, "  # noqa: S608
    "{seen}, {p}) ON CONFLICT (mapping) DO UPDATE SET fence = excluded.fence "
    "WHERE c.fence IS NULL OR c.fence <= excluded.fence RETURNING fence"
)


def stale_run_message(sink: str, mapping: str, fence: int) -> str:
    """The StaleRun text: which sink refused which mapping's token."""
    return (
        f"{sink}: mapping {mapping}: fencing token {fence} is older than the newest "
        "this sink has seen; a newer run took over (its lock expired); batch rolled back"
    )


_INTEGER = frozenset({"long", "long64", "word", "byte", "integer", "int", "int64"})
_REAL = frozenset({"number", "real", "float", "double"})


def storage_class(fourd_type: str) -> str:  # noqa: PLR0911 - one answer per class
    """The kind of column a 4D type becomes: integer, real, bool, date, timestamp, json, text."""
    if fourd_type in _INTEGER:
        return "integer"
    if fourd_type in _REAL:
        return "real"
    if fourd_type in {"bool", "boolean"}:
        return "bool"
    if fourd_type == "date":
        return "date"
    if fourd_type == "timestamp":
        return "timestamp"
    if fourd_type in {"object", "blob", "picture", "image"}:
        return "json"
    return "text"


def encode_value(value: Any) -> bool | int | float | str | None:
    """The stored form of a decoded 4D value, the same in every sink.

    Dates, times and timestamps as ISO text (timestamps in UTC), nested objects and lists
    as canonical JSON text (sorted keys), everything else as it is.
    """
    if value is None:
        return None
    if isinstance(value, bool | int | float | str):
        plain: bool | int | float | str = value
        return plain
    if isinstance(value, dt.datetime):
        moment = value.astimezone(dt.UTC) if value.tzinfo is not None else value
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(int(value.total_seconds() * 1000))
    text: str = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return text


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys and no spaces: one text per value, in every sink."""
    text: str = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return text


def stored_form(kind: str, value: Any) -> bool | int | float | str | None:  # noqa: PLR0911
    """What a column of ``kind`` gives back for ``value``: what sinks write and compare.

    ``encode_value``, then the conversion the column applies (SQLite's affinity, the
    PostgreSQL cast), so that a transformed value compares equal once it is stored;
    ``json`` columns hold canonical JSON text of the value.
    """
    if value is None:
        return None
    if kind == "json":
        return canonical_json(value)
    plain = encode_value(value)
    try:
        if kind == "integer" and not isinstance(plain, bool):
            number = float(plain)  # type: ignore[arg-type]
            return int(number) if number.is_integer() else number
        if kind == "real" and not isinstance(plain, bool):
            return float(plain)  # type: ignore[arg-type]
    except ValueError:
        return plain  # a text the column keeps as text (SQLite) or refuses (PostgreSQL)
    if kind == "bool":
        return bool(plain)
    if kind in {"text", "date", "timestamp"} and not isinstance(plain, str):
        return str(plain)
    return plain


def by_columns(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[tuple[str, ...], list[Mapping[str, Any]]]]:
    """``rows`` grouped by their column names (in order), for one statement per group."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.items())


@attrs.frozen
class Column:
    """One column of a synced table: its name and storage class (``storage_class``)."""

    name: str
    kind: str = "text"


@attrs.frozen
class Batch:
    """What one transaction of a sink writes: rows, deletes, events and the checkpoint.

    ``upserts`` hold stored forms (``stored_form``), the values the sink's ``rows`` answers.

    ``pending`` are the versions this batch applied (kept until the run finishes);
    ``finished`` True clears them: the checkpoint then holds the run's final position.
    """

    upserts: Sequence[Mapping[str, Any]] = ()
    deletes: Sequence[str] = ()
    events: Sequence[ChangeEvent] = ()
    checkpoint: Checkpoint | None = None
    pending: Mapping[Version, int] = attrs.field(factory=dict)
    finished: bool = False
    fence: int | None = None
    """The run's fencing token (ADR 0035): the sink refuses the batch (StaleRun) when it
    has seen a newer one for the mapping, and stores it beside the checkpoint otherwise."""


class Sink(Protocol):
    """Where a mapping's rows go. Every ``commit`` is one transaction (all of it or nothing)."""

    def prepare(self, table: str, key: str, columns: Sequence[Column]) -> None:
        """Create ``table`` (``key`` its primary key) and the bookkeeping tables if missing."""
        ...

    def load_checkpoint(self, mapping: str) -> Checkpoint | None:
        """The last committed checkpoint of ``mapping`` (with its pending versions), or None."""
        ...

    def rows(self, table: str, key: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of ``keys`` (stored forms, as ``encode_value`` gives them)."""
        ...

    def keys(self, table: str, key: str) -> set[str]:
        """Every key of ``table``."""
        ...

    def count(self, table: str) -> int:
        """The number of rows of ``table``."""
        ...

    def commit(self, table: str, key: str, mapping: str, batch: Batch) -> None:
        """Apply ``batch`` in one transaction: upserts, deletes, outbox events, checkpoint."""
        ...

    def lock(self, mapping: str) -> AbstractContextManager[None]:
        """Hold ``mapping``'s run lock for the ``with`` block; SinkError when another holds it.

        The lock dies with its process (a crashed run never blocks the next one).
        """
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
