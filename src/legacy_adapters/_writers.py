"""Streaming writers of the CLI's ``fetch --out``: CSV, JSON Lines, JSON and Parquet, page by page.

Each writer takes pages of records (what ``LegacyClient.iter_pages`` yields) and writes
them as they arrive, so memory stays near a few pages whatever the size of the table.
CSV, JSON Lines and JSON need only the standard library and orjson; Parquet needs pyarrow
(checked by :func:`plan_output` before any request). Nested 4D values (objects,
relations, collections) are written as JSON text in CSV and Parquet, as JSON in JSON.
What does not live here: reading, progress, argument parsing (``legacy_adapters.cli``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import importlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypeAlias

import attrs
import orjson

from legacy_core._columns import column_order
from legacy_core.errors import ConfigurationError

__all__ = [
    "FORMATS",
    "Format",
    "Output",
    "OutputError",
    "PageWriter",
    "open_writer",
    "plan_output",
]

Format: TypeAlias = Literal["csv", "jsonl", "json", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json", "parquet")
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}
Record: TypeAlias = Mapping[str, Any]
Warn: TypeAlias = Callable[[str], None]

# Pages held back while a Parquet column is still all null, to learn its type first.
_PARQUET_LOOKAHEAD_PAGES = 4


class OutputError(ValueError):
    """Rows that cannot be written in the chosen format (a column changed its type)."""


# -- where the rows go -----------------------------------------------------------------------


@attrs.frozen
class Output:
    """A checked destination: a file (``path``) or standard output (``path`` is None)."""

    path: Path | None
    format: Format

    @property
    def label(self) -> str:
        """How messages name it: the path, or ``stdout``."""
        return "stdout" if self.path is None else str(self.path)


def plan_output(out: str, fmt: str | None) -> Output:
    """Check ``--out``/``--format`` before any request: known format, writable place, engine.

    ``out`` is a path or ``-`` (standard output, JSON Lines unless ``fmt`` says otherwise).
    Raises ConfigurationError naming what is wrong.
    """
    if fmt is not None and fmt not in FORMATS:
        msg = f"--format {fmt}: use one of {', '.join(FORMATS)}"
        raise ConfigurationError(msg)
    if out == "-":
        output = Output(None, fmt or "jsonl")
    else:
        path = Path(out).expanduser()
        if path.is_dir():
            msg = f"--out {out}: is a directory"
            raise ConfigurationError(msg)
        suffix_format = _SUFFIXES.get(path.suffix.lower())
        chosen = fmt or suffix_format
        if chosen is None:
            known = ", ".join(_SUFFIXES)
            kind = path.suffix or "(none)"
            msg = f"--out {out}: unknown file type {kind!r}; use {known} or --format"
            raise ConfigurationError(msg)
        _check_writable(path, out)
        output = Output(path, chosen)
    if output.format == "parquet":
        _check_parquet_engine(output.label)
    return output


def _check_writable(path: Path, out: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        msg = f"--out {out}: directory {str(parent)!r} does not exist"
        raise ConfigurationError(msg)
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        msg = f"--out {out}: not writable (permission denied)"
        raise ConfigurationError(msg)


def _check_parquet_engine(label: str) -> None:
    try:
        importlib.import_module("pyarrow.parquet")
    except ImportError:
        msg = f"--out {label}: Parquet needs pyarrow: pip install 'legacy-api[arrow]'"
        raise ConfigurationError(msg) from None


@contextlib.contextmanager
def _opened(output: Output) -> Iterator[IO[bytes]]:
    """The binary stream to write to; a file appears (atomically) only when all went well."""
    if output.path is None:
        stream = sys.stdout.buffer
        yield stream
        stream.flush()
        return
    path = output.path
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # what open(path, "w") would have made
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def open_writer(
    output: Output, *, columns: Sequence[str] = (), warn: Warn | None = None
) -> Iterator[PageWriter]:
    """A writer for ``output``; closing the block finishes the file (or removes it on error).

    ``columns`` are the requested fields (their order); ``warn`` receives one line per
    anomaly worth telling the user (a column first seen after the header was written).
    """
    say = warn or (lambda _line: None)
    with _opened(output) as stream:
        writer = _WRITERS[output.format](stream, columns, say)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.finish()


# -- the writers -------------------------------------------------------------------------------


class PageWriter(Protocol):
    """Writes pages of records to one stream."""

    rows: int

    def write_page(self, records: Sequence[Record]) -> None:
        """Write one page."""

    def finish(self) -> None:
        """Write what closes the format (a footer, a bracket) and flush."""

    def abort(self) -> None:
        """Let go of the stream after a failure (the file is removed; stdout stays open)."""


def _default(value: Any) -> Any:
    # orjson knows dates, times, datetimes, dicts and lists; anything else as text.
    return str(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=_default).decode()


def _text(value: Any) -> str | None:
    """One value as text: JSON for nested values, ISO for dates, ``str`` for the rest."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _json_text(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


