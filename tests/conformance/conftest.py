"""Fixtures of the conformance suite: a capture server and a real backend pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import MemorySessionStore
from legacy_core.model import Environment
from legacy_core.sessions import SharedSessionProvider

from .captures_support import CaptureServer, capture_server


@pytest.fixture
def served() -> Iterator[CaptureServer]:
    """A loopback server answering with the routes a test installs."""
    with capture_server() as server:
        yield server


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    """A pooled transport, closed after the test."""
    t = RequestsTransport(pool_size=2)
    yield t
    t.close()


@pytest.fixture
def environment(served: CaptureServer) -> Environment:
    """The ``live`` environment on the capture server."""
    return Environment("live", served.base_url, connect_timeout=2.0, read_timeout=5.0)


BackendFactory = Callable[..., FourDBackend]


@pytest.fixture
def make_backend(environment: Environment, transport: RequestsTransport) -> BackendFactory:
    """Build a FourDBackend on the capture server (``$info`` login unless credentials)."""

    def build(credentials: dict[str, Credentials] | None = None) -> FourDBackend:
        login = FourDLogin(transport, credentials=credentials)
        provider = SharedSessionProvider(
            MemorySessionStore(), login, logout=login.logout, margin=0.0
        )
        return FourDBackend({"live": environment}, provider, transport)

    return build


@pytest.fixture
def backend(make_backend: BackendFactory) -> FourDBackend:
    """A FourDBackend on the capture server."""
    return make_backend()
