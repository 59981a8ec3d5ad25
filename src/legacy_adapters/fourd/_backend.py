"""FourDBackend: the 4D REST adapter as one object implementing TableReader and FieldWriter.

Composes the exchange (session cookie, 401-once, error mapping), the reader and the
writer over one :class:`~legacy_adapters.fourd.Transport`. Nothing connects at
construction time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from legacy_core._steps import Steps
from legacy_core.budget import RequestBudget
from legacy_core.clock import SystemClock
from legacy_core.model import Environment, FieldUpdate, Page, Query, Record, WriteResult
from legacy_core.ports import Clock, SessionProvider
from legacy_core.schema import TableSchema

from ._async_transport import AsyncTransport, HttpxAsyncTransport
from ._exchange import Exchange
from ._reader import FourDReader
from ._transport import RequestsTransport, Transport
from ._writer import FourDWriter

__all__ = ["FourDBackend"]


def _default_environment(environments: Mapping[str, Environment]) -> str:
    if "live" in environments:
        return "live"
    return next(iter(environments), "live")


@attrs.define(repr=False)
class FourDBackend:
    """Reads and writes 4D tables over REST with the environment's shared session.

    ``default_environment`` is where a :class:`~legacy_core.model.FieldUpdate` without an
    environment goes (``live`` when configured, else the first environment).
    """

    environments: Mapping[str, Environment]
    sessions: SessionProvider
    transport: Transport | AsyncTransport
    page_size_limit: int | None = None
    max_request_size: int = 2_000_000
    default_environment: str | None = None
    schema_ttl: float = 3600.0
    """Seconds a table's schema (``$catalog/{Table}``) is cached per environment."""
    clock: Clock | None = None
    """The clock of the schema cache (the client's; the system clock when None)."""
    budget: RequestBudget | None = None
    """The shared request budget every request takes a permit of (None: no limit)."""
    _exchange: Exchange = attrs.field(init=False)
    _reader: FourDReader = attrs.field(init=False)
    _writer: FourDWriter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # As many requests in flight per environment as the transport has connections.
        in_flight = (
            self.transport.pool_size
            if isinstance(self.transport, (RequestsTransport, HttpxAsyncTransport))
            else 16
        )
        self._exchange = Exchange(
            self.environments,
            self.sessions,
            self.transport,
            max_in_flight=in_flight,
            budget=self.budget,
        )
        self._reader = FourDReader(
            self._exchange,
            page_size_limit=self.page_size_limit,
            schema_ttl=self.schema_ttl,
            clock=self.clock or SystemClock(),
        )
        self._writer = FourDWriter(
            self._exchange,
            default_environment=self.default_environment or _default_environment(self.environments),
            max_request_size=self.max_request_size,
        )

    # TableReader
    def read_page(self, query: Query) -> Page:
        """One page of ``query`` (collection or entity-set window)."""
        return self._reader.read_page(query)

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        """One entity by ``__KEY`` (decoded when ``typed``); RecordNotFound if there is none."""
        return self._reader.get_record(environment, table, key, typed=typed)

    def tables(self, environment: str) -> list[str]:
        """Return the table names of ``environment``."""
        return self._reader.tables(environment)

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        """Open an entity set for ``query`` and return its first page."""
        return self._reader.open_snapshot(query, timeout)

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        """Release an entity set (unknown ones are ignored)."""
        self._reader.release_snapshot(environment, table, entity_set)

    # SteppedReader / SteppedWriter / SteppedHealthProbe: the same, as sans-I/O steps
    def read_page_steps(self, query: Query) -> Steps[Page]:
        """Steps of :meth:`read_page`."""
        return self._reader.read_page_steps(query)

    def get_record_steps(
        self, environment: str, table: str, key: str, *, typed: bool = False
    ) -> Steps[Record]:
        """Steps of :meth:`get_record`."""
        return self._reader.get_record_steps(environment, table, key, typed=typed)

    def tables_steps(self, environment: str) -> Steps[list[str]]:
        """Steps of :meth:`tables`."""
        return self._reader.tables_steps(environment)

    def open_snapshot_steps(self, query: Query, timeout: float) -> Steps[Page]:
        """Steps of :meth:`open_snapshot`."""
        return self._reader.open_snapshot_steps(query, timeout)

    def release_snapshot_steps(self, environment: str, table: str, entity_set: str) -> Steps[None]:
        """Steps of :meth:`release_snapshot`."""
        return self._reader.release_snapshot_steps(environment, table, entity_set)

    def describe_steps(self, environment: str, table: str) -> Steps[TableSchema]:
        """Steps of :meth:`describe`."""
        return self._reader.describe_steps(environment, table)

    def info_steps(self, environment: str) -> Steps[dict[str, Any]]:
        """Steps of :meth:`info`."""
        return self._reader.info_steps(environment)

    def write_steps(
        self, updates: Sequence[FieldUpdate], *, atomic: bool = False
    ) -> Steps[list[WriteResult]]:
        """Steps of :meth:`write`."""
        return self._writer.write_steps(updates, atomic=atomic)

    def create_steps(self, environment: str, table: str, values: Record) -> Steps[WriteResult]:
        """Steps of :meth:`create`."""
        return self._writer.create_steps(environment, table, values)

    def create_many_steps(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> Steps[list[WriteResult]]:
        """Steps of :meth:`create_many`."""
        return self._writer.create_many_steps(environment, table, rows)

    def delete_steps(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> Steps[None]:
        """Steps of :meth:`delete`."""
        return self._writer.delete_steps(environment, table, key, expected_stamp=expected_stamp)

    # FieldWriter
    def write(self, updates: Sequence[FieldUpdate], *, atomic: bool = False) -> list[WriteResult]:
        """Apply ``updates`` in batches under ``max_request_size``."""
        return self._writer.write(updates, atomic=atomic)

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        """Create one entity."""
        return self._writer.create(environment, table, values)

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        """Create entities in batches under ``max_request_size``."""
        return self._writer.create_many(environment, table, rows)

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        """Delete one entity (``$method=delete``), with ``expected_stamp`` only if unchanged."""
        self._writer.delete(environment, table, key, expected_stamp=expected_stamp)

    # SchemaReader
    def describe(self, environment: str, table: str) -> TableSchema:
        """The schema of ``table`` from ``$catalog/{Table}``, cached for ``schema_ttl``."""
        return self._reader.describe(environment, table)

    # Extras
    def info(self, environment: str) -> dict[str, Any]:
        """``GET /rest/$info`` (health)."""
        return self._reader.info(environment)

    def schema(self, environment: str, table: str) -> dict[str, str]:
        """``attribute -> 4D type`` of ``table``, cached per environment."""
        return self._reader.schema(environment, table)

    def close(self) -> None:
        """Close the transport's pooled connections (an async one: use :meth:`aclose`)."""
        if isinstance(self.transport, Transport):
            self.transport.close()

    async def aclose(self) -> None:
        """Close the transport's pooled connections on the running event loop."""
        if isinstance(self.transport, AsyncTransport):
            await self.transport.aclose()
        else:
            self.transport.close()

    def __repr__(self) -> str:
        return f"<FourDBackend environments={sorted(self.environments)}>"
