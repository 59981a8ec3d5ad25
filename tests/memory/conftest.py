"""Fixtures of the in-memory adapter's tests: a manual clock and a seeded backend."""

from __future__ import annotations

import pytest

from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_adapters.testing.contracts import CONTRACT_TABLES
from legacy_core.clock import ManualClock


@pytest.fixture
def memory_env() -> str:
    """The environment the contract dataset is loaded in."""
    return "test"


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when a test says so."""
    return ManualClock()


@pytest.fixture
def backend(clock: ManualClock, memory_env: str) -> MemoryBackend:
    """A backend holding the contract dataset in the ``test`` environment, fresh per test."""
    backend = MemoryBackend(clock=clock)
    for table in CONTRACT_TABLES:
        backend.add_table(
            memory_env, MemoryTable(name=table.name, attributes=table.attributes, rows=table.rows)
        )
    return backend
