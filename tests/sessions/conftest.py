"""Fixtures of the session tests: a private redis-server, Redis clients per database, processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from tests.sessions._support import url_with_db

from legacy_adapters.testing import private_redis_server

_PRELOAD = [
    "legacy_core.sessions",
    "legacy_adapters.stores",
    "legacy_adapters.fourd",
    "tests.sessions._support",
    "tests.sessions._workers",
    "django.core.cache.backends.redis",
    "django_redis.cache",
]


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis server for these tests: $REDIS_URL (a disposable one!) or a private redis-server."""
    with private_redis_server() as url:
        yield url


def _flushed_db(server_url: str, db: int) -> Iterator[tuple[str, redis.Redis[bytes]]]:
    url = url_with_db(server_url, db)
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


@pytest.fixture
def redis_db(redis_server_url: str) -> Iterator[tuple[str, redis.Redis[bytes]]]:
    """A flushed database (0) of the test Redis and a client on it."""
    yield from _flushed_db(redis_server_url, 0)


@pytest.fixture
def redis_django_db(redis_server_url: str) -> Iterator[tuple[str, redis.Redis[bytes]]]:
    """A flushed database (1) for the Django cache stores and a raw client on it."""
    yield from _flushed_db(redis_server_url, 1)


@pytest.fixture(scope="session")
def forkserver() -> multiprocessing.context.BaseContext:
    """A forkserver context with our modules preloaded, so child processes start fast and safe."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # type: ignore[attr-defined]
    return ctx


@pytest.fixture
def session_dir(tmp_path: Path) -> Path:
    """A private directory for a file store."""
    path = tmp_path / "sessions"
    path.mkdir(mode=0o700)
    return path
