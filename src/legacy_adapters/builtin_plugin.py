"""The built-in adapter plugin: registers legacy-api's own backends and session stores by name.

Registered explicitly by ``legacy_adapters.bootstrap`` and announced as the ``builtin``
entry point of the ``legacy_api`` group (ADR 0003). Every factory is a ``LazyFactory``:
importing this module imports no adapter, so ``redis`` or ``django`` are only needed when
their store is chosen.
"""

from __future__ import annotations

from legacy_core.hookspecs import Register, hookimpl
from legacy_core.plugins import LazyFactory

__all__ = ["BUILTIN_ADAPTERS", "legacy_register_adapters"]

#: (kind, name) -> factory; the targets are the adapters' public classes. The recorded
#: fake is not here: it replays a cassette named in code (``RecordedTables.from_cassette``
#: or a ``Replayer`` transport), not something ``build_client`` can build from settings.
BUILTIN_ADAPTERS: dict[tuple[str, str], LazyFactory] = {
    ("backend", "fourd"): LazyFactory("legacy_adapters.fourd:FourDBackend"),
    ("backend", "memory"): LazyFactory("legacy_adapters.memory:MemoryBackend"),
    ("session_store", "memory"): LazyFactory("legacy_adapters.stores:MemorySessionStore"),
    ("session_store", "file"): LazyFactory("legacy_adapters.stores:FileSessionStore"),
    ("session_store", "django"): LazyFactory(
        "legacy_adapters.stores:DjangoCacheSessionStore", extra="django"
    ),
    ("session_store", "redis"): LazyFactory(
        "legacy_adapters.stores:RedisSessionStore", extra="redis"
    ),
}


@hookimpl
def legacy_register_adapters(register: Register) -> None:
    """Register the built-in backends and session stores."""
    for (kind, name), factory in BUILTIN_ADAPTERS.items():
        register(kind, name, factory)
