"""The read side of the REST API: ``$info``, ``$catalog``, collections, entity sets, entities.

Selection (``$filter``, ``$orderby``), paging (``$top``/``$limit``, ``$skip``) and projection
(``$attributes``) are decided here; the envelopes are shaped by ``_envelopes.py``.
"""

from __future__ import annotations

from typing import Any

import orjson

from fourd_emulator._envelopes import catalog_answer, catalog_class, entity_answer, page_answer
from fourd_emulator._errors import (
    ENTITY_NOT_FOUND,
    ENTITY_SET_NOT_FOUND,
    INCOMPATIBLE_TYPES,
    INVALID_PARAMETER,
    QUERY_SYNTAX,
    FourDError,
    entry,
)
from fourd_emulator._filter import compile_filter, parse_params, resolve_attribute
from fourd_emulator._http import Request, Response, json_answer, unknown_table
from fourd_emulator._schema import NUMERIC_TYPES, STRING_TYPES, AttributeSpec
from fourd_emulator._state import EntitySet, State
from fourd_emulator._store import ColumnKey, Table
from fourd_emulator._values import iso_ms

__all__ = ["Reads"]


class Reads:
    """Answers the read requests from the shared state (rows are read without a lock)."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._config = state.config
        self._db = state.db

    def table(self, name: str) -> Table:
        """The served table ``name`` (404 / 1801 when there is none)."""
        table = self._db.tables.get(name)
        if table is None:
            raise unknown_table(name)
        return table

    def info(self) -> Response:
        """``GET /rest/$info``: cache figures, live entity sets and sessions."""
        with self._state.lock:
            self._state.purge(full=True)
            sessions = [
                {
                    "sessionID": s.id,
                    "userName": s.user,
                    "lifeTime": round(s.lifetime / 60),
                    "expiration": iso_ms(s.expires),
                }
                for s in self._state.sessions
            ]
            sets = [
                {
                    "id": e.id,
                    "tableName": e.table,
                    "selectionSize": len(e.indexes),
                    "sorted": e.sorted,
                    "refreshed": iso_ms(e.last_used),
                    "expires": iso_ms(e.expires),
                }
                for e in self._state.entity_sets.values()
            ]
        used = sum(t.materialized_rows() for t in self._db.tables.values()) * 1500
        info: dict[str, Any] = {
            "cacheSize": max(209715200, used * 2),
            "usedCache": used,
            "entitySetCount": len(sets),
        }
        if sets:
            info["entitySet"] = sets  # real servers leave the list out when there is none
        info |= {
            "ProgressInfo": [
                {"UserInfo": p, "SessionCount": 0, "Title": "", "CanInterrupt": p != "flush"}
                for p in ("indexProgressIndicator", "flushProgressIndicator")
            ],
            "sessionInfo": sessions,
            "HTTPConnections": [],
        }
        return json_answer(200, info)

    def catalog(self, what: str) -> Response:
        """``$catalog`` (``what`` empty), ``$catalog/$all`` or ``$catalog/{Table}``."""
        version = self._config.fourd_version
        tables = self._db.tables

        def entry_of(t: Table) -> dict[str, Any]:
            return catalog_class(version, t, list(tables).index(t.name) + 1)

        def wrapped(classes: list[dict[str, Any]]) -> Response:
            return catalog_answer(version, classes, self._state.new_id)

        if what == "":
            names = [
                {"name": n, "uri": f"/rest/$catalog/{n}", "dataURI": f"/rest/{n}"}
                for n in self._db.tables
            ]
            return wrapped(names)
        if what == "$all":
            return wrapped([entry_of(t) for t in self._db.tables.values()])
        return wrapped([entry_of(self.table(what))])

    def collection(self, req: Request, table: Table, path_attrs: str) -> Response:
        """``GET /rest/{Table}``: a page of the selection, or a new entity set and its page."""
        projection = self._projection(table, req, path_attrs)
        indexes, is_sorted = self._select(req, table)
        method = req.query.get("$method")
        if method == "entityset":
            timeout = self._float_param(req, "$timeout", self._config.entity_set_timeout)
            snapshot = list(range(table.count())) if indexes is None else indexes
            snapshot = table.live(snapshot) or []
            es = EntitySet(
                self._state.new_id(), table.name, snapshot, timeout, self._state.now(), is_sorted
            )
            with self._state.lock:
                self._state.purge(full=True)
                self._state.entity_sets[es.id] = es
                self._state.stats.add("entity_sets_created")
            uri = f"/rest/{table.name}/$entityset/{es.id}"
            return self._page(table, req, snapshot, projection, entity_set=uri)
        if method not in {None, ""}:
            msg = f"Unsupported $method {method!r}"
            raise FourDError(500, [entry(INVALID_PARAMETER, msg, "dbrq")])
        return self._page(table, req, indexes, projection)

    def entity_set(self, req: Request, table: Table, set_id: str) -> Response:
        """``/rest/{Table}/$entityset/{id}``: a page of the snapshot, or its release."""
        with self._state.lock:
            self._state.purge(full=True)
            es = self._state.entity_sets.get(set_id)
            if es is None or es.table != table.name:
                msg = f'The entity set "{set_id}" does not exist or has expired'
                raise FourDError(404, [entry(ENTITY_SET_NOT_FOUND, msg, "dbmg")])
            if req.query.get("$method") == "release":
                del self._state.entity_sets[set_id]
                return json_answer(200, {"ok": True})
            es.last_used = self._state.now()
        projection = self._projection(table, req, "")
        # Only the answer that creates a set names it; its pages do not repeat __ENTITYSET.
        return self._page(table, req, es.indexes, projection)

    def entity(self, req: Request, table: Table, key: str, path_attrs: str) -> Response:
        """``GET /rest/{Table}({key})``: one entity (404 / 1800 when there is none)."""
        i = table.index_of(key)
        if i is None:
            msg = f'Cannot find an entity with "{key}" as primary key in the dataclass {table.name}'
            raise FourDError(404, [entry(ENTITY_NOT_FOUND, msg, "dbmg")])
        projection = self._projection(table, req, path_attrs)
        raw = table.row_bytes(i)
        if projection is not None:
            raw = _project(raw, projection)
        expand = self._expansion(table, req)
        if expand:
            raw = self._expand(raw, expand)
        with self._state.lock:
            self._state.stats.add("rows_sent")
        return entity_answer(self._config.fourd_version, table.name, raw)

    def _page(
        self,
        table: Table,
        req: Request,
        indexes: list[int] | None,
        projection: list[str] | None,
        entity_set: str | None = None,
    ) -> Response:
        top = self._int_param(req, ("$top", "$limit"), self._config.default_top, table.name)
        skip = self._int_param(req, ("$skip",), 0, table.name) or 0
        top = self._config.default_top if top is None else top
        if indexes is None:
            count = table.count()
            rows = table.slice_bytes(skip, skip + top) if skip < count else []
        else:
            count = len(indexes)
            # An entity set keeps its positions; an entity deleted since is left out.
            window = [i for i in indexes[skip : skip + top] if i not in table.deleted]
            rows = table.rows_bytes(window)
        if projection is not None:
            rows = [_project(raw, projection) for raw in rows]
        expand = self._expansion(table, req)
        if expand:
            rows = [self._expand(raw, expand) for raw in rows]
        with self._state.lock:
            self._state.stats.add("rows_sent", len(rows))
            gstamp = self._state.global_stamp
        return page_answer(
            self._config.fourd_version,
            table.name,
            entity_set=entity_set,
            global_stamp=gstamp,
            count=count,
            first=skip,
            rows=rows,
        )

    def _select(self, req: Request, table: Table) -> tuple[list[int] | None, bool]:
        """Return matching row indexes in order (None: all, natural order) and whether sorted."""
        indexes: list[int] | None = None
        text = req.query.get("$filter")
        if text is not None and text.strip():
            text = text.strip()
            if len(text) >= 2 and text[0] == text[-1] == "'" and '"' not in text[1:-1]:
                text = text[1:-1]
            if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and text.count('"') == 2:
                # $filter="Nummer=803721": 4D accepts the whole filter in quotes.
                text = text[1:-1]
            params = parse_params(req.query.get("$params"), table.name)
            pred = compile_filter(table, text, params, quirks=self._config.quirks)
            indexes = pred.select(table)
        indexes = table.live(indexes)
        order = req.query.get("$orderby")
        if order is not None and order.strip():
            if indexes is None:
                indexes = list(range(table.count()))
            indexes = self._sort(table, indexes, order)
            return indexes, True
        return indexes, False

    def _sort(self, table: Table, indexes: list[int], raw: str) -> list[int]:
        keys: list[tuple[ColumnKey, bool]] = []
        for part in raw.strip().strip("\"'").split(","):
            words = part.split()
            if (
                not words
                or len(words) > 2
                or (len(words) == 2 and words[1].lower() not in {"asc", "desc"})
            ):
                msg = f"Invalid $orderby {raw!r}"
                raise FourDError.query(QUERY_SYNTAX, msg, table=table.name)
            attr = resolve_attribute(table, words[0])
            kind = _sort_kind(attr)
            if kind is None:
                msg = f'Cannot order by the {attr.type} attribute "{attr.name}"'
                raise FourDError.query(INCOMPATIBLE_TYPES, msg, table=table.name)
            keys.append(((attr.name, kind), len(words) == 2 and words[1].lower() == "desc"))
        cols = table.columns([k for k, _ in keys])
        out = list(indexes)
        for key, desc in reversed(keys):
            col = cols[key]
            out.sort(key=lambda i, c=col: (c[i] is not None, c[i]), reverse=desc)  # type: ignore[misc]
        return out

    def _projection(self, table: Table, req: Request, path_attrs: str) -> list[str] | None:
        raw = req.query.get("$attributes") or path_attrs
        if not raw:
            return None
        names = [n.strip() for n in raw.strip("\"'").split(",") if n.strip()]
        for n in names:
            resolve_attribute(table, n)
        return names

    def _expansion(self, table: Table, req: Request) -> list[AttributeSpec]:
        """The relations of ``$expand`` (1203 for an unknown name, 1202-like 500 for a field)."""
        raw = req.query.get("$expand")
        if not raw:
            return []
        specs: list[AttributeSpec] = []
        for name in (n.strip() for n in raw.strip("\"'").split(",")):
            if not name:
                continue
            attr = resolve_attribute(table, name)
            if attr.kind not in {"relatedEntity", "relatedEntities"}:
                msg = f'"{name}" is not a relation attribute of {table.name}: cannot expand it'
                raise FourDError(500, [entry(INVALID_PARAMETER, msg, "dbrq")])
            specs.append(attr)
        return specs

    def _expand(self, raw: bytes, relations: list[AttributeSpec]) -> bytes:
        """Inline each N->1 related entity of the row, as 4D does for ``$expand``.

        The related entity comes whole, its own relations deferred (captures
        ``collection__ios_v18_table_link_expanded``, ``entity__qodly_orders1_purchaser_expanded``).
        1->N relations stay deferred here (4D nests a page of them; not emulated), as
        does a link to a table the emulator does not serve.
        """
        rec = orjson.loads(raw)
        for attr in relations:
            link = rec.get(attr.name)
            if attr.kind != "relatedEntity" or not isinstance(link, dict):
                continue
            key = link.get("__deferred", {}).get("__KEY")
            target = self._db.tables.get(attr.target or "")
            i = None if target is None or key is None else target.index_of(str(key))
            if target is not None and i is not None:
                rec[attr.name] = orjson.loads(target.row_bytes(i))
        return orjson.dumps(rec)

    def _int_param(
        self, req: Request, names: tuple[str, ...], default: int | None, table: str
    ) -> int | None:
        for name in names:
            raw = req.query.get(name)
            if raw is None or raw == "":
                continue
            try:
                value = int(raw.strip().strip("\"'"))
            except ValueError:
                value = -1
            if value < 0:
                msg = f"Invalid value {raw!r} for {name}"
                raise FourDError(500, [entry(INVALID_PARAMETER, msg, "dbrq")])
            return value
        return default

    def _float_param(self, req: Request, name: str, default: float) -> float:
        raw = req.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value < 0:
            msg = f"Invalid value {raw!r} for {name}"
            raise FourDError(500, [entry(INVALID_PARAMETER, msg, "dbrq")])
        return value


def _project(raw: bytes, names: list[str]) -> bytes:
    rec = orjson.loads(raw)
    out = {"__KEY": rec["__KEY"], "__TIMESTAMP": rec["__TIMESTAMP"], "__STAMP": rec["__STAMP"]}
    for n in names:
        out[n] = rec.get(n)
    return orjson.dumps(out)


def _sort_kind(attr: AttributeSpec) -> str | None:
    if attr.kind != "storage":
        return None
    if attr.type in STRING_TYPES:
        return "fold"
    if attr.type == "date":
        return "date"
    if attr.type in NUMERIC_TYPES or attr.type == "bool":
        return "raw"
    return None
