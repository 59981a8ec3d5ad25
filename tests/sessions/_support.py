"""Picklable store factories and Django set-up for the session tests and their child processes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from legacy_adapters.stores import (
    DjangoCacheSessionStore,
    FileSessionStore,
    MemorySessionStore,
    RedisSessionStore,
)
from legacy_core.ports import SessionStore

if TYPE_CHECKING:
    import redis

__all__ = [
    "RedisDb",
    "django_cache",
    "django_store",
    "ensure_django",
    "file_store",
    "memory_store",
    "redis_store",
    "url_with_db",
]

RedisDb = tuple[str, "redis.Redis[bytes]"]
"""What the ``redis_db`` fixtures give: the URL of a flushed database and a client on it."""


def url_with_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` of the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def ensure_django() -> None:
    """Configure minimal Django settings unless a settings module (pytest-django) owns them."""
    from django.conf import settings  # noqa: PLC0415 - Django only where a test needs it

    import django  # noqa: PLC0415 - Django only where a test needs it

    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        # tests/django's settings module owns the configuration (also in our child processes).
        from django.apps import apps  # noqa: PLC0415 - Django only where a test needs it

        if not apps.ready:
            django.setup()
        return
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        INSTALLED_APPS=[],
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        USE_TZ=True,
    )
    django.setup()


def django_cache(url: str, flavour: str) -> Any:
    """A Django cache instance on ``url``: ``"django"`` (RedisCache) or ``"django_redis"``."""
    ensure_django()
    if flavour == "django":
        from django.core.cache.backends.redis import RedisCache  # noqa: PLC0415 - after settings

        return RedisCache(url, {"TIMEOUT": None})
    from django_redis.cache import RedisCache as DjangoRedisCache  # noqa: PLC0415 - after settings

    return DjangoRedisCache(url, {"TIMEOUT": None})


def memory_store() -> SessionStore:
    """A new in-memory store."""
    return MemorySessionStore()


def file_store(directory: str) -> SessionStore:
    """A file store in ``directory``."""
    return FileSessionStore(directory)


def redis_store(url: str) -> SessionStore:
    """A Redis store on ``url``."""
    return RedisSessionStore(url)


def django_store(url: str, flavour: str) -> SessionStore:
    """A Django cache store on a cache built for ``url``."""
    return DjangoCacheSessionStore(alias=flavour, cache=django_cache(url, flavour))
