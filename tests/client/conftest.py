"""Fixtures for the facade, config, bootstrap and CLI tests."""

from __future__ import annotations

import pytest

from legacy_core.clock import ManualClock
from legacy_core.service import LegacyClient

from ._support import FaultyBackend, make_client, make_memory


@pytest.fixture
def clock() -> ManualClock:
    """A clock that never sleeps for real."""
    return ManualClock()


@pytest.fixture
def rows() -> int:
    """Rows in the test table (override with parametrize)."""
    return 250


@pytest.fixture
def backend(rows: int, clock: ManualClock) -> FaultyBackend:
    """The fault-injecting fake over a MemoryBackend with ``rows`` rows."""
    return FaultyBackend(make_memory(rows, clock))


@pytest.fixture
def client(backend: FaultyBackend, clock: ManualClock) -> LegacyClient:
    """A LegacyClient over the fake, page size 40."""
    return make_client(backend, clock)
