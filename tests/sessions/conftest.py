"""Fixtures of the session tests: a private redis-server, Redis clients per database, processes."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from tests.sessions._support import url_with_db

_PRELOAD = [
    "legacy_core.sessions",
    "legacy_adapters.stores",
    "legacy_adapters.fourd",
    "tests.sessions._support",
    "tests.sessions._workers",
    "django.core.cache.backends.redis",
    "django_redis.cache",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server for these tests: $REDIS_URL (a disposable one!) or a private redis-server."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed and REDIS_URL is not set")
    workdir = tmp_path_factory.mktemp("redis")
    for _attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--databases",
                "16",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            time.sleep(0.02)
        client.close()
        if proc.poll() is None:
            break
    else:
        pytest.fail("could not start a private redis-server")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def redis_db(redis_server_url: str) -> Iterator[tuple[str, redis.Redis[bytes]]]:
    """A flushed database (0) of the test Redis and a client on it."""
    url = url_with_db(redis_server_url, 0)
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


@pytest.fixture
def redis_django_db(redis_server_url: str) -> Iterator[tuple[str, redis.Redis[bytes]]]:
    """A flushed database (1) for the Django cache stores and a raw client on it."""
    url = url_with_db(redis_server_url, 1)
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


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
