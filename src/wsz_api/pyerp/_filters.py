"""pyERP's ``filter_query`` triples and date-filter dicts, translated by ``legacy_core.query``.

Never string-glued: each condition becomes a :class:`~legacy_core.query.Filter`, so names
are checked and values quoted by the one renderer. No I/O.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from legacy_core.errors import InvalidQuery
from legacy_core.query import Filter, Raw, field

__all__ = ["date_filter", "to_filters"]

_COMPARE: dict[str, Callable[[Any, Any], Filter]] = {
    "=": operator.eq,
    "==": operator.eq,
    "eq": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "ne": operator.ne,
    ">": operator.gt,
    "gt": operator.gt,
    ">=": operator.ge,
    "gte": operator.ge,
    "ge": operator.ge,
    "<": operator.lt,
    "lt": operator.lt,
    "<=": operator.le,
    "lte": operator.le,
    "le": operator.le,
}


def _plain(value: object) -> object:
    """numpy/pandas scalars (values taken from a frame, as pyERP does) as Python values."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__.startswith(("numpy", "pandas")):
        return item()
    return value


def _day_of(value: object) -> dt.date | None:
    """The calendar day of a date, a datetime or pyERP's ISO text (``YYYY-MM-DD[THH:MM:SSZ]``)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            return None
    return None


def _compare(name: str, op: str, value: object, table: str) -> Filter:  # noqa: PLR0911
    key = op.strip().lower()
    value = _plain(value)
    target = field(name)
    if key == "in":
        values = value
        if isinstance(value, str):
            # pyERP passes str(list(...)), e.g. "['17', '18']": read it as the list it was.
            try:
                values = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                values = [value]
        if not isinstance(values, (list, tuple, set)):
            values = [values]
        return target.in_([_plain(v) for v in values])
    if key in ("begins", "begin", "startswith"):
        return target.begins(str(value))
    if key not in _COMPARE:
        msg = f"filter_query: unknown operator {op!r} for {name!r} (known: {sorted(_COMPARE)}, in)"
        raise InvalidQuery(msg, table=table)
    day = _day_of(value)
    if day is not None:
        # 4D dates are whole days and pyERP's server answers 500 to a strict > on dates.
        if key in (">", "gt"):
            return target >= day + dt.timedelta(days=1)
        if key in ("<", "lt") and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return target <= day - dt.timedelta(days=1)
        if key in ("<", "lt"):
            return target <= day  # pyERP sent "< day 23:59:59": the day itself is included
        return _COMPARE[key](target, day)
    return _COMPARE[key](target, value)


def date_filter(name: str, ops: Mapping[str, object], table: str) -> list[Filter]:
    """``{"gte": start, "lt": end}`` on ``name`` (pyERP's extractors' date dicts)."""
    return [_compare(name, op, value, table) for op, value in ops.items()]


def to_filters(filter_query: object, table: str) -> tuple[Filter, ...]:
    """Every condition of ``filter_query``, to be combined with AND.

    Accepts a list of ``[field, operator, value]`` triples, a date-filter dict
    ``{field: {op: value}}``, a list mixing both, a ``legacy_core.query`` filter, or a
    string (the caller's own 4D filter text, forwarded as ``Raw`` as pyERP did). Several
    ``=`` triples on one field (pyERP's parent-id filters) mean any of those values.
    """
    if filter_query is None or (isinstance(filter_query, (str, list)) and not filter_query):
        return ()
    if isinstance(filter_query, Filter):
        return (filter_query,)
    if isinstance(filter_query, str):
        return (Raw(filter_query),)
    if isinstance(filter_query, Mapping):
        return tuple(_from_mapping(filter_query, table))
    if not isinstance(filter_query, Sequence):
        msg = f"filter_query must be a list of [field, operator, value], got {filter_query!r}"
        raise InvalidQuery(msg, table=table)
    parts: list[Filter] = []
    equals: dict[str, list[object]] = {}
    for item in filter_query:
        if isinstance(item, Mapping):
            parts.extend(_from_mapping(item, table))
            continue
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 3:
            msg = f"filter_query item must be [field, operator, value], got {item!r}"
            raise InvalidQuery(msg, table=table)
        name, op, value = item
        value = _plain(value)
        if str(op).strip() in ("=", "==", "eq") and _day_of(value) is None:
            equals.setdefault(str(name), []).append(value)
            continue
        parts.append(_compare(str(name), str(op), value, table))
    for name, values in equals.items():
        parts.append(field(name) == values[0] if len(values) == 1 else field(name).in_(values))
    return tuple(parts)


def _from_mapping(mapping: Mapping[object, object], table: str) -> list[Filter]:
    parts: list[Filter] = []
    for name, ops in mapping.items():
        if not isinstance(ops, Mapping):
            msg = f"date filter for {name!r} must be a dict like {{'gte': date}}, got {ops!r}"
            raise InvalidQuery(msg, table=table)
        parts.extend(date_filter(str(name), ops, table))
    return parts


def combine(parts: Sequence[Filter]) -> Filter | None:
    """AND of ``parts`` (None when there are none)."""
    return functools.reduce(operator.and_, parts) if parts else None
