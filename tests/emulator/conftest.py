"""Fixtures of the emulator conformance tests: running emulators on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

ROWS = 2000


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    """The default emulator (WASID4D, quirks on, no licence cap), shared by the session."""
    with serve(EmulatorConfig(rows=ROWS)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _reset_shared(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts from the seeded state of every server it uses."""
    yield
    for name in (
        "server",
        "login_server",
        "plain_server",
        "sid_server",
        "force_server",
        "no_logout_server",
    ):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture
def base(server: EmulatorServer) -> str:
    """The default emulator's REST root."""
    server.reset()
    return f"{server.base_url}/rest"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive client session (it keeps the cookie like a browser would)."""
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="session")
def login_server() -> Iterator[EmulatorServer]:
    """An emulator with ``--require-login``."""
    with serve(EmulatorConfig(rows=200, require_login=True)) as srv:
        yield srv


@pytest.fixture(scope="session")
def plain_server() -> Iterator[EmulatorServer]:
    """An emulator without pyERP's quirks."""
    with serve(EmulatorConfig(rows=ROWS, quirks=False)) as srv:
        yield srv


@pytest.fixture(scope="session")
def sid_server() -> Iterator[EmulatorServer]:
    """An emulator using scalable-session cookies ``4DSID_WSZ-DB``."""
    with serve(EmulatorConfig(rows=200, cookie="4DSID")) as srv:
        yield srv


@pytest.fixture(scope="session")
def force_server() -> Iterator[EmulatorServer]:
    """An emulator with ``--force-login``: no session before ``$directory/login``."""
    with serve(EmulatorConfig(rows=200, force_login=True)) as srv:
        yield srv


@pytest.fixture(scope="session")
def no_logout_server() -> Iterator[EmulatorServer]:
    """An emulator with ``--no-logout``: ``$directory/logout`` is 404 as on pyERP's server."""
    with serve(EmulatorConfig(rows=200, logout=False)) as srv:
        yield srv
