"""The 4D answer-to-error mapping now lives in the pure ``legacy_adapters.wire._answers``.

Re-exported here for the adapter's modules and tests that import it from its old place.
"""

from __future__ import annotations

from legacy_adapters.wire._answers import (
    CODE_CATEGORIES,
    QUERY_CODES,
    STAMP_CODES,
    Category,
    Context,
    body_error,
    category_of,
    checked_json,
    error_context,
    error_entries,
    has_entities,
    parse_json,
    raise_for_response,
    redact,
)

__all__ = [
    "CODE_CATEGORIES",
    "QUERY_CODES",
    "STAMP_CODES",
    "Category",
    "Context",
    "body_error",
    "category_of",
    "checked_json",
    "error_context",
    "error_entries",
    "has_entities",
    "parse_json",
    "raise_for_response",
    "redact",
]
