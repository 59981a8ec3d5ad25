"""Fixtures of the read-cache tests: one emulator, a private redis-server, a forkserver."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from tests.sessions._support import url_with_db

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.testing import private_redis_server

_PRELOAD = [
    "legacy_api",
    "legacy_core.cache",
    "legacy_adapters.stores",
    "legacy_adapters.fourd",
    "pandas",
    "tests.sessions._support",
    "tests.cache._workers",
    "django.core.cache.backends.redis",
]

TABLE = "Artikel_Familie"
"""The reference table the tests cache (the emulator serves it; 4D's Artikel_Tags it does not)."""


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset for each test by ``emulator``)."""
    with serve(EmulatorConfig(rows=40, seed=11)) as running:
        yield running


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator reset to its seed data, counters and no faults."""
    server.reset()
    server.set_faults(latency_ms=0)
    return server


def table_reads(emulator: EmulatorServer) -> int:
    """Requests the emulator answered on entity routes (reads, snapshots, their releases)."""
    requests: dict[str, dict[str, int]] = emulator.stats()["requests"]
    return sum(
        sum(by_status.values())
        for label, by_status in requests.items()
        if label.startswith("GET /rest/{table}")
    )


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """$REDIS_URL (a disposable one!) or a private redis-server for these tests."""
    with private_redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A flushed database (2) of the test Redis, flushed again afterwards."""
    url = url_with_db(redis_server_url, 2)
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def forkserver() -> Any:
    """A forkserver context with our modules preloaded (child processes start fast and safe)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # type: ignore[attr-defined]
    return ctx
