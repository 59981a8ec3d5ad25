"""The 4D answers' shapes by ``fourd_version``: pages, entities, catalogs and update answers.

Envelope keys by version as the real captures show them (docs/emulator.md, ADR 0019); what
goes into them (selection, rows, saves) is decided by the reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import orjson

from fourd_emulator._http import Response, json_answer
from fourd_emulator._store import Table
from fourd_emulator._values import update_stamp_date

__all__ = [
    "ItemResult",
    "batch_answer",
    "catalog_answer",
    "catalog_class",
    "entity_answer",
    "page_answer",
    "saved_entity",
]


@attrs.define
class ItemResult:
    """One entity's outcome in an update: saved or not, its status, its body, its errors."""

    ok: bool
    status: int
    body: dict[str, Any]
    entries: list[dict[str, Any]] = attrs.field(factory=list)


def page_answer(
    version: int,
    table: str,
    *,
    entity_set: str | None,
    global_stamp: int,
    count: int,
    first: int,
    rows: Sequence[bytes],
) -> Response:
    """A collection page of pre-encoded ``rows`` (only a set's creation names ``__ENTITYSET``)."""
    name = orjson.dumps(table)
    head = b'{"__ENTITYSET":' + orjson.dumps(entity_set) + b"," if entity_set else b"{"
    if version >= 20:
        head += b'"__DATACLASS":' + name + b","
    head += b'"__entityModel":' + name
    if version >= 18:
        head += b',"__GlobalStamp":%d' % global_stamp
    body = b"".join(
        (
            head,
            b',"__COUNT":%d,"__FIRST":%d,"__SENT":%d,"__ENTITIES":[' % (count, first, len(rows)),
            b",".join(rows),
            b"]}",
        )
    )
    return Response(200, body)


def entity_answer(version: int, table: str, raw: bytes) -> Response:
    """One entity (``raw``: its encoded record) under ``__entityModel`` (v20: ``__DATACLASS``)."""
    name = orjson.dumps(table)
    head = b'{"__entityModel":' + name + b","
    if version >= 20:
        head += b'"__DATACLASS":' + name + b","
    return Response(200, head + raw[1:])


def catalog_class(version: int, t: Table, number: int) -> dict[str, Any]:
    """A dataclass of ``$catalog/$all`` or ``$catalog/{Table}`` (``number``: its table number)."""
    out: dict[str, Any] = {
        "name": t.name,
        "className": t.name,
        "collectionName": f"{t.name}{'Selection' if version >= 18 else 'Collection'}",
    }
    if version >= 18:
        out["tableNumber"] = number
    out |= {
        "scope": "public",
        "dataURI": f"/rest/{t.name}",
        "attributes": [
            a.catalog(version, n, key=a.name == t.spec.key)
            for n, a in enumerate(t.spec.attributes, start=1)
        ],
        "key": [{"name": t.spec.key}],
    }
    return out


def catalog_answer(
    version: int, classes: list[dict[str, Any]], new_id: Callable[[], str]
) -> Response:
    """A catalog answer; ``$catalog/{Table}`` too is a list (of one)."""
    # v18+ stamps every catalog answer with an id (new_id is called only then).
    head: dict[str, Any] = {"__UNIQID": new_id()} if version >= 18 else {}
    return json_answer(200, {**head, "dataClasses": classes})


def saved_entity(
    version: int, *, quirks: bool, table: str, record: dict[str, Any], now: float | None
) -> dict[str, Any]:
    """An entity as an update answers it: ``__KEY``, ``__STAMP``, ``uri``, ``__TIMESTAMP``.

    v20 puts ``"__STATUS": {"success": true}`` first; with quirks the timestamp is the
    day in ``!!YYYY-MM-DD!!`` (``now`` None: an entity reported, not saved, keeps it).
    """
    out: dict[str, Any] = {}
    if version >= 20:
        out["__STATUS"] = {"success": True}
    key = record["__KEY"]
    stamp = record["__TIMESTAMP"]
    if now is not None and quirks:
        stamp = update_stamp_date(now)
    out |= {
        "__KEY": key,
        "__STAMP": record["__STAMP"],
        "uri": f"/rest/{table}({key})",
        "__TIMESTAMP": stamp,
    }
    out.update((k, v) for k, v in record.items() if not k.startswith("__"))
    return out


def batch_answer(version: int, results: Sequence[ItemResult], *, atomic: bool) -> Response:
    """The answer to an array update (shapes of docs/emulator.md, by version)."""
    failed = [r for r in results if not r.ok]
    if not (atomic and failed):
        return json_answer(200, {"__ENTITIES": [r.body for r in results]})
    first = failed[0]
    if version < 20:
        # v17/v18: every entity as it stands, the failing one with its __ERROR.
        return json_answer(first.status, {"__ENTITIES": [r.body for r in results]})
    if "__STATUS" in first.body:
        return json_answer(first.status, first.body)  # a stale stamp: its own answer
    # v20 answers one object: the first entity, then the cause of the failure.
    lead = {k: v for k, v in results[0].body.items() if k != "__ERROR"}
    lead.setdefault("__STATUS", {"success": True})
    return json_answer(first.status, {**lead, "__ERROR": first.entries})
