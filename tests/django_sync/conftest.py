"""The Django sink's tests: real Django on a throw-away PostgreSQL database, the emulator.

The settings are tests/django's (one settings module for every Django test); they name
the database ``$LEGACY_TEST_DJANGO_DB`` (a unique name), which the session fixture here
creates, migrates and drops (or pytest-django's test copy of it, when the gateway's tests
set that up first). Without psycopg or a PostgreSQL server the tests skip.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

SETTINGS = "tests.django.project.settings"
ROWS = 600


def pytest_configure(config: pytest.Config) -> None:
    """Set Django up with the shared test settings (unless tests/django did already)."""
    del config
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    from django.apps import apps  # noqa: PLC0415

    import django  # noqa: PLC0415

    if not apps.ready:
        django.setup()


def _admin_connection() -> Any:
    psycopg = pytest.importorskip("psycopg")
    host = os.environ.get("LEGACY_TEST_PG_HOST", "127.0.0.1")
    port = os.environ.get("LEGACY_TEST_PG_PORT", "5432")
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(
                host=host,
                port=port,
                user=user,
                dbname="postgres",
                autocommit=True,
                connect_timeout=5,
            )
        except psycopg.OperationalError:
            continue
    pytest.skip("no PostgreSQL server with trust authentication on 127.0.0.1:5432")
    return None


@pytest.fixture(scope="session")
def pg_database(django_db_blocker: Any) -> Iterator[str]:
    """The settings' database, created empty and migrated; dropped after the session."""
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connections  # noqa: PLC0415

    admin = _admin_connection()
    db = connections["default"]
    name = db.settings_dict["NAME"]
    if name.startswith("test_"):
        # pytest-django set up its test copy already (the gateway's tests asked for the
        # database first): it created, migrated and will drop that one.
        admin.close()
        os.environ["LEGACY_TEST_DJANGO_DB"] = name  # manage.py subprocesses
        yield name
        return
    db.settings_dict["USER"] = admin.info.user
    os.environ["LEGACY_TEST_PG_USER"] = admin.info.user  # manage.py subprocesses
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with django_db_blocker.unblock():
            call_command("migrate", verbosity=0, interactive=False)
            yield name
            connections.close_all()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def db_access(pg_database: str, django_db_blocker: Any) -> Iterator[str]:
    """Database access for one test, starting from empty sync and product tables."""
    from django.apps import apps  # noqa: PLC0415

    with django_db_blocker.unblock():
        for label in ("products", "legacy_api"):
            for model in apps.get_app_config(label).get_models():
                model._default_manager.all().delete()
        yield pg_database


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset per test by ``emulator``)."""
    with serve(EmulatorConfig(rows=ROWS)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The module's emulator back to its seed; LEGACY_API pointing at it, a fresh client."""
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    from legacy_adapters.django import reset_client  # noqa: PLC0415

    server.reset()
    legacy = {
        **settings.LEGACY_API,
        "ENVIRONMENTS": {"live": server.base_url},
        "SESSION_STORE": "memory",
        "RETRIES": 5,
    }
    legacy.pop("CACHE_ALIAS", None)
    with override_settings(LEGACY_API=legacy):
        reset_client()
        yield server
    reset_client()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """$REDIS_URL (a disposable server) or a private redis-server (manage.py's sessions)."""
    from legacy_adapters.testing import private_redis_server  # noqa: PLC0415

    with private_redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def _sqlite_database(django_db_blocker: Any) -> Iterator[str]:
    """The settings' ``sync_sqlite`` database (a file), migrated; removed after the session."""
    from django.core.management import call_command  # noqa: PLC0415
    from django.db import connections  # noqa: PLC0415

    path = connections["sync_sqlite"].settings_dict["NAME"]
    with django_db_blocker.unblock():
        call_command("migrate", database="sync_sqlite", verbosity=0, interactive=False)
        try:
            yield "sync_sqlite"
        finally:
            connections["sync_sqlite"].close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")


@pytest.fixture
def sqlite_access(_sqlite_database: str, django_db_blocker: Any) -> Iterator[str]:
    """Access to the SQLite database for one test, its product and sync tables empty."""
    from django.apps import apps  # noqa: PLC0415

    with django_db_blocker.unblock():
        for label in ("products", "legacy_api"):
            for model in apps.get_app_config(label).get_models():
                model._default_manager.using(_sqlite_database).all().delete()
        yield _sqlite_database
