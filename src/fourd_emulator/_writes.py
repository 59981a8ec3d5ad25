"""The write side: ``$method=update`` (saves, creates, atomic batches), deletes, the audit.

The rules are the coercion of sent values, the defaults of creates and the stale-stamp
errors; the answers' shapes by version are in ``_envelopes.py``.
"""

from __future__ import annotations

from typing import Any

import orjson

from fourd_emulator._envelopes import ItemResult, batch_answer, saved_entity
from fourd_emulator._errors import (
    ENTITY_KEY_NOT_FOUND,
    ENTITY_NOT_FOUND,
    INCOMPATIBLE_TYPES,
    INVALID_PARAMETER,
    UNKNOWN_ATTRIBUTE,
    FourDError,
    entry,
)
from fourd_emulator._http import Request, Response, content_length, error, json_answer
from fourd_emulator._schema import NUMERIC_TYPES, STRING_TYPES, AttributeSpec
from fourd_emulator._state import State
from fourd_emulator._store import GLOBAL_STAMP, Table, assemble
from fourd_emulator._values import (
    iso_ms,
    ms_since_midnight,
    ordinal_to_wire,
    parse_date_constant,
    utc_date,
    wire_date,
)

__all__ = ["Writes", "as_int", "coerce", "default_value", "stamp_errors"]

_NOT_JSON: Any = object()


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


