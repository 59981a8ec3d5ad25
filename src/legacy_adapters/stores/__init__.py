"""Session stores (memory, file, Redis, Django cache), the codec, breaker, budget, cache."""

from __future__ import annotations

from ._breaker import StoreBreakerState
from ._budget import RedisBudget, budget_store
from ._cache import cache_store
from ._codec import SESSION_KEY_VARIABLE, FernetCodec
from ._django import NON_ATOMIC_BACKENDS, DjangoCacheSessionStore
from ._file import FileSessionStore, default_session_dir
from ._memory import MemorySessionStore
from ._redis import RedisSessionStore

__all__ = [
    "NON_ATOMIC_BACKENDS",
    "SESSION_KEY_VARIABLE",
    "DjangoCacheSessionStore",
    "FernetCodec",
    "FileSessionStore",
    "MemorySessionStore",
    "RedisBudget",
    "RedisSessionStore",
    "StoreBreakerState",
    "budget_store",
    "cache_store",
    "default_session_dir",
]
