"""Columnar pages: 4D records as Arrow tables, and one table from many pages (ADR 0025).

A reader that decodes pages straight into Arrow (the 4D adapter, the memory adapter)
returns a :class:`ArrowRecords` as the page's records: a ``Sequence`` of records for
code that iterates, backed by one ``pyarrow.Table`` for code that does not. The paging
engine slices, filters by ``__KEY`` and joins such pages without building a dict per
row. :class:`ArrowBuilder` collects the pages of a read and unifies their schemas
(a column may be all-null on one page, an Object attribute may change shape between
pages). Readers that only return dicts are converted here by inference.

Requires pyarrow (the ``arrow`` extra); nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from legacy_core._columns import column_order
from legacy_core.model import Record

__all__ = [
    "JSON",
    "ArrowBuilder",
    "ArrowRecords",
    "column_to_json",
    "records_to_table",
    "unify_tables",
]

JSON = pa.json_()
"""The type of a column whose values are JSON text (``arrow.json``): 4D Object attributes
whose shape varies between entities, kept whole instead of failing or losing data."""


@attrs.frozen
class ArrowRecords(Sequence[Record]):
    """The records of one page, held as one Arrow table (columns in server order)."""

    table: Any
    """A ``pyarrow.Table``."""

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> ArrowRecords: ...
    def __getitem__(self, index: int | slice) -> Record | ArrowRecords:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return ArrowRecords(self.table.take(list(range(start, stop, step))))
            return ArrowRecords(self.table.slice(start, max(stop - start, 0)))
        if index < 0:
            index += n
        if not 0 <= index < n:
            msg = "page index out of range"
            raise IndexError(msg)
        rows: list[Record] = self.table.slice(index, 1).to_pylist()
        return rows[0]

    def __iter__(self) -> Iterator[Record]:
        for batch in self.table.to_batches(max_chunksize=1024):
            yield from batch.to_pylist()

    def keys(self) -> list[str]:
        """The ``__KEY`` of every row (an empty list when the page has none)."""
        if "__KEY" not in self.table.column_names:
            return []
        return [k for k in self.table.column("__KEY").to_pylist() if isinstance(k, str)]

    def without_keys(self, seen: set[str]) -> ArrowRecords:
        """The rows whose ``__KEY`` is not in ``seen`` (rows without a key are kept)."""
        if not seen or "__KEY" not in self.table.column_names:
            return self
        column = self.table.column("__KEY")
        keep = pc.invert(pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(seen))), False))
        return ArrowRecords(self.table.filter(keep))

    @staticmethod
    def concat(parts: Sequence[ArrowRecords]) -> ArrowRecords:
        """One page of several (the pieces of one window the server sent short)."""
        return ArrowRecords(unify_tables([p.table for p in parts]))


def records_to_table(records: Sequence[Mapping[str, Any]]) -> Any:
    """An Arrow table of dict records (readers without a columnar path), by inference.

    A column that Arrow cannot hold as one type (mixed shapes, mixed scalars) becomes
    JSON text, so nothing fails and nothing is lost.
    """
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    if not names:
        return pa.Table.from_pylist([{} for _ in records])  # rows without attributes
    arrays = [infer_array([r.get(name) for r in records]) for name in names]
    return pa.Table.from_arrays(arrays, names=list(names))


def infer_array(values: list[Any]) -> Any:
    """Arrow's inference of one column of Python values, JSON text when it has no one type."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return json_array(values)


def json_array(values: Iterable[Any]) -> Any:
    """Values (decoded 4D JSON) as a column of JSON text; ``None`` stays null."""
    return pa.array(
        [None if v is None else _dumps(v) for v in values],
        type=JSON,
    )


def _dumps(value: Any) -> str:
    # Compact and unescaped, as 4D sends JSON; dates and the like as their text.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def column_to_json(column: Any) -> Any:
    """Any Arrow column as JSON text (a JSON column is returned unchanged)."""
    if column.type == JSON:
        return column
    return json_array(column.to_pylist())


def _is_json(t: Any) -> bool:
    return bool(t == JSON)


