"""The 4D REST wire protocol, pure: messages, values, dates, envelopes, error codes.

Values and dates have one implementation here, the 4D error codes one table
(``wire._answers``, reached through ``legacy_adapters.fourd._errors`` by the adapter).

Shared by every adapter that holds or receives 4D JSON (the HTTP adapter, the in-memory
adapter, the recorded fake); it does no I/O and imports no HTTP library. The emulator
keeps its own copy on purpose: it is the independent oracle (LAYOUT.md).
"""

from __future__ import annotations

from ._envelopes import (
    parse_catalog,
    parse_entity,
    parse_entity_set_id,
    parse_page,
    parse_schema,
    parse_write_answer,
)
from ._messages import HttpRequest, HttpResponse, encode_query, header_bytes, parse_set_cookies
from ._values import (
    AttributeSpec,
    DecodeError,
    TableSchema,
    date_parts,
    decode_record,
    encode_values,
    is_wire_date,
)

__all__ = [
    "AttributeSpec",
    "DecodeError",
    "HttpRequest",
    "HttpResponse",
    "TableSchema",
    "date_parts",
    "decode_record",
    "encode_query",
    "encode_values",
    "header_bytes",
    "is_wire_date",
    "parse_catalog",
    "parse_entity",
    "parse_entity_set_id",
    "parse_page",
    "parse_schema",
    "parse_set_cookies",
    "parse_write_answer",
]
