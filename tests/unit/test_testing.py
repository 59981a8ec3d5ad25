"""legacy_adapters.testing: the private redis-server and emulator process used by the suites."""

from __future__ import annotations

import socket

import pytest
import requests

from legacy_adapters.testing import (
    RedisServerError,
    emulator_process,
    free_port,
    private_redis_server,
)


def _ping(url: str) -> bytes:
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    with socket.create_connection(("127.0.0.1", port), 2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16)


class TestFreePort:
    def test_port_can_be_bound(self) -> None:
        """The returned port is free to bind on loopback."""
        port = free_port()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
            assert port == sock.getsockname()[1]


@pytest.mark.integration
class TestPrivateRedisServer:
    def test_redis_url_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With REDIS_URL set that URL is yielded and no server is started."""
        monkeypatch.setenv("REDIS_URL", "redis://disposable.invalid:1/0")
        monkeypatch.setenv("PATH", "")
        with private_redis_server() as url:
            assert "redis://disposable.invalid:1/0" == url

    def test_missing_binary_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without REDIS_URL and without redis-server on PATH it says what to install or set."""
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.setenv("PATH", "")
        with pytest.raises(RedisServerError, match="redis-server is not installed"):
            with private_redis_server():
                pass  # pragma: no cover

    def test_server_answers_and_stops_at_exit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The started server answers PING inside the block and is gone after it."""
        monkeypatch.delenv("REDIS_URL", raising=False)
        with private_redis_server() as url:
            assert b"+PONG\r\n" == _ping(url)
        with pytest.raises(ConnectionRefusedError):
            _ping(url)


@pytest.mark.integration
class TestEmulatorProcess:
    def test_serves_and_stops_at_exit(self) -> None:
        """The yielded URL serves $info; the process has exited after the block."""
        with emulator_process("--rows", "5") as (proc, url):
            assert 200 == requests.get(f"{url}/rest/$info", timeout=5).status_code
        assert proc.poll() is not None
