"""Row storage: lazily generated blocks of pre-encoded rows, key lookup and column caches.

Plain paging splices pre-encoded bytes (O(page)); filters and sorting use per-attribute
column caches built in one decoding pass and kept current on every write.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import orjson

from fourd_emulator._schema import TABLES, AttributeSpec, GenContext, TableSpec, build_context, mix
from fourd_emulator._values import KeyCodec, date_ordinal, iso_ms

__all__ = [
    "BLOCK",
    "DELETED_RECORDS",
    "GLOBAL_STAMP",
    "ColumnKey",
    "Database",
    "Table",
    "assemble",
    "compact",
]

BLOCK = 1024
GLOBAL_STAMP = "__GlobalStamp"
"""The attribute 4D's replication sets from the server-wide stamp on every create/update."""
DELETED_RECORDS = "__DeletedRecords"
"""The table 4D's mobile sync reads deletions from (one row per deleted entity)."""
ColumnKey = tuple[str, str]
"""(attribute, kind) where kind is ``raw``, ``fold`` (casefolded text) or ``date`` (ordinal)."""


def assemble(
    spec: TableSpec, key: str, timestamp: str, stamp: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Build a wire record in catalog order: ``__KEY``, ``__TIMESTAMP``, ``__STAMP``, attributes."""
    row: dict[str, Any] = {"__KEY": key, "__TIMESTAMP": timestamp, "__STAMP": stamp}
    get = values.get
    for name, kind, target, fk_name in _plan(spec):
        if kind == 0:
            row[name] = get(name)
        elif kind == 1:
            fk = get(fk_name) if fk_name else None
            row[name] = (
                None
                if fk is None or fk == ""
                else {"__deferred": {"uri": f"/rest/{target}[{fk}]", "__KEY": str(fk)}}
            )
        else:
            row[name] = {"__deferred": {"uri": f"/rest/{spec.name}[{key}]/{name}?$expand={name}"}}
    return row


_Plan = tuple[tuple[str, int, str | None, str | None], ...]
_PLANS: dict[int, tuple[TableSpec, _Plan]] = {}


def _plan(spec: TableSpec) -> _Plan:
    # Flattened attributes, because assemble() runs for every generated row. The entry
    # keeps its spec alive so that no other spec can ever reuse the id.
    entry = _PLANS.get(id(spec))
    if entry is None or entry[0] is not spec:
        kinds = {"storage": 0, "relatedEntity": 1}
        plan = tuple((a.name, kinds.get(a.kind, 2), a.target, a.fk) for a in spec.attributes)
        entry = _PLANS[id(spec)] = (spec, plan)
    return entry[1]


def compact(data: bytes) -> bytes:
    """Copy ``data`` into an exactly sized object.

    orjson returns bytes backed by its whole (about 16 KiB) output buffer; kept for a
    million rows that would be 16 GiB instead of 2.
    """
    return bytes(memoryview(data))


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

    def __init__(
        self,
        spec: TableSpec,
        ctx: GenContext,
        table_id: int,
        rows: Sequence[bytes] | None = None,
        keys: Sequence[str] = (),
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.ctx = ctx
        self.codec = ctx.codecs.get(spec.name) or KeyCodec(ctx.seed, spec.name)
        self.n_seed = 0 if rows is not None else ctx.sizes[spec.name]
        # Tables loaded with add_table have arbitrary keys: look them up in a dict.
        self._keys: dict[str, int] | None = (
            None if rows is None else {k: i for i, k in enumerate(keys)}
        )
        self._table_id = table_id
        self._blocks: dict[int, list[bytes]] = {}
        self._extra: list[bytes] = list(rows or [])
        self._columns: dict[ColumnKey, list[Any]] = {}
        self.lock = threading.RLock()
        self.attributes = spec.by_name
        self.dirty = False
        """True once a write changed the table (a reset then regenerates it)."""
        self.tracked = GLOBAL_STAMP in self.attributes
        """True when the rows carry ``__GlobalStamp`` (set by every create and update)."""
        self.deleted: set[int] = set()
        """Row indexes of deleted entities: kept in place, so that positions (entity sets,
        column caches) stay valid, and skipped by every read."""

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
            if self.tracked:
                values[GLOBAL_STAMP] = 0  # seeded before the stamp existed
            ts = iso_ms(values.pop("__TIMESTAMP"))
            stamp = values.pop("__STAMP")
            out.append(
                compact(orjson.dumps(assemble(self.spec, self.codec.key(i), ts, stamp, values)))
            )
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
        """Row index of ``key``, or None (also for a deleted entity)."""
        i = self.codec.index(key) if self._keys is None else self._keys.get(key)
        if i is None or not 0 <= i < self.count() or i in self.deleted:
            return None
        return i

    def live(self, indexes: list[int] | None) -> list[int] | None:
        """``indexes`` without deleted rows (None, all rows, stays None if nothing is deleted)."""
        if not self.deleted:
            return indexes
        if indexes is None:
            indexes = list(range(self.count()))
        return [i for i in indexes if i not in self.deleted]

    def delete(self, i: int) -> None:
        """Delete row ``i`` (caller holds ``lock``); its key is never given out again."""
        self.dirty = True
        self.deleted.add(i)

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
        data = compact(data)
        if i < self.n_seed:
            self._block(i // BLOCK)[i % BLOCK] = data
        else:
            self._extra[i - self.n_seed] = data
        if self._columns:
            rec = orjson.loads(data)
            for (name, kind), col in self._columns.items():
                col[i] = convert(kind, rec.get(name))

    def new_key(self) -> str:
        """The key a created entity gets: the next number, or a fresh 32-hex UUID."""
        if self._keys is None:
            return self.codec.key(self.count())
        if self._keys and all(k.isdigit() for k in self._keys):
            return str(max(int(k) for k in self._keys) + 1)
        n = self.count()
        while (key := self.codec.key(n)) in self._keys:
            n += 1
        return key

    def append(self, data: bytes, key: str) -> int:
        """Add a created row (caller holds ``lock``); return its index."""
        self.dirty = True
        if self._keys is not None:
            self._keys[key] = self.count()
        self._extra.append(compact(data))
        if self._columns:
            rec = orjson.loads(data)
            for (name, kind), col in self._columns.items():
                col.append(convert(kind, rec.get(name)))
        return self.count() - 1

    def truncate(self, count: int) -> None:
        """Drop created rows beyond ``count`` (rollback of an atomic batch)."""
        self.deleted = {i for i in self.deleted if i < count}
        keep = max(count - self.n_seed, 0)
        del self._extra[keep:]
        if self._keys is not None:
            self._keys = {k: i for k, i in self._keys.items() if i < count}
        for col in self._columns.values():
            del col[count:]

    def generate_all(self) -> None:
        """Generate every seeded row now."""
        for b in range((self.n_seed + BLOCK - 1) // BLOCK):
            self._block(b)

    def materialized_rows(self) -> int:
        """How many rows are currently held encoded in memory."""
        return sum(len(b) for b in self._blocks.values()) + len(self._extra)


class Database:
    """All seeded tables of one emulator."""

    def __init__(self, seed: int, rows: int, *, change_tracking: bool = False) -> None:
        self.seed = seed
        self.rows = rows
        self.change_tracking = change_tracking
        self.ctx = build_context(seed, rows)
        self.specs = tuple(_tracked(s) for s in TABLES) if change_tracking else TABLES
        self.tables: dict[str, Table] = {
            spec.name: Table(spec, self.ctx, n) for n, spec in enumerate(self.specs, start=1)
        }
        if change_tracking:
            self.tables[DELETED_RECORDS] = _deleted_records(self.ctx)
        self.custom: set[str] = set()

    def record_delete(self, table: Table, key: str, stamp: int, now: str) -> None:
        """Add the ``__DeletedRecords`` row of ``key`` (caller holds ``write_lock``)."""
        graves = self.tables.get(DELETED_RECORDS)
        if graves is None or table is graves:
            return
        with graves.lock:
            n = graves.count() + 1
            values = {
                "ID": n,
                "__Stamp": stamp,
                "__TableNumber": list(self.tables).index(table.name) + 1,
                "__TableName": table.name,
                "__PrimaryKey": key,
            }
            row = assemble(graves.spec, str(n), now, 1, values)
            graves.append(orjson.dumps(row), str(n))

    def restore(self) -> None:
        """Back to the seeded data; tables nobody wrote to keep their generated rows."""
        for name in self.custom:
            del self.tables[name]
        for n, spec in enumerate(self.specs, start=1):
            table = self.tables.get(spec.name)
            if table is None or table.dirty:
                self.tables[spec.name] = Table(spec, self.ctx, n)
        self.custom.clear()
        # Keep the catalog order: seeded tables first, as generated.
        order = [t.name for t in self.specs]
        if self.change_tracking:
            self.tables[DELETED_RECORDS] = _deleted_records(self.ctx)
            order.append(DELETED_RECORDS)
        self.tables = {name: self.tables[name] for name in order}

    def add(self, table: Table) -> None:
        """Serve ``table`` (replacing a seeded table of the same name until restore)."""
        self.tables[table.name] = table
        self.custom.add(table.name)


def _no_rows(_ctx: GenContext, _index: int, _rng: random.Random) -> dict[str, Any]:
    msg = "__DeletedRecords has no generated rows"
    raise AssertionError(msg)


def _tracked(spec: TableSpec) -> TableSpec:
    stamp = AttributeSpec(GLOBAL_STAMP, "long64", indexed=True)
    return attrs.evolve(spec, attributes=(*spec.attributes, stamp))


def _deleted_records(ctx: GenContext) -> Table:
    # The shape of the v18 captures (collection__datasync_v18_deletedrecords.json).
    attributes = (
        AttributeSpec("ID", "long", indexed=True),
        AttributeSpec("__Stamp", "long64", indexed=True),
        AttributeSpec("__TableNumber", "long"),
        AttributeSpec("__TableName", "string"),
        AttributeSpec("__PrimaryKey", "string"),
    )
    spec = TableSpec(DELETED_RECORDS, attributes, size=lambda _r: 0, generate=_no_rows, key="ID")
    return Table(spec, ctx, 999, rows=[], keys=[])
