"""The 4D REST wire protocol, pure: values and dates (one implementation), envelopes.

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
    "TableSchema",
    "date_parts",
    "decode_record",
    "encode_values",
    "is_wire_date",
    "parse_catalog",
    "parse_entity",
    "parse_entity_set_id",
    "parse_page",
    "parse_schema",
    "parse_write_answer",
]
