"""The reading half of the 4D adapter: pages, entity sets, single entities, catalog, schemas.

Builds the 4D REST paths and parameters for a :class:`~legacy_core.model.Query` and
turns answers into pages through the private converter. Requests go through the
:class:`~legacy_adapters.fourd._exchange.Exchange`.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

from legacy_adapters.wire import (
    DecodeError,
    TableSchema,
    parse_catalog,
    parse_entity,
    parse_page,
    parse_schema,
)
from legacy_adapters.wire._requests import (
    catalog_path,
    collection_path,
    entity_path,
    entity_set_path,
    expand_params,
    query_params,
    window_params,
)
from legacy_core._checks import check_text, describe
from legacy_core._steps import Blocking, Steps
from legacy_core.clock import SystemClock
from legacy_core.errors import EntitySetExpired, InvalidQuery, LegacyError, UnknownTable
from legacy_core.model import Page, Query, Record, validate_identifier
from legacy_core.ports import Clock

from ._errors import Context
from ._exchange import Answer, Exchange

__all__ = ["FourDReader", "entity_path", "query_params"]


@attrs.define
class FourDReader:
    """``TableReader`` over 4D REST; schemas (``$catalog/{Table}``) are cached per environment.

    Every read is written once, as steps (``*_steps``, :mod:`legacy_core._steps`); the
    plain methods drive them with blocking I/O and the async client drives the same
    steps on its event loop. A cached schema is fetched again once it is ``schema_ttl``
    seconds old (on ``clock``); ``0`` fetches it for every use.
    """

    exchange: Exchange
    page_size_limit: int | None = None
    schema_ttl: float = 3600.0
    clock: Clock = attrs.field(factory=SystemClock)
    _schemas: dict[tuple[str, str], tuple[TableSchema, float]] = attrs.field(
        init=False, factory=dict
    )
    _schema_lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    # -- the TableReader port, driven with blocking I/O -----------------------------------

    def read_page(self, query: Query) -> Page:
        """One page of ``query``: a collection page, or a window of its entity set."""
        return self.exchange.run(self.read_page_steps(query))

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        """Evaluate the query into an entity set (``$method=entityset``) and return page one."""
        return self.exchange.run(self.open_snapshot_steps(query, timeout))

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        """Release an entity set; an unknown or expired one is not an error."""
        self.exchange.run(self.release_snapshot_steps(environment, table, entity_set))

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        """One entity by ``__KEY`` (decoded when ``typed``); RecordNotFound if there is none."""
        return self.exchange.run(self.get_record_steps(environment, table, key, typed=typed))

    def tables(self, environment: str) -> list[str]:
        """Return the dataclass names from ``$catalog``."""
        return self.exchange.run(self.tables_steps(environment))

    def info(self, environment: str) -> dict[str, Any]:
        """``GET /rest/$info`` with the shared session: the cheap health probe."""
        return self.exchange.run(self.info_steps(environment))

    def schema_of(self, environment: str, table: str) -> TableSchema:
        """Return the schema of ``table`` from ``$catalog/{Table}``, fetched once per env."""
        return self.exchange.run(self.schema_steps(environment, table))

    def describe(self, environment: str, table: str) -> TableSchema:
        """The schema of ``table`` (the SchemaReader port): :meth:`schema_of`."""
        return self.schema_of(environment, table)

    def schema(self, environment: str, table: str) -> dict[str, str]:
        """``attribute -> 4D type`` of ``table`` (cached per environment)."""
        return self.schema_of(environment, table).types()

    # -- the steps ------------------------------------------------------------------------

    def read_page_steps(self, query: Query) -> Steps[Page]:
        """Steps of :meth:`read_page`."""
        self._check_top(query)
        table = query.table
        context: Context
        if query.entity_set is not None:
            path = entity_set_path(table, query.entity_set)
            params = window_params(query)
            if query.attributes:
                params.append(("$attributes", ",".join(query.attributes)))
            params.extend(expand_params(query))
            context = "entityset"
        else:
            path = collection_path(table)
            params = query_params(query) + window_params(query)
            context = "collection"
        answer = yield from self.exchange.call_steps(
            query.environment,
            "GET",
            path,
            params=tuple(params),
            table=table,
            context=context,
            decode=not query.columnar,
        )
        return (yield from self._page(answer, query, context, want_entity_set=False))

    def open_snapshot_steps(self, query: Query, timeout: float) -> Steps[Page]:
        """Steps of :meth:`open_snapshot`."""
        self._check_top(query)
        table = query.table
        params = [
            *query_params(query),
            ("$method", "entityset"),
            ("$timeout", str(max(int(timeout), 1))),
            *window_params(query),
        ]
        answer = yield from self.exchange.call_steps(
            query.environment,
            "GET",
            collection_path(table),
            params=tuple(params),
            table=table,
            context="collection",
            decode=not query.columnar,
        )
        return (yield from self._page(answer, query, "collection", want_entity_set=True))

    def _page(
        self, answer: Answer, query: Query, context: Context, *, want_entity_set: bool
    ) -> Steps[Page]:
        """The page of a collection answer: dicts, or Arrow columns for a columnar query."""
        table = query.table
        schema = (yield from self.schema_steps(query.environment, table)) if query.typed else None
        entity_set = None if want_entity_set else query.entity_set
        expanded = (
            (yield from self._expanded_steps(query.environment, schema, query.expand))
            if schema is not None and query.expand and not query.columnar
            else None
        )
        if query.columnar:
            # CPU-bound: the async driver runs it on a worker thread; pyarrow releases the
            # GIL, so pages decode in parallel (ADR 0025).
            page: Page = yield Blocking(
                lambda: self._columnar_page(answer, query, schema, context, want_entity_set)
            )
            return page
        try:
            return parse_page(
                answer.data,
                skip=query.skip,
                schema=schema,
                typed=query.typed,
                want_entity_set=want_entity_set,
                entity_set=entity_set,
                expanded=expanded,
            )
        except DecodeError as exc:
            raise self.exchange.protocol_error(exc, answer.request, table=table) from None

    def _expanded_steps(
        self, environment: str, schema: TableSchema, names: tuple[str, ...]
    ) -> Steps[dict[str, TableSchema | None]]:
        """The schema of each expanded relation's table (cached like every schema)."""
        out: dict[str, TableSchema | None] = {}
        for name in names:
            spec = schema.attributes.get(name)
            target = spec.related_table if spec is not None and spec.is_relation else None
            out[name] = (yield from self.schema_steps(environment, target)) if target else None
        return out

    def _columnar_page(
        self,
        answer: Answer,
        query: Query,
        schema: TableSchema | None,
        context: Context,
        want_entity_set: bool,
    ) -> Page:
        from legacy_adapters.wire._arrow import arrow_page, entities_table  # noqa: PLC0415
        from legacy_core.columnar import ArrowRecords  # noqa: PLC0415 - pyarrow, on use

        entity_set = None if want_entity_set else query.entity_set
        try:
            page = arrow_page(
                answer.response.body,
                skip=query.skip,
                schema=schema,
                typed=query.typed,
                want_entity_set=want_entity_set,
                entity_set=entity_set,
            )
            if page is not None:
                return page
            # Not a plain regular page: the JSON path maps hidden errors, checks the
            # envelope and builds the columns from the entities (JSON text where mixed).
            data = self.exchange.checked(answer, query.table, context)
            plain = parse_page(
                data,
                skip=query.skip,
                schema=None,
                typed=False,
                want_entity_set=want_entity_set,
                entity_set=entity_set,
            )
            columns = entities_table(plain.records, schema, typed=query.typed)
        except DecodeError as exc:
            raise self.exchange.protocol_error(exc, answer.request, table=query.table) from None
        return attrs.evolve(plain, records=ArrowRecords(columns))

    def release_snapshot_steps(self, environment: str, table: str, entity_set: str) -> Steps[None]:
        """Steps of :meth:`release_snapshot`."""
        validate_identifier(table, "table")
        path = entity_set_path(table, entity_set)
        try:
            yield from self.exchange.call_steps(
                environment,
                "GET",
                path,
                params=(("$method", "release"),),
                table=table,
                context="entityset",
            )
        except EntitySetExpired:
            return  # unknown or expired: already gone

    def get_record_steps(
        self, environment: str, table: str, key: str, *, typed: bool = False
    ) -> Steps[Record]:
        """Steps of :meth:`get_record`."""
        validate_identifier(table, "table")
        if not isinstance(key, str) or not key:
            msg = f"key must be a non-empty str, got {describe(key)}"
            raise InvalidQuery(msg, environment=environment, table=table)
        # A lone surrogate would fail in the transport's percent-encoding instead.
        check_text(key, f"key of {table}", environment=environment, table=table)
        body, request, *_ = yield from self.exchange.call_steps(
            environment, "GET", entity_path(table, key), table=table, context="entity"
        )
        schema = (yield from self.schema_steps(environment, table)) if typed else None
        try:
            return parse_entity(body, schema=schema, typed=typed)
        except DecodeError as exc:
            raise self.exchange.protocol_error(exc, request, table=table) from None

    def tables_steps(self, environment: str) -> Steps[list[str]]:
        """Steps of :meth:`tables`."""
        body, request, *_ = yield from self.exchange.call_steps(
            environment, "GET", catalog_path(), context="catalog"
        )
        try:
            return parse_catalog(body)
        except DecodeError as exc:
            raise self.exchange.protocol_error(exc, request, table=None) from None

    def info_steps(self, environment: str) -> Steps[dict[str, Any]]:
        """Steps of :meth:`info`."""
        body, request, *_ = yield from self.exchange.call_steps(
            environment, "GET", "/rest/$info", context="info"
        )
        if not isinstance(body, dict):
            exc = DecodeError(f"$info answered {type(body).__name__}, not an object")
            raise self.exchange.protocol_error(exc, request, table=None)
        return body

    def describe_steps(self, environment: str, table: str) -> Steps[TableSchema]:
        """Steps of :meth:`describe`."""
        return self.schema_steps(environment, table)

    def schema_steps(self, environment: str, table: str) -> Steps[TableSchema]:
        """Steps of :meth:`schema_of`: the cached schema, or ``$catalog/{Table}`` once per TTL."""
        validate_identifier(table, "table")
        cache_key = (environment, table)
        with self._schema_lock:
            cached = self._schemas.get(cache_key)
        if cached is not None and self.clock.monotonic() - cached[1] < self.schema_ttl:
            return cached[0]
        try:
            body, request, *_ = yield from self.exchange.call_steps(
                environment, "GET", catalog_path(table), table=table, context="catalog"
            )
        except LegacyError as err:
            if err.status == 404 and not isinstance(err, UnknownTable):
                raise UnknownTable(err.message, **_ctx(err)) from None
            raise
        try:
            schema = parse_schema(body, table)
        except DecodeError as exc:
            raise self.exchange.protocol_error(exc, request, table=table) from None
        with self._schema_lock:
            self._schemas[cache_key] = (schema, self.clock.monotonic())
        return schema

    def _check_top(self, query: Query) -> None:
        limit = self.page_size_limit
        if limit is not None and query.top is not None and query.top > limit:
            msg = f"page size {query.top} exceeds this adapter's limit of {limit}"
            raise InvalidQuery(msg, environment=query.environment, table=query.table)


def _ctx(err: LegacyError) -> dict[str, Any]:
    # The base error's fields only: a StampConflict's key/current (or a PartialWrite's
    # outcomes) are not arguments of the error built from it (found by the fuzz tests).
    state = LegacyError._state(err)
    state.pop("transient", None)
    return state
