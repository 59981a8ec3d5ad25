"""4D error answers: the ``__ERROR`` stacks and HTTP statuses the emulator sends.

Codes follow FOURD_PROTOCOL.md; where 4D does not document one, the choice is listed in
docs/emulator.md so that clients can map it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ENTITY_KEY_NOT_FOUND",
    "ENTITY_NOT_FOUND",
    "ENTITY_SET_NOT_FOUND",
    "INCOMPATIBLE_TYPES",
    "INVALID_PARAMETER",
    "NO_LICENCE",
    "QUERY_SYNTAX",
    "QUIRK_REFUSED",
    "UNKNOWN_ATTRIBUTE",
    "UNKNOWN_TABLE",
    "FourDError",
    "error_body",
]

NO_LICENCE = 1823
ENTITY_NOT_FOUND = 1800
ENTITY_KEY_NOT_FOUND = 1542
ATTRIBUTE_LIST = 1804
UNKNOWN_TABLE = 1801
ENTITY_SET_NOT_FOUND = 1802
INVALID_PARAMETER = 1804
UNKNOWN_ATTRIBUTE = 1203
QUERY_SYNTAX = 1279
QUIRK_REFUSED = 1280
INCOMPATIBLE_TYPES = 1112
QUERY_FAILED = 1200
PROCESSING_FAILED = 1500


def entry(code: int | None, message: str, component: str = "dbmg") -> dict[str, Any]:
    """One ``__ERROR`` entry."""
    out: dict[str, Any] = {"message": message, "componentSignature": component}
    if code is not None:
        out["errCode"] = code
    return out


def error_body(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"__ERROR": [...]}``."""
    return {"__ERROR": entries}


class FourDError(Exception):
    """Raised inside the emulator; turned into an HTTP status and an ``__ERROR`` body."""

    def __init__(self, status: int, entries: list[dict[str, Any]]) -> None:
        self.status = status
        self.entries = entries
        super().__init__(entries[0]["message"] if entries else f"HTTP {status}")

    @classmethod
    def query(
        cls, code: int, message: str, *, table: str, filter_text: str | None = None
    ) -> FourDError:
        """Build a 500 query error with the nested stack a real server sends (innermost first)."""
        entries = [entry(code, message)]
        if filter_text is not None:
            entries.append(
                entry(
                    QUERY_FAILED,
                    f"Error while running the query on dataclass {table}\n"
                    f"  query string: {filter_text}\n"
                    f"  at: ds.{table}.query()",
                )
            )
        entries.append(
            entry(PROCESSING_FAILED, f"Cannot process the REST request on {table}", "dbrq")
        )
        return cls(500, entries)

    @classmethod
    def unknown_attribute(cls, name: str, table: str, filter_text: str | None = None) -> FourDError:
        """1500 + 1804: the dataclass has no such attribute (as real servers answer it).

        ``filter_text`` is accepted for the callers' sake; the captured answers of v17
        and v20 carry no query stack for an unknown attribute.
        """
        del filter_text
        found = f'The "{name}" attribute cannot be found in The "{table}" dataclass'
        listing = (
            f'Cannot completely build a list of attributes with "{name}" '
            f'for the "{table}" dataclass'
        )
        return cls(500, [entry(PROCESSING_FAILED, found), entry(ATTRIBUTE_LIST, listing)])
