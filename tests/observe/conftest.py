"""Fixtures of the observability tests: emulators and a fresh metrics registry per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_core import instrument


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module, 600 rows."""
    with serve(EmulatorConfig(rows=600)) as srv:
        yield srv


@pytest.fixture(scope="module")
def no_licence_server() -> Iterator[EmulatorServer]:
    """An emulator with no licence free: every session is refused with 402."""
    with serve(EmulatorConfig(rows=10, licences=0)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator reset to its seed data and counters."""
    server.reset()
    return server


@pytest.fixture(autouse=True)
def _nothing_installed() -> Iterator[None]:
    """Each test starts and ends with no instrumentation installed in this process."""
    for part in instrument.installed():
        instrument.uninstall(part)
    yield
    for part in instrument.installed():
        instrument.uninstall(part)
