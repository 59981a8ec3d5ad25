"""The reader and writer contracts driven through the async path (ADR 0024).

An adapter with sans-I/O steps (:class:`~legacy_core.ports.SteppedReader` and
:class:`~legacy_core.ports.SteppedWriter`, as the 4D adapter) is what the
``AsyncLegacyClient`` runs on its event loop. :class:`AsyncContractFixtures` serves the
*same* contract test bodies through that path: every port call's steps run on one event
loop (in a background thread, the :class:`EventLoopPortal`) under the asyncio driver,
with whatever async transport the adapter was built on. Mix it in before the adapter's
fixtures and override ``stepped_backend``::

    class TestMyAsyncReader(AsyncContractFixtures, TableReaderContract, MyFixtures):
        @pytest.fixture
        def stepped_backend(self, my_async_backend): return my_async_backend
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import attrs
import pytest

from legacy_adapters.aio import AsyncioDriver
from legacy_core.model import FieldUpdate, Page, Query, Record, WriteResult
from legacy_core.ports import FieldWriter, SteppedReader, SteppedWriter, TableReader
from legacy_core.schema import TableSchema

from .reader import ContractFixtures

__all__ = ["AsyncContractFixtures", "AsyncStepsPort", "EventLoopPortal"]

T = TypeVar("T")


class EventLoopPortal:
    """One event loop in a daemon thread; :meth:`call` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="legacy-api-portal", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the portal's loop and return its result (or raise its error)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@attrs.define
class AsyncStepsPort:
    """A TableReader and FieldWriter whose every call is the adapter's steps, run async."""

    backend: Any
    portal: EventLoopPortal
    driver: AsyncioDriver = attrs.field(factory=AsyncioDriver)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.backend, SteppedReader) or not isinstance(
            self.backend, SteppedWriter
        ):
            msg = f"{type(self.backend).__name__} has no steps: it cannot run under the driver"
            raise TypeError(msg)

    def _run(self, steps: Any) -> Any:
        return self.portal.call(self.driver.run(steps))

    def read_page(self, query: Query) -> Page:
        """``read_page_steps`` on the event loop."""
        page: Page = self._run(self.backend.read_page_steps(query))
        return page

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        """``get_record_steps`` on the event loop."""
        record: Record = self._run(
            self.backend.get_record_steps(environment, table, key, typed=typed)
        )
        return record

    def tables(self, environment: str) -> list[str]:
        """``tables_steps`` on the event loop."""
        names: list[str] = self._run(self.backend.tables_steps(environment))
        return names

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        """``open_snapshot_steps`` on the event loop."""
        page: Page = self._run(self.backend.open_snapshot_steps(query, timeout))
        return page

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        """``release_snapshot_steps`` on the event loop."""
        self._run(self.backend.release_snapshot_steps(environment, table, entity_set))

    def write(self, updates: Sequence[FieldUpdate], *, atomic: bool = False) -> list[WriteResult]:
        """``write_steps`` on the event loop."""
        results: list[WriteResult] = self._run(self.backend.write_steps(updates, atomic=atomic))
        return results

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        """``create_steps`` on the event loop."""
        created: WriteResult = self._run(self.backend.create_steps(environment, table, values))
        return created

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        """``create_many_steps`` on the event loop."""
        created: list[WriteResult] = self._run(
            self.backend.create_many_steps(environment, table, rows)
        )
        return created

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        """``delete_steps`` on the event loop."""
        self._run(self.backend.delete_steps(environment, table, key, expected_stamp=expected_stamp))

    def describe(self, environment: str, table: str) -> TableSchema:
        """``describe_steps`` on the event loop."""
        schema: TableSchema = self._run(self.backend.describe_steps(environment, table))
        return schema


class AsyncContractFixtures(ContractFixtures):
    """Serves ``reader`` and ``writer`` through the async path; override ``stepped_backend``."""

    @pytest.fixture
    def stepped_backend(self) -> Any:
        """The adapter (with steps, on an async transport) serving CONTRACT_TABLES."""
        raise NotImplementedError("override stepped_backend in the adapter's fixtures")

    @pytest.fixture
    def event_loop_portal(self) -> Iterator[EventLoopPortal]:
        """One event loop for the test (the async transport's connections live on it)."""
        portal = EventLoopPortal()
        yield portal
        portal.close()

    @pytest.fixture
    def reader(self, stepped_backend: Any, event_loop_portal: EventLoopPortal) -> TableReader:
        """The adapter's steps run by the asyncio driver, as a TableReader."""
        return AsyncStepsPort(stepped_backend, event_loop_portal)

    @pytest.fixture
    def writer(self, reader: TableReader) -> FieldWriter:
        """The same port as a FieldWriter."""
        assert isinstance(reader, AsyncStepsPort)
        return reader
