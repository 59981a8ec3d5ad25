"""In-memory tables: the catalog (attribute -> 4D type), wire-format rows and value checks.

What lives here: :class:`MemoryTable`, the 4D type families and the ``D!M!YYYY`` date
helpers the evaluator and the writer share. No query evaluation (``_evaluate``) and no
locking or snapshots (``_backend``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from legacy_adapters.wire import date_parts
from legacy_core.errors import ConfigurationError, InvalidQuery
from legacy_core.model import validate_identifier

__all__ = [
    "BOOL_TYPES",
    "DATE_TYPES",
    "FOURD_TYPES",
    "MANAGED",
    "NUMBER_TYPES",
    "OBJECT_TYPES",
    "STRING_TYPES",
    "DateKey",
    "MemoryTable",
    "copy_row",
    "copy_value",
    "date_key",
    "parse_date_constant",
    "wire_date",
]

# The catalog types 4D reports in ``$catalog`` (FOURD_PROTOCOL.md), grouped by how they compare.
STRING_TYPES = frozenset({"string", "uuid"})
NUMBER_TYPES = frozenset({"long", "long64", "word", "byte", "number", "duration"})
BOOL_TYPES = frozenset({"bool"})
DATE_TYPES = frozenset({"date"})
# Only null checks make sense for these; any other comparison is a query error.
OBJECT_TYPES = frozenset({"object", "blob", "image"})
FOURD_TYPES = STRING_TYPES | NUMBER_TYPES | BOOL_TYPES | DATE_TYPES | OBJECT_TYPES

# Attributes 4D manages itself: always present, never written by callers.
# In the order 4D sends them: __KEY, __TIMESTAMP, __STAMP, then the fields.
MANAGED: Mapping[str, str] = {"__KEY": "string", "__TIMESTAMP": "string", "__STAMP": "long"}

DateKey = tuple[int, int, int]
"""A date as (year, month, day); the empty date ``0!0!0`` is (0, 0, 0), below every real date."""


def date_key(value: str) -> DateKey | None:
    """Parse a stored date (``"D!M!YYYY"``, ``"0!0!0"``, ``"YYYY-MM-DD"``); None if neither."""
    return date_parts(value)


def parse_date_constant(value: object) -> DateKey | None:
    """Read a filter constant as a date: ``date``, ``"YYYY-MM-DD"`` or ``"D!M!YYYY"``; else None."""
    if isinstance(value, dt.datetime):
        # A point in time against a whole day is ambiguous: refuse rather than guess.
        return None
    if isinstance(value, dt.date):
        return (value.year, value.month, value.day)
    if isinstance(value, str):
        # 4D also takes the wire form D!M!YYYY as a constant; the emulator does too.
        key = date_key(value.strip())
        if key is not None and (key == (0, 0, 0) or _is_real_date(*key)):
            return key
    return None


def _is_real_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def wire_date(value: object, *, what: str) -> str | None:
    """Normalise a date being written to the wire form 4D answers with (``"D!M!YYYY"``)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        msg = f"{what}: a date field takes a date, not a datetime ({value!r})"
        raise InvalidQuery(msg)
    if isinstance(value, dt.date):
        return f"{value.day}!{value.month}!{value.year}"
    if isinstance(value, str):
        key = date_key(value)
        if key is not None and (key == (0, 0, 0) or _is_real_date(*key)):
            year, month, day = key
            return f"{day}!{month}!{year}"
    msg = f"{what}: {value!r} is not a date (use a date, 'YYYY-MM-DD' or 'D!M!YYYY')"
    raise InvalidQuery(msg)


def copy_value(value: Any) -> Any:
    """Copy a JSON-like value deeply (faster than ``copy.deepcopy`` for plain data)."""
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    return value


def copy_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Copy a record deeply, so callers and the store never share nested objects."""
    return {k: copy_value(v) for k, v in row.items()}


def _check_attributes(
    _inst: object, _attribute: attrs.Attribute[Any], value: Mapping[str, str]
) -> None:
    for name, kind in value.items():
        validate_identifier(name, "attribute")
        if kind not in FOURD_TYPES:
            msg = f"attribute {name!r} has unknown 4D type {kind!r} (one of {sorted(FOURD_TYPES)})"
            raise ConfigurationError(msg)


def _with_managed(value: Mapping[str, str]) -> dict[str, str]:
    return {**MANAGED, **dict(value)}


def _rows(value: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    # Copied on the way in: the caller's lists must not alias the store.
    return tuple(copy_value(dict(r)) for r in value)


@attrs.frozen
class MemoryTable:
    """A table as 4D describes it: attribute types from ``$catalog`` and rows as sent on the wire.

    ``__KEY``, ``__STAMP`` and ``__TIMESTAMP`` are added to ``attributes`` when missing.
    ``key`` names the attribute the record key comes from (``__KEY`` unless the table's rows
    only carry a numeric primary key, in which case ``__KEY`` is its text, as on 4D).
    """

    name: str = attrs.field()
    attributes: Mapping[str, str] = attrs.field(
        converter=_with_managed, validator=_check_attributes
    )
    rows: tuple[dict[str, Any], ...] = attrs.field(default=(), converter=_rows)
    key: str = "__KEY"
    relations: Mapping[str, tuple[str, str]] = attrs.field(factory=dict, converter=dict)
    """N→1 relations: ``name -> (target table, foreign-key attribute)``. The foreign key
    is a field of this table holding the target's ``__KEY``; reads send the relation as
    4D does (``{"__deferred": {"__KEY": ...}}``, inlined with ``expand``)."""

    @name.validator
    def _check_name(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        validate_identifier(value, "table")

    def __attrs_post_init__(self) -> None:
        if self.key not in self.attributes:
            msg = f"table {self.name}: key attribute {self.key!r} is not one of its attributes"
            raise ConfigurationError(msg, table=self.name)
        for name, (target, fk) in self.relations.items():
            validate_identifier(name, "relation")
            validate_identifier(target, "table")
            if name in self.attributes or fk not in self.attributes:
                msg = (
                    f"table {self.name}: relation {name!r} must be a new name whose foreign "
                    f"key {fk!r} is one of the attributes"
                )
                raise ConfigurationError(msg, table=self.name)
        seen: set[str] = set()
        for index, row in enumerate(self.rows):
            unknown = sorted(set(row) - set(self.attributes))
            if unknown:
                msg = f"table {self.name}: row {index} has attributes not in the catalog: {unknown}"
                raise ConfigurationError(msg, table=self.name)
            key = self.key_of(row)
            if key is None:
                msg = f"table {self.name}: row {index} has no {self.key}"
                raise ConfigurationError(msg, table=self.name)
            if key in seen:
                msg = f"table {self.name}: duplicate key {key!r} (row {index})"
                raise ConfigurationError(msg, table=self.name)
            seen.add(key)

    def key_of(self, row: Mapping[str, Any]) -> str | None:
        """Return the record key of ``row`` as 4D sends it in ``__KEY`` (always a string)."""
        value = row.get("__KEY") if self.key == "__KEY" else row.get(self.key, row.get("__KEY"))
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return f"<MemoryTable {self.name} {len(self.attributes)} attributes, {len(self.rows)} rows>"
