"""Row storage: lazily generated blocks of pre-encoded rows, key lookup and column caches.

Plain paging splices pre-encoded bytes (O(page)); filters and sorting use per-attribute
column caches built in one decoding pass and kept current on every write.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from fourd_emulator._schema import TABLES, GenContext, TableSpec, build_context, mix
from fourd_emulator._values import date_ordinal, iso_ms

__all__ = ["BLOCK", "ColumnKey", "Database", "Table", "assemble"]

BLOCK = 1024
ColumnKey = tuple[str, str]
"""(attribute, kind) where kind is ``raw``, ``fold`` (casefolded text) or ``date`` (ordinal)."""


def assemble(
    spec: TableSpec, key: str, timestamp: str, stamp: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Build a wire record in catalog order: ``__KEY``, ``__TIMESTAMP``, ``__STAMP``, attributes."""
    row: dict[str, Any] = {"__KEY": key, "__TIMESTAMP": timestamp, "__STAMP": stamp}
    for a in spec.attributes:
        if a.kind == "storage":
            row[a.name] = values.get(a.name)
        elif a.kind == "relatedEntity":
            fk = values.get(a.fk) if a.fk else None
            row[a.name] = (
                None
                if fk is None or fk == ""
                else {"__deferred": {"uri": f"/rest/{a.target}[{fk}]", "__KEY": str(fk)}}
            )
        else:
            row[a.name] = {
                "__deferred": {"uri": f"/rest/{spec.name}[{key}]/{a.name}?$expand={a.name}"}
            }
    return row


def convert(kind: str, value: Any) -> Any:
    """Convert a stored value to the form a column of ``kind`` keeps."""
    if kind == "fold":
        return value.casefold() if isinstance(value, str) else value
    if kind == "date":
        try:
            return date_ordinal(value)
        except ValueError:
            return None
    return value


class Table:
    """One seeded dataclass with its writes."""

    def __init__(self, spec: TableSpec, ctx: GenContext, table_id: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.ctx = ctx
        self.codec = ctx.codecs[spec.name]
        self.n_seed = ctx.sizes[spec.name]
        self._table_id = table_id
        self._blocks: dict[int, list[bytes]] = {}
        self._extra: list[bytes] = []
        self._columns: dict[ColumnKey, list[Any]] = {}
        self.lock = threading.RLock()
        self.attributes = spec.by_name
        self.dirty = False
        """True once a write changed the table (a reset then regenerates it)."""

    def count(self) -> int:
        """Return the number of entities."""
        return self.n_seed + len(self._extra)

    def _block(self, b: int) -> list[bytes]:
        blk = self._blocks.get(b)
        if blk is None:
            with self.lock:
                blk = self._blocks.get(b)
                if blk is None:
                    blk = self._generate(b)
                    self._blocks[b] = blk
        return blk

    def _generate(self, b: int) -> list[bytes]:
        rng = random.Random(mix(self.ctx.seed, self._table_id, b))  # noqa: S311 - seeded data
        start, stop = b * BLOCK, min((b + 1) * BLOCK, self.n_seed)
        out: list[bytes] = []
        for i in range(start, stop):
            values = self.spec.generate(self.ctx, i, rng)
            ts = iso_ms(values.pop("__TIMESTAMP"))
            stamp = values.pop("__STAMP")
            out.append(orjson.dumps(assemble(self.spec, self.codec.key(i), ts, stamp, values)))
        return out

    def row_bytes(self, i: int) -> bytes:
        """Return the encoded row ``i``."""
        if i < self.n_seed:
            return self._block(i // BLOCK)[i % BLOCK]
        return self._extra[i - self.n_seed]

    def slice_bytes(self, start: int, stop: int) -> list[bytes]:
        """Return encoded rows ``start:stop`` in natural order, block by block."""
        stop = min(stop, self.count())
        out: list[bytes] = []
        i = start
        while i < stop and i < self.n_seed:
            b = i // BLOCK
            end = min(stop, (b + 1) * BLOCK, self.n_seed)
            out.extend(self._block(b)[i - b * BLOCK : end - b * BLOCK])
            i = end
        if i < stop:
            out.extend(self._extra[i - self.n_seed : stop - self.n_seed])
        return out

    def rows_bytes(self, indexes: Iterable[int]) -> list[bytes]:
        """Return encoded rows in the order given."""
        return [self.row_bytes(i) for i in indexes]

    def index_of(self, key: str) -> int | None:
        """Row index of ``key``, or None."""
        i = self.codec.index(key)
        if i is None or not 0 <= i < self.count():
            return None
        return i

    def record(self, i: int) -> dict[str, Any]:
        """Row ``i`` decoded."""
        rec: dict[str, Any] = orjson.loads(self.row_bytes(i))
        return rec

    def columns(self, wanted: Sequence[ColumnKey]) -> dict[ColumnKey, list[Any]]:
        """Column caches for ``wanted``, building the missing ones in one decoding pass."""
        missing = [w for w in dict.fromkeys(wanted) if w not in self._columns]
        if missing:
            with self.lock:
                missing = [w for w in missing if w not in self._columns]
                if missing:
                    built: list[list[Any]] = [[] for _ in missing]
                    n = self.count()
                    for start in range(0, n, BLOCK):
                        for raw in self.slice_bytes(start, min(start + BLOCK, n)):
                            rec = orjson.loads(raw)
                            for col, (name, kind) in zip(built, missing, strict=True):
                                col.append(convert(kind, rec.get(name)))
                    for w, col in zip(missing, built, strict=True):
                        self._columns[w] = col
        return {w: self._columns[w] for w in wanted}

    def put(self, i: int, data: bytes) -> None:
        """Replace row ``i`` (caller holds ``lock``)."""
        self.dirty = True
        if i < self.n_seed:
            self._block(i // BLOCK)[i % BLOCK] = data
        else:
            self._extra[i - self.n_seed] = data
        if self._columns:
            rec = orjson.loads(data)
            for (name, kind), col in self._columns.items():
                col[i] = convert(kind, rec.get(name))

    def append(self, data: bytes) -> int:
        """Add a created row (caller holds ``lock``); return its index."""
        self.dirty = True
        self._extra.append(data)
        if self._columns:
            rec = orjson.loads(data)
            for (name, kind), col in self._columns.items():
                col.append(convert(kind, rec.get(name)))
        return self.count() - 1

    def truncate(self, count: int) -> None:
        """Drop created rows beyond ``count`` (rollback of an atomic batch)."""
        keep = max(count - self.n_seed, 0)
        del self._extra[keep:]
        for col in self._columns.values():
            del col[count:]

    def materialized_rows(self) -> int:
        """How many rows are currently held encoded in memory."""
        return sum(len(b) for b in self._blocks.values()) + len(self._extra)


class Database:
    """All seeded tables of one emulator."""

    def __init__(self, seed: int, rows: int) -> None:
        self.seed = seed
        self.rows = rows
        self.ctx = build_context(seed, rows)
        self.tables: dict[str, Table] = {
            spec.name: Table(spec, self.ctx, n) for n, spec in enumerate(TABLES, start=1)
        }

    def restore(self) -> None:
        """Back to the seeded data; tables nobody wrote to keep their generated rows."""
        for n, spec in enumerate(TABLES, start=1):
            if self.tables[spec.name].dirty:
                self.tables[spec.name] = Table(spec, self.ctx, n)
