"""DjangoCacheSessionStore: sessions in a Django cache whose ``add`` is atomic across processes.

Django's ``RedisCache`` and ``django_redis`` qualify; LocMem, FileBased, Database and
Dummy caches do not (their ``add`` is per-process or racy) and are refused unless
``allow_non_atomic=True`` says the deployment is a single process. Django's own cache
timeouts are whole seconds, so TTLs are rounded up there; django_redis takes milliseconds.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Iterator
from typing import Any

import attrs

from legacy_core.errors import ConfigurationError
from legacy_core.ports import Versioned

from ._backoff import retry_until

__all__ = ["NON_ATOMIC_BACKENDS", "DjangoCacheSessionStore"]

NON_ATOMIC_BACKENDS = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.dummy.DummyCache",
)
# compare_and_set holds an internal lock for one get+set; this bounds a crashed holder.
_CAS_TTL = 5.0


def _timeout(cache: Any, ttl: float) -> float:
    # django_redis sets PX milliseconds; Django's own backends count whole seconds, where
    # rounding down could make a lock expire before its ttl (or at once, for 0).
    if type(cache).__module__.startswith("django_redis."):
        return max(ttl, 0.001)
    return max(1, math.ceil(ttl))


def _qualname(cache: Any) -> str:
    return f"{type(cache).__module__}.{type(cache).__qualname__}"


@attrs.define(repr=False)
class DjangoCacheSessionStore:
    """A :class:`~legacy_core.ports.SessionStore` on ``django.core.cache.caches[alias]``.

    ``cache`` may be given instead of an alias (a cache instance built by the caller).
    """

    alias: str = "default"
    allow_non_atomic: bool = False
    cache: Any = None

    def __attrs_post_init__(self) -> None:
        backend = _qualname(self._cache())
        non_atomic = backend in NON_ATOMIC_BACKENDS or any(
            isinstance(self._cache(), _import(name)) for name in NON_ATOMIC_BACKENDS
        )
        if non_atomic and not self.allow_non_atomic:
            msg = (
                f"Django cache {self.alias!r} uses {backend}, whose add() is not atomic across "
                "processes, so workers would log in concurrently; use "
                "django.core.cache.backends.redis.RedisCache or django_redis, or pass "
                "allow_non_atomic=True for a single-process deployment"
            )
            raise ConfigurationError(msg)

    def __repr__(self) -> str:
        return f"<DjangoCacheSessionStore {self.alias} {_qualname(self._cache())}>"

    def _cache(self) -> Any:
        if self.cache is not None:
            return self.cache
        from django.core.cache import caches  # noqa: PLC0415 - Django is an optional extra

        # caches[alias] is per thread; looking it up on each call keeps that right.
        return caches[self.alias]

    def get(self, key: str) -> Versioned | None:
        """Return the current value, or None when absent or expired."""
        value = self._cache().get(key)
        if not isinstance(value, dict) or "g" not in value or "p" not in value:
            return None
        return Versioned(int(value["g"]), bytes(value["p"]))

    def compare_and_set(
        self, key: str, expected_generation: int | None, value: Versioned, ttl: float
    ) -> bool:
        """Store ``value`` only if the generation is ``expected_generation`` (None: absent)."""
        cache = self._cache()
        document = {"g": value.generation, "p": value.payload}
        if expected_generation is None:
            with self.lock(key + ":cas", _CAS_TTL, _CAS_TTL * 2):
                return bool(cache.add(key, document, timeout=_timeout(cache, ttl)))
        with self.lock(key + ":cas", _CAS_TTL, _CAS_TTL * 2):
            current = self.get(key)
            if current is None or current.generation != expected_generation:
                return False
            cache.set(key, document, timeout=_timeout(cache, ttl))
            return True

    def delete_if(self, key: str, generation: int) -> bool:
        """Delete the value only if its generation is ``generation``."""
        with self.lock(key + ":cas", _CAS_TTL, _CAS_TTL * 2):
            current = self.get(key)
            if current is None or current.generation != generation:
                return False
            self._cache().delete(key)
            return True

    @contextlib.contextmanager
    def lock(self, key: str, ttl: float, wait: float) -> Iterator[None]:
        """``cache.add`` of a random token (expires after ``ttl``); LockTimeout after ``wait``."""
        cache = self._cache()
        token = secrets.token_hex(16)
        retry_until(
            lambda: bool(cache.add(key, token, timeout=_timeout(cache, ttl))),
            deadline=time.monotonic() + wait,
            message=f"lock {key!r} still held after {wait:g}s",
        )
        try:
            yield
        finally:
            # Not atomic (no Lua through the cache API): a lock that expired between the
            # get and the delete could be someone else's. The window is one round trip.
            if cache.get(key) == token:
                cache.delete(key)


def _import(dotted: str) -> type:
    module_name, _, name = dotted.rpartition(".")
    try:
        module = __import__(module_name, fromlist=[name])
        return getattr(module, name)  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - DatabaseCache needs nothing extra, but be safe
        return type("_Never", (), {})
