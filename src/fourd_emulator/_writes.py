"""The write path's value rules: coercion of sent values, defaults of creates, stamp errors."""

from __future__ import annotations

from typing import Any

from fourd_emulator._errors import INCOMPATIBLE_TYPES, UNKNOWN_ATTRIBUTE, FourDError, entry
from fourd_emulator._schema import NUMERIC_TYPES, STRING_TYPES, AttributeSpec
from fourd_emulator._store import Table
from fourd_emulator._values import ordinal_to_wire, parse_date_constant

__all__ = ["as_int", "coerce", "default_value", "stamp_errors"]


def as_int(value: Any) -> int | None:
    """Read a sent ``__STAMP`` (-1 when it is no number, so that it never matches)."""
    if value is None or isinstance(value, bool):
        return None if value is None else -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def stamp_errors(table: str, index: int) -> list[dict[str, Any]]:
    """Build the ``__ERROR`` stack of a stale stamp: 1263, 1046, 1517."""
    return [
        entry(1263, f"Given stamp does not match current one for record# {index} of table {table}"),
        entry(1046, f"Cannot save record {index} in table {table}"),
        entry(1517, f'The entity# {index} in the "{table}" dataclass cannot be saved'),
    ]


def default_value(attr: AttributeSpec) -> Any:
    """Return the value 4D gives an attribute a create does not set."""
    t = attr.type
    if t == "string":
        return ""
    if t in NUMERIC_TYPES:
        return 0
    if t == "bool":
        return False
    if t == "date":
        return "0!0!0"
    return None


def coerce(table: Table, name: str, value: Any) -> Any:  # noqa: PLR0911, PLR0912 - per type
    """Check a sent value against the attribute's 4D type; dates become ``D!M!YYYY``."""
    attr = table.attributes.get(name)
    if attr is None:
        raise FourDError.unknown_attribute(name, table.name)
    t = attr.type

    def bad() -> FourDError:
        msg = f'Invalid value {value!r} for the {t} attribute "{name}"'
        return FourDError.query(INCOMPATIBLE_TYPES, msg, table=table.name)

    if attr.kind != "storage":
        msg = f'The relation attribute "{name}" cannot be written'
        raise FourDError.query(UNKNOWN_ATTRIBUTE, msg, table=table.name)
    if value is None:
        return None
    if t in STRING_TYPES:
        if not isinstance(value, str):
            raise bad()
        return value
    if t in {"long", "long64", "word", "byte"}:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        if isinstance(value, float) and not value.is_integer():
            raise bad()
        return int(value)
    if t in NUMERIC_TYPES:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if t == "date":
        if not isinstance(value, str):
            raise bad()
        try:
            return ordinal_to_wire(parse_date_constant(value))
        except ValueError:
            raise bad() from None
    if t == "object":
        if not isinstance(value, (dict, list)):
            raise bad()
        return value
    return value