@attrs.define
class _Columns:
    """The columns of a CSV or Parquet file: fixed by the first page, in server order."""

    requested: Sequence[str]
    warn: Warn
    names: list[str] | None = None
    _dropped: set[str] = attrs.field(factory=set)

    def fix(self, records: Sequence[Record]) -> list[str]:
        """Fix the columns from the first page (requested fields in the order asked)."""
        seen: dict[str, None] = {}
        for record in records:
            if record.keys() != seen.keys():
                seen.update(dict.fromkeys(record))
        self.names = column_order(list(seen), self.requested)  # fetch_frame's order
        return self.names

    def check(self, records: Sequence[Record], rows_before: int) -> None:
        """Warn once per column a later page brings that the file has no place for."""
        assert self.names is not None  # fix() runs first
        known = set(self.names)
        for offset, record in enumerate(records):
            if record.keys() == known:
                continue
            for name in record.keys() - known - self._dropped:
                self._dropped.add(name)
                self.warn(
                    f"column {name!r} first appears in row {rows_before + offset + 1:,}, "
                    "after the columns were fixed; it is not written (use --format jsonl)"
                )


class _CsvWriter:
    """CSV with a header; nested values as JSON text, dates ISO, null as an empty cell."""

    def __init__(self, stream: IO[bytes], columns: Sequence[str], warn: Warn) -> None:
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
        self._csv = csv.writer(self._text)
        self._columns = _Columns(columns, warn)
        self.rows = 0

    def write_page(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self._columns.names is None:
            self._csv.writerow(self._columns.fix(records))
        else:
            self._columns.check(records, self.rows)
        names = self._columns.names or []
        self._csv.writerows([[_cell(r.get(n)) for n in names] for r in records])
        self._text.flush()  # a page reaches the reader (a pipe) while the next is read
        self.rows += len(records)

    def finish(self) -> None:
        if self._columns.names is None and self._columns.requested:
            self._csv.writerow(list(self._columns.requested))  # an empty read: header only
        self._text.flush()
        self._text.detach()  # the stream belongs to the caller (stdout stays open)

    def abort(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._text.detach()  # else closing the wrapper would close stdout


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return value  # bool too: True/False, as pandas writes and reads them
    return _text(value)


class _JsonLinesWriter:
    """One JSON object per line (orjson): dates ISO, nested values as JSON."""

    def __init__(self, stream: IO[bytes], _columns: Sequence[str], _warn: Warn) -> None:
        self._stream = stream
        self.rows = 0

    def write_page(self, records: Sequence[Record]) -> None:
        option = orjson.OPT_APPEND_NEWLINE
        lines = [orjson.dumps(r, default=_default, option=option) for r in records]
        self._stream.write(b"".join(lines))
        self._stream.flush()  # a page reaches the reader (a pipe) while the next is read
        self.rows += len(records)

    def finish(self) -> None:
        self._stream.flush()

    def abort(self) -> None:
        pass  # nothing of its own to let go of


class _JsonArrayWriter:
    """One JSON array of objects, written element by element."""

    def __init__(self, stream: IO[bytes], _columns: Sequence[str], _warn: Warn) -> None:
        self._stream = stream
        self.rows = 0

    def write_page(self, records: Sequence[Record]) -> None:
        if not records:
            return
        lead = b"[" if self.rows == 0 else b",\n"
        body = b",\n".join(orjson.dumps(r, default=_default) for r in records)
        self._stream.write(lead + body)
        self._stream.flush()
        self.rows += len(records)

    def finish(self) -> None:
        self._stream.write(b"]\n" if self.rows else b"[]\n")
        self._stream.flush()

    def abort(self) -> None:
        pass  # nothing of its own to let go of


class _ParquetWriter:
    """Parquet through ``pyarrow.parquet.ParquetWriter``, one row group per page.

    The schema is fixed by the first pages: a column that is all null there is typed by
    the first page that has a value (up to a few pages ahead), else it is text. Nested
    values are JSON text (so every page has the same schema); dates are ``date32``, 4D
    times ``time64``, ``__TIMESTAMP`` a UTC timestamp.
    """

    def __init__(self, stream: IO[bytes], columns: Sequence[str], warn: Warn) -> None:
        self._pa: Any = importlib.import_module("pyarrow")
        self._pq: Any = importlib.import_module("pyarrow.parquet")
        self._stream = stream
        self._columns = _Columns(columns, warn)
        self._pending: list[Any] = []  # tables held back until the schema is known
        self._schema: Any = None
        self._writer: Any = None
        self.rows = 0

    def write_page(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self._columns.names is None:
            self._columns.fix(records)
        else:
            self._columns.check(records, self.rows)
        self.rows += len(records)
        if self._schema is None:
            self._pending.append(self._table(records, None))
            if len(self._pending) >= _PARQUET_LOOKAHEAD_PAGES or not self._has_null_columns():
                self._open()
        else:
            self._writer.write_table(self._table(records, self._schema))

    def finish(self) -> None:
        if self._schema is None:
            if not self._pending:
                names = self._columns.names or list(self._columns.requested)
                self._pending.append(
                    self._pa.table({n: self._pa.array([], self._pa.string()) for n in names})
                )
            self._open()
        self._writer.close()
        self._stream.flush()

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None

    def _has_null_columns(self) -> bool:
        pa = self._pa
        names = self._columns.names or []
        return any(
            all(pa.types.is_null(t.schema.field(n).type) for t in self._pending) for n in names
        )

    def _open(self) -> None:
        pa = self._pa
        fields = []
        for name in self._columns.names or [f.name for f in self._pending[0].schema]:
            types = [t.schema.field(name).type for t in self._pending]
            fields.append(pa.field(name, _unify(pa, types)))
        self._schema = pa.schema(fields)
        self._writer = self._pq.ParquetWriter(self._stream, self._schema)
        pending, self._pending = self._pending, []
        for table in pending:
            self._writer.write_table(self._cast(table))

    def _table(self, records: Sequence[Record], schema: Any) -> Any:
        pa = self._pa
        names = self._columns.names or []
        arrays = []
        for name in names:
            target = None if schema is None else schema.field(name).type
            arrays.append(self._array(name, [r.get(name) for r in records], target))
        if schema is not None:
            return pa.Table.from_arrays(arrays, schema=schema)
        return pa.Table.from_arrays(arrays, names=names)

    def _array(self, name: str, values: list[Any], target: Any) -> Any:
        pa = self._pa
        if any(isinstance(v, (dict, list)) for v in values):
            values = [_text(v) if isinstance(v, (dict, list)) else v for v in values]
        errors = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)
        # Infer, then cast: pa.array(values, type=int64) would truncate 2.5 to 2 silently,
        # a cast refuses to.
        try:
            array = pa.array(values)
        except errors:
            array = None  # mixed kinds in one column (a text here, a number there)
        if target is None or pa.types.is_string(target):
            if array is not None and (target is None or array.type == target):
                return array
            return pa.array([_text(v) for v in values], type=pa.string())
        if array is not None:
            if array.type == target:
                return array
            if pa.types.is_null(array.type):
                return pa.nulls(len(values), target)
            try:
                return array.cast(target)
            except errors:
                pass
        first = next((v for v in values if v is not None), None)
        msg = (
            f"column {name!r} is {target} in the file, but rows from {self.rows + 1:,} hold "
            f"{type(first).__name__} values such as {first!r}; write CSV or JSON Lines instead"
        )
        raise OutputError(msg)

    def _cast(self, table: Any) -> Any:
        pa = self._pa
        if table.schema.equals(self._schema):
            return table
        arrays = []
        for field in self._schema:
            column = table.column(field.name)
            if column.type == field.type:
                arrays.append(column)
            elif pa.types.is_string(field.type) and not pa.types.is_null(column.type):
                arrays.append(pa.array([_text(v) for v in column.to_pylist()], type=pa.string()))
            else:
                arrays.append(column.cast(field.type))
        return pa.Table.from_arrays(arrays, schema=self._schema)


def _unify(pa: Any, types: list[Any]) -> Any:
    """One Arrow type for a column seen with ``types`` on the first pages."""
    known = {t for t in types if not pa.types.is_null(t)}
    if not known:
        return pa.string()  # all null so far: text holds whatever comes later
    if len(known) == 1:
        return known.pop()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in known):
        return pa.float64()
    return pa.string()


_WRITERS: dict[Format, Callable[[IO[bytes], Sequence[str], Warn], PageWriter]] = {
    "csv": _CsvWriter,
    "jsonl": _JsonLinesWriter,
    "json": _JsonArrayWriter,
    "parquet": _ParquetWriter,
}
