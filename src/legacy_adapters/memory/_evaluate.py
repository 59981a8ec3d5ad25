"""Evaluation of the core's filter objects and sort keys with 4D semantics (ADR 0004).

What lives here: compiling a :mod:`legacy_core.query` filter against a table's catalog
into a predicate over wire-format rows, and the ordering keys for ``$orderby``. Type
errors are found while compiling, so they are raised even on an empty table, like 4D's
query parser does. No storage, no paging.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from legacy_adapters.memory._tables import (
    BOOL_TYPES,
    DATE_TYPES,
    NUMBER_TYPES,
    OBJECT_TYPES,
    STRING_TYPES,
    MemoryTable,
    date_key,
    parse_date_constant,
)
from legacy_core.errors import InvalidQuery
from legacy_core.model import OrderBy
from legacy_core.query import And, Comparison, Filter, In, Not, Or, Raw, Value

__all__ = ["Predicate", "check_attributes", "compile_filter", "sort_rows"]

Predicate = Callable[[Mapping[str, Any]], bool]
Row = Mapping[str, Any]
R = TypeVar("R", bound=Mapping[str, Any])

_ORDERING: Mapping[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@attrs.frozen
class _Context:
    environment: str
    table: MemoryTable

    def fail(self, message: str) -> InvalidQuery:
        return InvalidQuery(message, environment=self.environment, table=self.table.name)

    def type_of(self, attribute: str) -> str:
        try:
            return self.table.attributes[attribute]
        except KeyError:
            msg = f"unknown attribute {attribute!r} in {self.table.name} (4D error 1203)"
            raise self.fail(msg) from None


def check_attributes(names: Sequence[str], table: MemoryTable, *, environment: str) -> None:
    """Raise InvalidQuery naming the first of ``names`` the table does not have."""
    ctx = _Context(environment, table)
    for name in names:
        ctx.type_of(name)


def compile_filter(node: Filter, table: MemoryTable, *, environment: str) -> Predicate:
    """Compile ``node`` against ``table``'s catalog; raise InvalidQuery for what 4D would refuse."""
    return _compile(node, _Context(environment, table))


def _compile(node: Filter, ctx: _Context) -> Predicate:
    if isinstance(node, Comparison):
        return _comparison(node, ctx)
    if isinstance(node, In):
        return _in(node, ctx)
    if isinstance(node, And):
        parts = [_compile(p, ctx) for p in node.parts]
        return lambda row: all(p(row) for p in parts)
    if isinstance(node, Or):
        parts = [_compile(p, ctx) for p in node.parts]
        return lambda row: any(p(row) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.part, ctx)
        return lambda row: not inner(row)
    if isinstance(node, Raw):
        msg = f"memory adapter cannot evaluate Raw filters ({node.text!r}); build it with field()"
        raise ctx.fail(msg)
    msg = f"not a filter: {type(node).__name__}"
    raise ctx.fail(msg)


def _comparison(c: Comparison, ctx: _Context) -> Predicate:
    kind = ctx.type_of(c.attribute)
    name, op, value = c.attribute, c.op, c.value
    if value is None:
        # `= null` matches JSON null only; `# null` everything else (0!0!0 included).
        if op == "=":
            return lambda row: row.get(name) is None
        return lambda row: row.get(name) is not None
    where = f"{name} {op} {value!r}"
    if kind in STRING_TYPES:
        return _string_comparison(name, op, _string_constant(value, where, ctx))
    if op in {"begin", "like"}:
        msg = f"{where}: {op} needs a string attribute, {name} is {kind}"
        raise ctx.fail(msg)
    if kind in NUMBER_TYPES:
        const: Any = _number_constant(value, where, ctx)
        read: Callable[[Any], Any] = _number_of
    elif kind in DATE_TYPES:
        const = parse_date_constant(value)
        if const is None:
            msg = f"{where}: {name} is a date; compare it with a date or 'YYYY-MM-DD'"
            raise ctx.fail(msg)
        read = _date_of
    elif kind in BOOL_TYPES:
        if not isinstance(value, bool) or op not in {"=", "===", "!="}:
            msg = f"{where}: {name} is a bool; only = and != with true/false apply"
            raise ctx.fail(msg)
        const, read = value, _bool_of
    else:  # object, blob, image
        msg = f"{where}: {name} is {kind}; only == None and != None apply"
        raise ctx.fail(msg)
    return _typed_comparison(name, op, const, read)


