"""Test support for the client tests: a fault-injecting fake backend and builders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import structlog

from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_core.clock import ManualClock
from legacy_core.model import FieldUpdate, Page, Query, Record, WriteResult
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

ARTIKEL_ATTRIBUTES = {"Nummer": "long", "Name": "string", "Preis": "number", "Datum": "date"}


def artikel_rows(n: int, start: int = 1) -> list[dict[str, Any]]:
    """``n`` deterministic rows of the test table, keyed by ``Nummer``."""
    return [
        {
            "Nummer": i,
            "Name": f"Artikel {i}",
            "Preis": round(i * 1.25, 2),
            "Datum": f"{1 + i % 28}!{1 + i % 12}!2024",
        }
        for i in range(start, start + n)
    ]


def make_memory(n: int, clock: ManualClock | None = None) -> MemoryBackend:
    """A MemoryBackend with table ``Artikel`` of ``n`` rows in ``live``."""
    backend = MemoryBackend(clock=clock)
    backend.add_table("live", MemoryTable("Artikel", ARTIKEL_ATTRIBUTES, artikel_rows(n), "Nummer"))
    return backend


Fault = BaseException | Callable[[Query], None] | None


@attrs.define
class FaultyBackend:
    """A hand-written fake around MemoryBackend that injects faults and counts calls.

    ``read_faults``/``write_faults`` are consumed one per call: an exception is raised
    instead of calling the inner backend, a callable runs first (to change data or expire
    snapshots mid-read), None passes through.
    """

    inner: MemoryBackend
    max_request_size: int = 2_000_000
    read_faults: list[Fault] = attrs.field(factory=list)
    write_faults: list[Fault] = attrs.field(factory=list)
    calls: Counter[str] = attrs.field(factory=Counter)
    opened: list[str] = attrs.field(factory=list)
    released: list[str] = attrs.field(factory=list)
    contexts: list[dict[str, Any]] = attrs.field(factory=list)
    write_sizes: list[int] = attrs.field(factory=list)
    page_cap: int | None = None
    """Send at most this many rows per page, whatever ``$top`` asked (a capped server)."""

    def _fault(self, faults: list[Fault], query: Any = None) -> None:
        if not faults:
            return
        fault = faults.pop(0)
        if isinstance(fault, BaseException):
            raise fault
        if fault is not None:
            fault(query)

    def read_page(self, query: Query) -> Page:
        self.calls["read_page"] += 1
        self.contexts.append(structlog.contextvars.get_contextvars())
        self._fault(self.read_faults, query)
        if self.page_cap is not None and (query.top is None or query.top > self.page_cap):
            query = query.page(query.skip, self.page_cap)
        return self.inner.read_page(query)

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        self.calls["open_snapshot"] += 1
        self._fault(self.read_faults, query)
        page = self.inner.open_snapshot(query, timeout)
        assert page.entity_set is not None
        self.opened.append(page.entity_set)
        return page

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        self.calls["release_snapshot"] += 1
        self.released.append(entity_set)
        self.inner.release_snapshot(environment, table, entity_set)

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        self.calls["get_record"] += 1
        self._fault(self.read_faults)
        return self.inner.get_record(environment, table, key, typed=typed)

    def tables(self, environment: str) -> list[str]:
        self.calls["tables"] += 1
        self._fault(self.read_faults)
        return self.inner.tables(environment)

    def write(self, updates: Sequence[FieldUpdate], *, atomic: bool = False) -> list[WriteResult]:
        self.calls["write"] += 1
        self.write_sizes.append(len(updates))
        self._fault(self.write_faults)
        return self.inner.write(updates, atomic=atomic)

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        self.calls["create"] += 1
        self._fault(self.write_faults)
        return self.inner.create(environment, table, values)

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        self.calls["create_many"] += 1
        self.write_sizes.append(len(rows))
        self._fault(self.write_faults)
        return self.inner.create_many(environment, table, rows)

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        self.calls["delete"] += 1
        self._fault(self.write_faults)
        self.inner.delete(environment, table, key, expected_stamp=expected_stamp)


def make_client(backend: Any, clock: ManualClock, **kwargs: Any) -> LegacyClient:
    """A client on ``backend`` with retries and breaker driven by ``clock``."""
    kwargs.setdefault("retry", RetryPolicy(attempts=4, clock=clock))
    kwargs.setdefault(
        "breakers", lambda name: CircuitBreaker(name=name, failure_threshold=5, clock=clock)
    )
    kwargs.setdefault("page_size", 40)
    return LegacyClient(backend, backend, ("live", "test"), clock=clock, **kwargs)
