"""Closing a sync client: its pooled connections to 4D end, its session stays shared."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import RequestsTransport
from legacy_api import build_client

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """A small emulator of its own (the connections counted are only this test's)."""
    with serve(EmulatorConfig(rows=300)) as srv:
        yield srv


def established_to(port: int) -> int:
    """TCP connections of this machine in state ESTABLISHED whose remote port is ``port``."""
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":  # 01: TCP_ESTABLISHED
                count += 1
    return count


def port_of(server: EmulatorServer) -> int:
    """The emulator's TCP port."""
    return int(server.base_url.rsplit(":", 1)[1].split("/")[0])


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_with_block_closes_the_pooled_connections(server: EmulatorServer) -> None:
    """Leaving ``with build_client()`` closes the connections its reads kept alive."""
    port = port_of(server)
    config = {"session_store": "memory", "environments": {"live": server.base_url}}
    with build_client(config, workers=3, page_size=50) as client:
        frame = client.fetch_frame(TABLE, workers=3)
        assert len(frame) == 300
        assert established_to(port) >= 1  # keep-alive: the pool holds them open
    assert established_to(port) == 0


def test_closed_client_reads_again(server: EmulatorServer) -> None:
    """A closed client opens new connections when used again, on the same 4D session."""
    config = {"session_store": "memory", "environments": {"live": server.base_url}}
    client = build_client(config)
    assert client.count(TABLE) == 300
    client.close()
    client.close()  # idempotent
    assert client.count(TABLE) == 300
    assert server.stats()["sessions_created"] == 1


def test_an_injected_transport_is_left_to_its_owner(server: EmulatorServer) -> None:
    """``close()`` does not close a transport the caller passed in and still uses."""
    transport = RequestsTransport(pool_size=2)
    config = {"session_store": "memory", "environments": {"live": server.base_url}}
    with build_client(config, transport=transport) as client:
        assert client.count(TABLE) == 300
    port = port_of(server)
    assert established_to(port) >= 1
    transport.close()
    assert established_to(port) == 0
    with socket.create_connection(("127.0.0.1", port)):  # the server itself still serves
        pass