def _typed_comparison(name: str, op: str, const: Any, read: Callable[[Any], Any]) -> Predicate:
    if op in {"=", "==="}:
        return lambda row: (v := read(row.get(name))) is not None and v == const
    if op == "!=":
        # Null is not equal to any constant, so `# x` holds for null fields.
        return lambda row: (v := read(row.get(name))) is None or v != const
    cmp = _ORDERING[op]
    return lambda row: (v := read(row.get(name))) is not None and cmp(v, const)


def _string_comparison(name: str, op: str, const: str) -> Predicate:
    folded = const.casefold()
    if (op in {"=", "!="} and "@" in const) or op == "like":
        pattern = _wildcard(folded)
        if op == "!=":
            return lambda row: (v := _text_of(row.get(name))) is None or not pattern.fullmatch(v)
        return lambda row: (v := _text_of(row.get(name))) is not None and bool(pattern.fullmatch(v))
    if op == "begin":
        return lambda row: (v := _text_of(row.get(name))) is not None and v.startswith(folded)
    return _typed_comparison(name, op, folded, _text_of)


def _wildcard(folded: str) -> re.Pattern[str]:
    # `@` is any run of characters (also none); everything else matches itself.
    return re.compile(".*".join(re.escape(part) for part in folded.split("@")), re.DOTALL)


def _in(node: In, ctx: _Context) -> Predicate:
    kind = ctx.type_of(node.attribute)
    name = node.attribute
    consts: set[Any] = set()
    read: Callable[[Any], Any]
    for value in node.values:
        where = f"{name} IN {value!r}"
        if kind in STRING_TYPES:
            consts.add(_string_constant(value, where, ctx).casefold())
            read = _text_of
        elif kind in NUMBER_TYPES:
            consts.add(_number_constant(value, where, ctx))
            read = _number_of
        elif kind in DATE_TYPES:
            key = parse_date_constant(value)
            if key is None:
                msg = f"{where}: {name} is a date; list dates or 'YYYY-MM-DD'"
                raise ctx.fail(msg)
            consts.add(key)
            read = _date_of
        else:
            # Booleans compare with = and # only (ADR 0004); objects not at all.
            msg = f"{where}: IN does not apply to {kind} attribute {name}"
            raise ctx.fail(msg)
    return lambda row: (v := read(row.get(name))) is not None and v in consts


def _string_constant(value: Value, where: str, ctx: _Context) -> str:
    if isinstance(value, str):
        return value
    # Dates render as quoted ISO text, so on a string attribute they compare as that text.
    if isinstance(value, dt.date):
        return value.isoformat()
    msg = f"{where}: a string attribute cannot be compared with {type(value).__name__}"
    raise ctx.fail(msg)


def _number_constant(value: Value, where: str, ctx: _Context) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        # Numeric text converts as 4D's Num() does in the emulator: any float literal.
        try:
            return float(value.strip())
        except ValueError:
            pass
    msg = f"{where}: a number attribute cannot be compared with {type(value).__name__} {value!r}"
    raise ctx.fail(msg)


def _text_of(value: Any) -> str | None:
    return value.casefold() if isinstance(value, str) else None


def _number_of(value: Any) -> int | float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def _date_of(value: Any) -> tuple[int, int, int] | None:
    if isinstance(value, str):
        return date_key(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return (value.year, value.month, value.day)
    return None


def _bool_of(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


_READERS: Mapping[str, Callable[[Any], Any]] = {
    **dict.fromkeys(STRING_TYPES, _text_of),
    **dict.fromkeys(NUMBER_TYPES, _number_of),
    **dict.fromkeys(DATE_TYPES, _date_of),
    **dict.fromkeys(BOOL_TYPES, _bool_of),
}


def sort_rows(
    rows: Sequence[R], order_by: Sequence[OrderBy], table: MemoryTable, *, environment: str
) -> list[R]:
    """Sort like 4D's ``$orderby``: nulls first ascending, case-insensitive, dates as dates."""
    ctx = _Context(environment, table)
    keyed: list[tuple[Callable[[Row], tuple[Any, ...]], bool]] = []
    for spec in order_by:
        kind = ctx.type_of(spec.field)
        if kind in OBJECT_TYPES:
            msg = f"cannot order by {spec.field}: it is {kind}"
            raise ctx.fail(msg)
        keyed.append((_sort_key(spec.field, _READERS[kind]), spec.descending))
    out = list(rows)
    # Stable sorts from the last key to the first give the multi-key order.
    for key, descending in reversed(keyed):
        out.sort(key=key, reverse=descending)
    return out


def _sort_key(name: str, read: Callable[[Any], Any]) -> Callable[[Row], tuple[Any, ...]]:
    def key(row: Row) -> tuple[Any, ...]:
        value = read(row.get(name))
        return (0,) if value is None else (1, value)

    return key
