"""Page-by-page conversion of 4D records to a pandas DataFrame (Arrow-backed when installed).

Each page is turned into columns as soon as it arrives and its dicts are dropped, so a
read never holds all records as dicts *and* the frame at once. With pyarrow the columns
are Arrow arrays, concatenated without copying at the end; nested values (4D objects,
relations, collections) always stay Python objects, as the server sent them.
No I/O lives here.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np
import pandas as pd

from legacy_core._columns import column_order

__all__ = ["HAS_ARROW", "DtypeBackend", "FrameBuilder", "column_order", "records_to_frame"]

HAS_ARROW = importlib.util.find_spec("pyarrow") is not None

DtypeBackend: TypeAlias = Literal["default", "pyarrow", "numpy"]
"""``default``: pandas' own dtypes (numbers as numpy, strings as ``str``), built through
Arrow when installed; ``pyarrow``: every column that Arrow can hold as ``pd.ArrowDtype``;
``numpy``: no Arrow at all (plain lists, then pandas' inference)."""

# A chunk of one column for one page: an Arrow array, a list of Python values, or an int
# counting rows of a page that did not have this column at all (nulls).
_Chunk: TypeAlias = Any


def _arrow() -> Any:
    import pyarrow as pa  # noqa: PLC0415 - optional dependency, imported only when used

    return pa


@attrs.define
class FrameBuilder:
    """Accumulates pages column by column and builds one DataFrame at the end.

    ``columns`` are used for the order of requested columns and for the empty frame;
    otherwise the order is the server's (first appearance).
    """

    columns: Sequence[str] = ()
    dtype_backend: DtypeBackend = "default"
    like_records: bool = False
    """Build exactly what ``pd.DataFrame(records)`` builds from all pages (what pyERP's
    ``WSZ_api`` returned): pandas' own inference per column, ``NaN`` for a key a record
    lacks and ``None`` for an explicit null, columns in first-appearance order, on any
    pandas version and with or without pyarrow. Raw reads use it (ADR 0016)."""
    _order: dict[str, None] = attrs.field(init=False, factory=dict)
    _chunks: dict[str, list[_Chunk]] = attrs.field(init=False, factory=dict)
    _rows: int = attrs.field(init=False, default=0)

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._rows

    @property
    def _use_arrow(self) -> bool:
        return HAS_ARROW and self.dtype_backend != "numpy" and not self.like_records

    @property
    def _absent(self) -> Any:
        # pd.DataFrame(list_of_dicts) fills a missing key with NaN, an explicit null stays None.
        return np.nan if self.like_records else None

    def reset(self) -> None:
        """Forget every page added (a snapshot was rebuilt: start over)."""
        self._order.clear()
        self._chunks.clear()
        self._rows = 0

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Convert one page to column chunks; the caller may drop ``records`` afterwards."""
        n = len(records)
        if n == 0:
            return
        first_keys = records[0].keys()
        if all(r.keys() == first_keys for r in records):
            names = list(first_keys)
            columns = _columns_uniform(records, names)
        else:
            seen: dict[str, None] = {}
            for r in records:
                seen.update(dict.fromkeys(r))
            names = list(seen)
            absent = self._absent
            columns = [[r.get(name, absent) for r in records] for name in names]
        for name, values in zip(names, columns, strict=True):
            if name not in self._order:
                self._order[name] = None
                self._chunks[name] = [self._rows] if self._rows else []
            self._chunks[name].append(self._convert(values))
        if len(names) != len(self._order):
            present = set(names)
            for name, chunks in self._chunks.items():
                if name not in present:
                    chunks.append(n)  # this page lacks the column: n nulls
        self._rows += n

    def _convert(self, values: Sequence[Any]) -> _Chunk:
        if not self._use_arrow:
            return list(values)
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, (dict, list)):
            return list(values)  # 4D objects and relations stay dicts/lists (no Arrow try)
        pa = _arrow()
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            return list(values)  # mixed or unrepresentable values stay Python objects
        if pa.types.is_nested(array.type) or pa.types.is_dictionary(array.type):
            return list(values)  # 4D objects and relations stay dicts/lists
        return array

    def build(self) -> pd.DataFrame:
        """Build the DataFrame of every page added, columns in server order."""
        if self.like_records:
            return self._build_like_records()
        if self._rows == 0:
            return pd.DataFrame(columns=list(self.columns or self._order))
        order = column_order(list(self._order), self.columns)
        data: dict[str, Any] = {}
        for name in order:
            data[name] = self._column(self._chunks.pop(name))
        self.reset()
        return pd.DataFrame(data, copy=False)

    def _build_like_records(self) -> pd.DataFrame:
        if self._rows == 0:
            # pd.DataFrame([]) has no columns; requested fields still name the empty frame's.
            return pd.DataFrame(columns=list(self.columns)) if self.columns else pd.DataFrame()
        # A dict of lists goes through the same per-column inference as a list of dicts
        # (tests/client/test_frames_like_records.py holds the two against each other).
        absent = self._absent
        data: dict[str, list[Any]] = {}
        for name in list(self._order):
            chunks = self._chunks.pop(name)
            values: list[Any] = []
            for chunk in chunks:
                if isinstance(chunk, int):
                    values.extend(itertools.repeat(absent, chunk))
                else:
                    values.extend(chunk)
            data[name] = values
        rows = self._rows
        self.reset()
        # Records without any attribute still count as rows, as in pd.DataFrame([{}]).
        return pd.DataFrame(data) if data else pd.DataFrame([{}] * rows)

    def _column(self, chunks: list[_Chunk]) -> Any:
        if self._use_arrow and not any(isinstance(c, list) for c in chunks):
            series = self._arrow_column(chunks)
            if series is not None:
                return series
        total = sum(_chunk_len(c) for c in chunks)
        values = np.fromiter(_iter_values(chunks), dtype=object, count=total)
        if self.dtype_backend == "numpy":
            return pd.Series(values).infer_objects()
        if not HAS_ARROW:
            # Without pyarrow (pyERP's stack) pandas infers ints, floats and bools itself,
            # as pd.DataFrame(records) would, instead of leaving every column object.
            return pd.Series(values.tolist())
        return pd.Series(values, dtype=object)

    def _arrow_column(self, chunks: list[_Chunk]) -> Any:
        pa = _arrow()
        types = {c.type for c in chunks if not isinstance(c, int) and c.type != pa.null()}
        if not types:
            return None  # only nulls: an object column of None reads better than null[pyarrow]
        if len(types) == 1:
            target = types.pop()
        elif all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
            target = pa.float64()
        else:
            return None
        arrays = [
            pa.nulls(c, target) if isinstance(c, int) else c if c.type == target else c.cast(target)
            for c in chunks
        ]
        chunked = pa.chunked_array(arrays, type=target)
        if self.dtype_backend == "pyarrow":
            return pd.Series(pd.arrays.ArrowExtensionArray(chunked), copy=False)
        return chunked.to_pandas()


def _columns_uniform(records: Sequence[Mapping[str, Any]], names: list[str]) -> list[Sequence[Any]]:
    # itemgetter + zip run in C: several times faster than one comprehension per column.
    if not names:
        return []  # records without any attribute ({}): rows, but no column
    if len(names) == 1:
        return [[r[names[0]] for r in records]]
    rows = map(itemgetter(*names), records)
    return list(zip(*rows, strict=True))


def _chunk_len(chunk: _Chunk) -> int:
    return chunk if isinstance(chunk, int) else len(chunk)


def _iter_values(chunks: list[_Chunk]) -> Iterator[Any]:
    for chunk in chunks:
        if isinstance(chunk, int):
            yield from itertools.repeat(None, chunk)
        elif isinstance(chunk, list):
            yield from chunk
        else:
            yield from chunk.to_pylist()


def records_to_frame(
    records: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] = (),
    dtype_backend: DtypeBackend = "default",
    like_records: bool = False,
) -> pd.DataFrame:
    """Convert one list of records (a page, a test fixture) the same way a read does."""
    builder = FrameBuilder(columns=columns, dtype_backend=dtype_backend, like_records=like_records)
    builder.add(records)
    return builder.build()
