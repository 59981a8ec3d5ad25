"""Django for tests/django only: settings module, a private redis-server, two emulators.

``pytest_configure`` runs when pytest collects this directory, so other test directories
run Django-free unless this one is part of the run; the settings keep LocMem as the
default cache, which the session-store tests rely on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from legacy_adapters.testing import private_redis_server

SETTINGS = "tests.django.project.settings"
ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    """Point Django at the test project and set it up (only when tests/django is collected)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    import django  # noqa: PLC0415

    django.setup()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """$REDIS_URL (a disposable server) or a private redis-server on a free port."""
    with private_redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, Any]]:
    """A live and a test emulator."""
    from fourd_emulator import EmulatorConfig, serve  # noqa: PLC0415

    with (
        serve(EmulatorConfig(rows=80, seed=3)) as live,
        serve(EmulatorConfig(rows=80, seed=4)) as test,
    ):
        yield {"live": live, "test": test}


@pytest.fixture(scope="session")
def server_env(redis_url: str, emulators: dict[str, Any]) -> dict[str, str]:
    """The variables the test project's settings read (also for manage.py subprocesses)."""
    return {
        "LEGACY_TEST_REDIS_URL": redis_url,
        "LEGACY_TEST_LIVE_URL": emulators["live"].base_url,
        "LEGACY_TEST_TEST_URL": emulators["test"].base_url,
    }


@pytest.fixture(scope="session")
def base_settings(server_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """CACHES and LEGACY_API pointing at this session's servers, active for every test here."""
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    caches = {alias: dict(conf) for alias, conf in settings.CACHES.items()}
    for alias in ("legacy", "legacy_django_redis"):
        caches[alias]["LOCATION"] = server_env["LEGACY_TEST_REDIS_URL"]
    legacy = {
        **settings.LEGACY_API,
        "ENVIRONMENTS": {
            "live": server_env["LEGACY_TEST_LIVE_URL"],
            "test": server_env["LEGACY_TEST_TEST_URL"],
        },
    }
    override = override_settings(CACHES=caches, LEGACY_API=legacy)
    override.enable()
    try:
        yield legacy
    finally:
        override.disable()


@pytest.fixture(autouse=True)
def _django_servers(base_settings: dict[str, Any]) -> Iterator[None]:
    """Every test here starts with the session's settings and a fresh client."""
    from legacy_adapters.django import reset_client  # noqa: PLC0415

    reset_client()
    yield
    reset_client()


@pytest.fixture
def flush_redis(redis_url: str) -> Iterator[None]:
    """Start from an empty Redis (no stored session)."""
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield
    client.close()
