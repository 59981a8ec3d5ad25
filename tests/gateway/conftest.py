"""The gateway's tests: Django + DRF in process against emulators over HTTP.

They share tests/django's project (one Django per pytest process; its settings add the
gateway when DRF is installed). Each test module skips itself where DRF is not installed
(pyERP's pinned stack): this conftest imports no DRF.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

SETTINGS = "tests.django.project.settings"


def pytest_configure(config: pytest.Config) -> None:
    """Set Django up with the shared test project (a no-op when tests/django did it)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    import django  # noqa: PLC0415

    django.setup()


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, Any]]:
    """A live and a test emulator on loopback."""
    from fourd_emulator import EmulatorConfig, serve  # noqa: PLC0415

    with (
        serve(EmulatorConfig(rows=60, seed=5)) as live,
        serve(EmulatorConfig(rows=40, seed=6)) as test,
    ):
        yield {"live": live, "test": test}


@pytest.fixture(autouse=True)
def _gateway_settings(emulators: dict[str, Any], django_db_blocker: Any) -> Iterator[None]:
    """LEGACY_API at this session's emulators (memory session store), a fresh client."""
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    from legacy_adapters.django import reset_client  # noqa: PLC0415

    legacy = {
        **settings.LEGACY_API,
        "ENVIRONMENTS": {
            "live": emulators["live"].base_url,
            "test": emulators["test"].base_url,
        },
        "SESSION_STORE": "memory",
        "RETRIES": 0,
    }
    with override_settings(LEGACY_API=legacy):
        reset_client()
        yield
    reset_client()


@pytest.fixture
def make_token(db: None) -> Any:
    """Create a consumer with the given scopes; return its token."""
    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415

    counter = iter(range(10_000))

    def make(*scopes: str) -> str:
        _, token = Consumer.create_with_token(f"consumer-{next(counter)}", list(scopes))
        return token

    return make


@pytest.fixture
def api(db: None) -> Any:
    """DRF's test client (the real Django request cycle, in process)."""
    from rest_framework.test import APIClient  # noqa: PLC0415

    return APIClient()


def requests_total(emulator: Any) -> int:
    """REST requests the emulator answered so far."""
    return int(emulator.stats()["requests_total"])
