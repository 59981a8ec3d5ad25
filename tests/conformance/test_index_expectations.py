"""The expectations recorded in ``captures/index.json`` hold on the adapter's real path.

Whoever collected the captures wrote down, per body, what a correct client makes of it
(error classes per plausible status, codes, typed values, keys and stamps). This module
applies exactly those notes, independently of the hand-written tables of
``test_decoding.py``, so the two cross-check each other.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
import pytest

from legacy_adapters.fourd import FourDBackend
from legacy_adapters.wire import decode_record
from legacy_core.errors import LegacyError
from legacy_core.model import FieldUpdate, Query

from .captures_support import INDEX, CaptureServer, body_route, catalog_route, load, raw

pytestmark = pytest.mark.integration

WITH_EXPECT = [e for e in INDEX if e.get("expect")]


def _value(note: Any) -> Any:
    """A value as the index writes it: ``date:YYYY-MM-DD``, ``ts:ISO`` or plain JSON."""
    if isinstance(note, str) and note.startswith("date:"):
        return dt.date.fromisoformat(note[5:])
    if isinstance(note, str) and note.startswith("ts:"):
        return dt.datetime.fromisoformat(note[3:])
    return note


def _serve(served: CaptureServer, entry: dict[str, Any], status: int = 200) -> None:
    table = entry.get("table")
    if table:
        if "schema" in entry:
            catalog = raw(entry["schema"])
        else:
            attributes = [{"name": n, **s} for n, s in entry.get("schema_inline", {}).items()]
            catalog = orjson.dumps({"dataClasses": [{"name": table, "attributes": attributes}]})
        served.routes.append(catalog_route(table, catalog))
    served.routes.append(body_route(status, raw(entry["file"])))


def _act(backend: FourDBackend, entry: dict[str, Any]) -> Any:
    """What a client does that gets this body back, by kind (and the index's context)."""
    kind, table = entry["kind"], entry.get("table") or "Client"
    context = entry["expect"].get("context")
    body = load(entry["file"])
    if kind == "collection":
        return backend.read_page(Query("live", table, typed=True)).records
    if kind == "entity":
        return backend.get_record("live", table, body["__KEY"], typed=True)
    if kind == "entityset_created":
        return backend.open_snapshot(Query("live", table, typed=True), timeout=60)
    if kind in {"update_reply"}:
        return backend.create("live", table, {"ID": 1})
    if kind in {"stamp_conflict", "atomic_failure"} or context == "write":
        keys = [e["__KEY"] for e in body.get("__ENTITIES", [])] or [
            str(body.get("__KEY", "1")),
            "x2",
        ]
        updates = [FieldUpdate(table, k, {"ID": 1}, expected_stamp=1) for k in keys[:2]]
        return backend.write(updates, atomic=kind == "atomic_failure")
    if context == "entityset":
        return backend.read_page(
            Query("live", table, entity_set="4C51204DD8184B65AC7D79F09A077F24")
        )
    return backend.read_page(Query("live", table))


def _status_cases() -> list[tuple[str, int, str]]:
    cases = []
    for e in WITH_EXPECT:
        expect = e["expect"]
        for status, names in {**expect.get("class_at", {}), **expect.get("class_also", {})}.items():
            cases.append((e["file"], int(status), names))
    return cases


BY_NAME = {e["file"]: e for e in WITH_EXPECT}


@pytest.mark.parametrize(("name", "status", "classes"), _status_cases())
def test_error_classes(
    name: str, status: int, classes: str, served: CaptureServer, backend: FourDBackend
) -> None:
    """At each status the index lists, the error is one of the classes it names."""
    entry = BY_NAME[name]
    _serve(served, entry, status)
    with pytest.raises(LegacyError) as info:
        _act(backend, entry)
    err = info.value
    allowed = classes.split("|")
    assert any(cls.__name__ in allowed for cls in type(err).__mro__), str(err)
    expect = entry["expect"]
    if "codes" in expect:
        assert tuple(c for c in expect["codes"] if c is not None) == err.codes
    if "current_stamp" in expect:
        assert expect["current_stamp"] == err.current_stamp  # type: ignore[attr-defined]
    if "sent" in expect:
        (sent,) = served.data_requests()
        assert expect["sent"] == len(json.loads(sent.body))


@pytest.mark.parametrize(
    "name",
    [n for n, e in BY_NAME.items() if {"typed", "typed_rows", "entity_set"} & set(e["expect"])],
)
def test_typed_values(name: str, served: CaptureServer, backend: FourDBackend) -> None:
    """The typed values, set ids and row values the index notes come out of the decoder."""
    entry = BY_NAME[name]
    expect = entry["expect"]
    _serve(served, entry)
    got = _act(backend, entry)
    if "entity_set" in expect:
        assert expect["entity_set"] == got.entity_set
        got = got.records
    for attribute, note in expect.get("typed", {}).items():
        assert _value(note) == got[attribute], attribute
    for row, values in expect.get("typed_rows", {}).items():
        for attribute, note in values.items():
            assert _value(note) == got[int(row)][attribute], (row, attribute)


@pytest.mark.parametrize("name", [n for n, e in BY_NAME.items() if "stamp" in e["expect"]])
def test_update_replies(name: str, served: CaptureServer, backend: FourDBackend) -> None:
    """A create's key, stamp and timestamp are the ones the index notes."""
    entry = BY_NAME[name]
    expect = entry["expect"]
    _serve(served, entry)
    result = _act(backend, entry)
    assert (expect["key"], expect["stamp"]) == (result.key, result.stamp)
    if "ts" in expect:
        assert _value(expect["ts"]) == decode_record(result.record, None)["__TIMESTAMP"]


def test_every_expectation_is_applied() -> None:
    """Each expectation key of the index is checked by one of the tests above."""
    applied = {"class_at", "class_also", "codes", "context", "current_stamp", "sent"}
    applied |= {"typed", "typed_rows", "entity_set", "stamp", "key", "ts", "failed_status"}
    assert {k for e in WITH_EXPECT for k in e["expect"]} <= applied
    # failed_status: TestLocks.test_lock_reply in test_decoding.py serves that capture.
    assert ["lock_reply__docs_already_locked.json"] == [
        e["file"] for e in WITH_EXPECT if "failed_status" in e["expect"]
    ]
