"""The in-memory adapter against the TableReader and FieldWriter contracts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_adapters.testing.contracts import (
    CONTRACT_TABLES,
    ContractFixtures,
    FieldWriterContract,
    TableReaderContract,
)
from legacy_core.clock import ManualClock
from legacy_core.ports import FieldWriter, TableReader


class MemoryFixtures(ContractFixtures):
    """The contract fixtures served by one seeded MemoryBackend per test."""

    @pytest.fixture
    def contract_env(self, memory_env: str) -> str:
        """The environment the backend fixture loaded the dataset in."""
        return memory_env

    @pytest.fixture
    def reader(self, backend: MemoryBackend) -> TableReader:
        """The seeded backend as a reader."""
        return backend

    @pytest.fixture
    def writer(self, backend: MemoryBackend) -> FieldWriter:
        """The same backend as a writer."""
        return backend

    @pytest.fixture
    def default_page_size(self) -> int | None:
        """Like 4D, 100 records without ``top``."""
        return 100

    @pytest.fixture
    def raw_filters(self) -> bool:
        """Raw text cannot be evaluated in memory."""
        return False

    @pytest.fixture
    def advance_time(self, clock: ManualClock) -> Callable[[float], None]:
        """Snapshot expiry follows the manual clock."""
        return clock.advance


class TestMemoryTableReader(TableReaderContract, MemoryFixtures):
    """The in-memory backend is a TableReader."""


class TestMemoryFieldWriter(FieldWriterContract, MemoryFixtures):
    """The in-memory backend is a FieldWriter."""


class TestOneFixtureIsEnough(TableReaderContract, FieldWriterContract):
    """With the shipped defaults an adapter provides only ``reader`` (a plugin author's view)."""

    @pytest.fixture
    def reader(self) -> TableReader:
        """A fresh MemoryBackend serving the contract tables in "live"."""
        backend = MemoryBackend()
        for table in CONTRACT_TABLES:
            backend.add_table(
                "live", MemoryTable(name=table.name, attributes=table.attributes, rows=table.rows)
            )
        return backend