def _target(types: list[Any]) -> Any | None:  # noqa: PLR0911 - one return per rule
    """The one type pages of different types meet in, or None (then: JSON text)."""
    real = [t for t in types if not pa.types.is_null(t)]
    if not real:
        return pa.null()
    first = real[0]
    if all(t == first for t in real):
        return first
    if any(_is_json(t) for t in real):
        return None
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in real):
        return pa.float64()
    if all(pa.types.is_time(t) or pa.types.is_duration(t) for t in real):
        return pa.duration("ms")  # a 4D time outside 0..24 h on one page
    if all(pa.types.is_timestamp(t) or pa.types.is_date(t) for t in real):
        return pa.timestamp("us", "UTC") if _has_us(real) else pa.timestamp("ms", "UTC")
    try:
        # Struct and list shapes that differ only by fields present or null children.
        schema = pa.unify_schemas(
            [pa.schema([("c", t)]) for t in real], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    unified = schema.field("c").type
    if pa.types.is_string(unified) or pa.types.is_large_string(unified):
        return None  # string with something else: not one type, keep the text
    return unified


def _has_us(types: list[Any]) -> bool:
    return any(pa.types.is_timestamp(t) and t.unit in {"us", "ns"} for t in types)


def _cast(column: Any, target: Any) -> Any:
    t = column.type
    if t == target:
        return column
    if pa.types.is_null(t):
        return pa.nulls(len(column), target)
    if pa.types.is_time(t) and pa.types.is_duration(target):
        # time32[ms] → the same milliseconds as a duration (Arrow has no direct cast).
        return pc.cast(pc.cast(column, pa.int32()), pa.int64()).cast(target)
    if pa.types.is_date(t) and pa.types.is_timestamp(target):
        return pc.cast(pc.cast(column, pa.timestamp("s")), pa.timestamp(target.unit)).cast(target)
    return column.cast(target)


def _chunks(column: Any) -> list[Any]:
    # A ChunkedArray's pieces, or an Array as its one piece.
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def unify_tables(tables: Sequence[Any]) -> Any:
    """Concatenate page tables whose schemas differ; columns in first-appearance order.

    A column missing from a page is null there; types meet as :func:`_target` decides;
    a column with no common type becomes JSON text on every page.
    """
    if not tables:
        return pa.table({})
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema
    if all(t.schema.equals(first) for t in tables[1:]):
        return pa.concat_tables(tables)
    names: dict[str, None] = {}
    for table in tables:
        names.update(dict.fromkeys(table.column_names))
    columns: list[Any] = []
    for name in names:
        parts = [
            t.column(name) if name in t.column_names else pa.chunked_array([pa.nulls(t.num_rows)])
            for t in tables
        ]
        target = _target([p.type for p in parts])
        if target is None:
            chunks = [c for p in parts for c in _chunks(column_to_json(p))]
            columns.append(pa.chunked_array(chunks, type=JSON))
        else:
            chunks = [c for p in parts for c in _chunks(_cast(p, target))]
            columns.append(pa.chunked_array(chunks, type=target))
    return pa.Table.from_arrays(columns, names=list(names))


@attrs.define
class ArrowBuilder:
    """Collects the pages of one read as Arrow tables and builds one table at the end."""

    columns: Sequence[str] = ()
    """Requested fields: their order after the system attributes, and the empty table's."""
    _tables: list[Any] = attrs.field(init=False, factory=list)
    _rows: int = attrs.field(init=False, default=0)

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._rows

    def reset(self) -> None:
        """Forget every page added (a snapshot was rebuilt: start over)."""
        self._tables.clear()
        self._rows = 0

    def add(self, records: Sequence[Record]) -> None:
        """Add one page (Arrow-backed, or dicts converted by inference)."""
        table = records.table if isinstance(records, ArrowRecords) else records_to_table(records)
        if table.num_rows:
            self._tables.append(table)
            self._rows += table.num_rows

    def build(self) -> Any:
        """The table of every page added, columns ordered as ``fetch_frame`` orders them."""
        if not self._tables:
            return pa.table({name: pa.nulls(0) for name in self.columns})
        table = unify_tables(self._tables)
        self.reset()
        order = column_order(table.column_names, self.columns)
        return table if order == table.column_names else table.select(order)