class Writes:
    """Applies updates under ``write_lock`` and the table's lock, then counts under ``lock``."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._config = state.config

    def update(self, req: Request, table: Table) -> Response:
        """``POST /rest/{Table}?$method=update``: save or create one entity or an array."""
        length = content_length(req.environ)
        if length > self._config.max_request_size:
            msg = (
                f"The request size ({length} bytes) exceeds the maximum request size "
                f"({self._config.max_request_size} bytes)"
            )
            return error(413, [entry(None, msg, "http")])
        body = req.environ["wsgi.input"].read(length) if length else b""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = _NOT_JSON
        if not isinstance(payload, (dict, list)) or (isinstance(payload, list) and not payload):
            msg = "The body of $method=update must be a JSON object or a non-empty array"
            return error(500, [entry(INVALID_PARAMETER, msg, "dbrq")])
        atomic = req.query.get("$atomic", "").lower() == "true"
        items = payload if isinstance(payload, list) else [payload]
        user = req.session.user if req.session is not None else ""
        with self._state.write_lock, table.lock:
            results, audit = self._apply_all(table, items, atomic=atomic, user=user)
            applied = all(r.ok for r in results) or not atomic
            request_id = req.environ.get("HTTP_X_REQUEST_ID")
            with self._state.lock:
                if applied:
                    for a in audit:
                        a["request_id"] = str(request_id) if request_id else None
                        a["seq"] = len(self._state.audit) + 1
                        self._state.audit.append(a)
                    self._state.stats.add("writes_applied", len(audit))
                    self._state.stats.add(
                        "entities_created", sum(a["action"] == "create" for a in audit)
                    )
                    self._state.global_stamp += len(audit)
                self._state.stats.add(
                    "stamp_conflicts", sum("__STATUS" in r.body for r in results if not r.ok)
                )
        if isinstance(payload, dict):
            r = results[0]
            return json_answer(200 if r.ok else r.status, r.body)
        return batch_answer(self._config.fourd_version, results, atomic=atomic)

    def delete(self, req: Request, table: Table, key: str) -> Response:
        """``POST /rest/{Table}({key})?$method=delete``: drop one entity, answer ``{"ok": true}``.

        4D's delete takes no stamp. An unknown (or already deleted) key is the 404 / 1800 of
        ``{Table}({key})``: the entity named in the URL cannot be found.
        """
        user = req.session.user if req.session is not None else ""
        with self._state.write_lock, table.lock:
            i = table.index_of(key)
            if i is None:
                msg = (
                    f'Cannot find an entity with "{key}" as primary key in the dataclass '
                    f"{table.name}"
                )
                return error(404, [entry(ENTITY_NOT_FOUND, msg, "dbmg")])
            rec = table.record(i)
            table.delete(i)
            now = self._state.now()
            request_id = req.environ.get("HTTP_X_REQUEST_ID")
            with self._state.lock:
                self._state.audit.append(
                    {
                        "time": iso_ms(now),
                        "action": "delete",
                        "table": table.name,
                        "key": rec["__KEY"],
                        "stamp_before": rec["__STAMP"],
                        "stamp_after": None,
                        "values": {},
                        "user": user,
                        "request_id": str(request_id) if request_id else None,
                        "seq": len(self._state.audit) + 1,
                    }
                )
                self._state.stats.add("entities_deleted")
                self._state.global_stamp += 1
                self._state.db.record_delete(
                    table, rec["__KEY"], self._state.global_stamp, iso_ms(now)
                )
        return json_answer(200, {"ok": True})

    def _apply_all(
        self, table: Table, items: list[Any], *, atomic: bool, user: str
    ) -> tuple[list[ItemResult], list[dict[str, Any]]]:
        undo: list[tuple[int, bytes]] = []
        count_before = table.count()
        results: list[ItemResult] = []
        audit: list[dict[str, Any]] = []
        for item in items:
            results.append(self._apply_one(table, item, user, undo, audit))
        if atomic and not all(r.ok for r in results):
            for i, old in reversed(undo):
                table.put(i, old)
            table.truncate(count_before)
            audit.clear()
            # Report what the entities look like now that nothing was saved.
            for r in results:
                key = r.body.get("__KEY")
                if r.ok:
                    pos = table.index_of(str(key)) if key is not None else None
                    r.body = (
                        self._reply(table, table.record(pos), None)
                        if pos is not None
                        else {"__KEY": None}
                    )
        return results, audit

    def _apply_one(
        self,
        table: Table,
        item: Any,
        user: str,
        undo: list[tuple[int, bytes]],
        audit: list[dict[str, Any]],
    ) -> ItemResult:
        if not isinstance(item, dict):
            msg = "Each entity of $method=update must be a JSON object"
            e = [entry(INVALID_PARAMETER, msg, "dbrq")]
            return ItemResult(False, 500, {"__ERROR": e}, e)
        key = item.get("__KEY")
        values_in = {k: v for k, v in item.items() if not k.startswith("__")}
        try:
            values = {k: coerce(table, k, v) for k, v in values_in.items()}
        except FourDError as exc:
            body: dict[str, Any] = {"__ERROR": exc.entries}
            if key is not None:
                body = {"__KEY": str(key), **body}
            return ItemResult(False, exc.status, body, exc.entries)
        now = self._state.now()
        if key is None:
            return self._create(table, values, now, user, audit)
        i = table.index_of(str(key))
        if i is None:
            # An update of a missing (deleted) entity is 1542, not the 1800 of a read.
            msg = f'Cannot find entity with "{key}" key in the "{table.name}" dataclass'
            e = [entry(ENTITY_KEY_NOT_FOUND, msg, "dbmg")]
            return ItemResult(False, 404, {"__KEY": str(key), "__ERROR": e}, e)
        old = table.row_bytes(i)
        rec: dict[str, Any] = orjson.loads(old)
        stamp = as_int(item.get("__STAMP"))
        if stamp is not None and stamp != rec["__STAMP"]:
            e = stamp_errors(table.name, i)
            body = {
                "__STATUS": {"status": 2, "statusText": "Stamp has changed", "success": False},
                **rec,
                "__ERROR": e,
            }
            return ItemResult(False, self._config.stamp_conflict_status, body, e)
        before = rec["__STAMP"]
        rec.update(values)
        # What 4D's triggers (pyERP's modified_*) and its replication (__GlobalStamp) set on
        # a save; a value the write sends itself is kept.
        if table.tracked:
            rec[GLOBAL_STAMP] = self._state.global_stamp + len(audit) + 1
        # modified_name is not the session's user: a login name is a secret that the
        # cassette recorder scrubs, and 4D's REST process writes its own name anyway.
        stamped = {
            "modified_name": "REST",
            "modified_date": wire_date(utc_date(now)),
            "modified_time": ms_since_midnight(now),
        }
        rec.update((k, v) for k, v in stamped.items() if k in table.attributes and k not in values)
        rec["__STAMP"] = before + 1
        rec["__TIMESTAMP"] = iso_ms(now)
        new = assemble(table.spec, rec["__KEY"], rec["__TIMESTAMP"], rec["__STAMP"], rec)
        undo.append((i, old))
        table.put(i, orjson.dumps(new))
        audit.append(
            {
                "time": iso_ms(now),
                "action": "update",
                "table": table.name,
                "key": rec["__KEY"],
                "stamp_before": before,
                "stamp_after": before + 1,
                "values": values,
                "user": user,
            }
        )
        return ItemResult(True, 200, self._reply(table, new, now))

    def _create(
        self,
        table: Table,
        values: dict[str, Any],
        now: float,
        user: str,
        audit: list[dict[str, Any]],
    ) -> ItemResult:
        key = table.new_key()
        full: dict[str, Any] = {
            a.name: default_value(a) for a in table.spec.attributes if a.kind == "storage"
        }
        if "UID" in full:
            full["UID"] = key
        if "ID" in full and table.spec.numeric_key is not None and key.isdigit():
            full["ID"] = int(key)
        if "created_name" in full:
            full |= {
                "created_name": user or "REST",
                "created_date": wire_date(utc_date(now)),
                "created_time": ms_since_midnight(now),
                "modified_name": None,
                "modified_date": None,
                "modified_time": None,
            }
        full.update(values)
        if table.tracked:
            full[GLOBAL_STAMP] = self._state.global_stamp + len(audit) + 1
        new = assemble(table.spec, key, iso_ms(now), 1, full)
        table.append(orjson.dumps(new), key)
        audit.append(
            {
                "time": iso_ms(now),
                "action": "create",
                "table": table.name,
                "key": key,
                "stamp_before": None,
                "stamp_after": 1,
                "values": values,
                "user": user,
            }
        )
        return ItemResult(True, 200, self._reply(table, new, now))

    def _reply(self, table: Table, record: dict[str, Any], now: float | None) -> dict[str, Any]:
        cfg = self._config
        return saved_entity(
            cfg.fourd_version, quirks=cfg.quirks, table=table.name, record=record, now=now
        )
