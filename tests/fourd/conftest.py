"""Fixtures of the 4D adapter tests: emulators on loopback, transports, providers, backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import MemorySessionStore
from legacy_core.model import Environment
from legacy_core.sessions import SharedSessionProvider

ROWS = 300


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """The default emulator (WASID4D, quirks on, no licence cap) for the whole session."""
    with serve(EmulatorConfig(rows=ROWS)) as server:
        yield server


@pytest.fixture(scope="session")
def login_emulator() -> Iterator[EmulatorServer]:
    """An emulator that requires ``$directory/login`` and uses ``4DSID_WSZ-DB`` cookies."""
    users: dict[str, str] = {"admin": "s3cret!"}
    config = EmulatorConfig(rows=50, require_login=True, cookie="4DSID", users=users)  # type: ignore[arg-type]
    with serve(config) as server:
        yield server


@pytest.fixture
def emu(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The shared emulator, back at its seeded state without faults for each test."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    """A fresh pooled transport (closed after the test)."""
    t = RequestsTransport(pool_size=4)
    yield t
    t.close()


BackendFactory = Callable[..., FourDBackend]


@pytest.fixture
def make_backend(transport: RequestsTransport) -> BackendFactory:
    """Build a FourDBackend on an emulator with a SharedSessionProvider over a memory store."""

    def build(
        server: EmulatorServer,
        *,
        credentials: dict[str, Credentials] | None = None,
        read_timeout: float = 10.0,
        **kw: object,
    ) -> FourDBackend:
        env = Environment("live", server.base_url, read_timeout=read_timeout, connect_timeout=2.0)
        login = FourDLogin(transport, credentials=credentials)
        provider = SharedSessionProvider(
            MemorySessionStore(), login, logout=login.logout, margin=0.0
        )
        return FourDBackend({"live": env}, provider, transport, **kw)  # type: ignore[arg-type]

    return build


@pytest.fixture
def backend(emu: EmulatorServer, make_backend: BackendFactory) -> FourDBackend:
    """A FourDBackend on the shared emulator."""
    return make_backend(emu)
