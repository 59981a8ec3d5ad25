"""4D answer envelopes: pages, entities, entity-set ids, write answers, catalogs, schemas.

Each function takes a decoded JSON body and returns plain data; a body of the wrong
shape raises :class:`DecodeError`, which the adapter turns into a ProtocolError with the
request's context. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from legacy_core.model import Page, Record

from ._values import AttributeSpec, DecodeError, TableSchema, decode_record

__all__ = [
    "parse_catalog",
    "parse_entity",
    "parse_entity_set_id",
    "parse_page",
    "parse_schema",
    "parse_write_answer",
]

_ENTITY_SET = re.compile(r"/\$entityset/([^/?#]+)")


def _int_field(body: Mapping[str, Any], name: str, default: int | None) -> int:
    value = body.get(name, default)
    if value is None:
        msg = f"the answer has no {name}"
        raise DecodeError(msg)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{name} must be a non-negative int, got {value!r}"
        raise DecodeError(msg)
    return value


def _entities(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, Mapping):
        msg = f"expected a JSON object, got {type(body).__name__}"
        raise DecodeError(msg)
    entities = body.get("__ENTITIES")
    if not isinstance(entities, list):
        msg = "the answer has no __ENTITIES array"
        raise DecodeError(msg)
    for entity in entities:
        if not isinstance(entity, Mapping):
            msg = f"__ENTITIES holds a {type(entity).__name__}, not an object"
            raise DecodeError(msg)
    return entities


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_entity_set_id(uri: Any) -> str:
    """Return the set id of ``"/rest/{Table}/$entityset/{ID}"`` (or of a bare id)."""
    if not isinstance(uri, str) or not uri.strip():
        msg = f"__ENTITYSET must be a non-empty string, got {uri!r}"
        raise DecodeError(msg)
    m = _ENTITY_SET.search(uri)
    ident = m.group(1) if m else uri.strip()
    if "/" in ident or "?" in ident:
        msg = f"cannot read an entity set id from {uri!r}"
        raise DecodeError(msg)
    return ident


def parse_page(
    body: Any,
    *,
    skip: int,
    schema: TableSchema | None,
    typed: bool,
    want_entity_set: bool = False,
    entity_set: str | None = None,
    expanded: Mapping[str, TableSchema | None] | None = None,
) -> Page:
    """Validate a collection answer and build a Page (typed values when ``typed``).

    ``expanded``: the relations asked for with ``$expand`` and their tables' schemas
    (see :func:`decode_record`).
    """
    entities = _entities(body)
    count = _int_field(body, "__COUNT", None)
    first = _int_field(body, "__FIRST", skip)
    sent = _int_field(body, "__SENT", len(entities))
    if sent != len(entities):
        msg = f"__SENT is {sent} but __ENTITIES holds {len(entities)}"
        raise DecodeError(msg)
    if want_entity_set:
        entity_set = parse_entity_set_id(body.get("__ENTITYSET"))
    records: Sequence[Record] = (
        [decode_record(e, schema, expanded) for e in entities] if typed else entities
    )
    return Page(records=records, count=count, first=first, sent=sent, entity_set=entity_set)


def parse_entity(
    body: Any,
    *,
    schema: TableSchema | None,
    typed: bool,
    expanded: Mapping[str, TableSchema | None] | None = None,
) -> dict[str, Any]:
    """Validate a single-entity answer (it must have a ``__KEY``)."""
    if not isinstance(body, Mapping) or "__KEY" not in body:
        msg = "expected one entity with a __KEY"
        raise DecodeError(msg)
    return decode_record(body, schema, expanded) if typed else dict(body)


def parse_write_answer(body: Any) -> list[Mapping[str, Any]]:
    """Return the saved entities of an update answer (``{"__ENTITIES": [...]}`` or one)."""
    if isinstance(body, Mapping) and "__ENTITIES" in body:
        return _entities(body)
    if isinstance(body, Mapping):
        return [body]
    if isinstance(body, list) and all(isinstance(e, Mapping) for e in body):
        return body
    msg = f"unexpected update answer: {type(body).__name__}"
    raise DecodeError(msg)


def parse_catalog(body: Any) -> list[str]:
    """Return the dataclass names of a ``$catalog`` answer."""
    if not isinstance(body, Mapping) or not isinstance(body.get("dataClasses"), list):
        msg = "the catalog has no dataClasses array"
        raise DecodeError(msg)
    names: list[str] = []
    for item in body["dataClasses"]:
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str):
            msg = f"catalog entry without a name: {item!r}"
            raise DecodeError(msg)
        names.append(name)
    return names


def parse_schema(body: Any, table: str) -> TableSchema:
    """Return the schema of ``table`` from ``$catalog/{Table}`` (or ``$catalog/$all``)."""
    entry: Any = body
    if isinstance(body, Mapping) and isinstance(body.get("dataClasses"), list):
        entry = next(
            (d for d in body["dataClasses"] if isinstance(d, Mapping) and d.get("name") == table),
            None,
        )
    if not isinstance(entry, Mapping) or not isinstance(entry.get("attributes"), list):
        msg = f"the catalog of {table} has no attributes array"
        raise DecodeError(msg)
    specs: dict[str, AttributeSpec] = {}
    for item in entry["attributes"]:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            msg = f"catalog attribute without a name: {item!r}"
            raise DecodeError(msg)
        specs[item["name"]] = AttributeSpec(
            name=item["name"],
            kind=str(item.get("kind", "storage")),
            type=str(item.get("type", "string")),
            simple_date=bool(item.get("simpleDate", False)),
            related_table=TableSchema.related_table_of(item),
            indexed=item.get("indexed") is True,
            foreign_key=_text_or_none(item.get("foreignKey")),
            inverse=_text_or_none(item.get("inverseName")),
        )
    keys = entry.get("key")
    primary = (
        [k["name"] for k in keys if isinstance(k, Mapping) and isinstance(k.get("name"), str)]
        if isinstance(keys, list)
        else []
    )
    if not primary:
        # v17 catalogs flag the key attribute instead of listing it under "key".
        primary = [
            str(i["name"])
            for i in entry["attributes"]
            if isinstance(i, Mapping) and i.get("identifying") is True
        ]
    return TableSchema(table=table, attributes=specs, primary_key=primary)
