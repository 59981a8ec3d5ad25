"""The read cache's store (ADR 0030): the session store's own primitives, whichever it is.

Every operation of :class:`legacy_core.cache.StoreCache` is one atomic primitive of the
session store (``get``, compare-and-set, the lock), so Redis, the Django cache, the
file store and the memory store all serve it as they are; no script of its own is needed.
"""

from __future__ import annotations

from legacy_core.cache import CacheStore, StoreCache
from legacy_core.ports import SessionStore

__all__ = ["cache_store"]


def cache_store(store: SessionStore) -> CacheStore:
    """The read-cache store over the session ``store`` (the same keys space, one pool)."""
    return StoreCache(store)
