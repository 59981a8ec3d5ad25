"""Pluggy hook specifications and markers of the ``legacy_api`` plugin project.

Only the specs live here; loading plugins and looking adapters up by name is
``legacy_core.plugins``. Plugins write ``from legacy_core import hookimpl`` and implement
``legacy_register_adapters(register)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pluggy

__all__ = ["KINDS", "PROJECT", "Register", "hookimpl", "hookspec", "legacy_register_adapters"]

PROJECT = "legacy_api"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: What a plugin may register: ``backend`` builds a TableReader/FieldWriter for one
#: environment (fourd, memory, recorded); ``session_store`` builds a SessionStore
#: (memory, file, django, redis), which also holds shared breaker state.
KINDS: tuple[str, ...] = ("backend", "session_store")


class Register(Protocol):
    """The callback a plugin receives: ``register(kind, name, factory)``."""

    def __call__(self, kind: str, name: str, factory: Callable[..., object]) -> None:
        """Announce ``factory`` as the adapter ``name`` of ``kind`` (one of :data:`KINDS`)."""
        ...


@hookspec
def legacy_register_adapters(register: Register) -> None:
    """Register adapter factories by calling ``register(kind, name, factory)``.

    ``factory`` is called by the composition root with keyword arguments documented per
    kind in ``legacy_adapters.bootstrap``. Importing heavy dependencies should wait until
    the factory is called (see ``legacy_core.plugins.LazyFactory``).
    """
