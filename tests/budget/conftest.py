"""Fixtures of the budget tests: a private redis-server, a flushed database, an emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.testing import private_redis_server


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """$REDIS_URL (a disposable server) or a private redis-server on a free port."""
    with private_redis_server() as url:
        yield url


@pytest.fixture
def redis_client(redis_server_url: str) -> Iterator[redis.Redis[bytes]]:
    """A client on a flushed database of the test Redis (flushed again afterwards)."""
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def slow_emulator() -> Iterator[EmulatorServer]:
    """An emulator of 60 rows answering each request after 20 ms, so parallel pages overlap."""
    with serve(EmulatorConfig(rows=60)) as server:
        server.set_faults(latency_ms=20)
        yield server
