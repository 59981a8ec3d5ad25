"""The Django app ``legacy_adapters.django``: settings, checks, health, commands and ``get_client``.

Add ``"legacy_adapters.django"`` to ``INSTALLED_APPS`` and configure ``LEGACY_API``
(keys and defaults: :data:`DEFAULTS`; see docs/migration.md).
"""

from __future__ import annotations

from typing import Any

from legacy_adapters.django._client import get_client, reset_client
from legacy_adapters.django._health import check_health
from legacy_adapters.django._settings import DEFAULTS

__all__ = [
    "DEFAULTS",
    "DjangoChanges",
    "check_health",
    "get_client",
    "record_change",
    "reset_client",
]


def __getattr__(name: str) -> Any:
    # The write-back store imports the models: only once the app registry is ready.
    if name in {"DjangoChanges", "record_change"}:
        from legacy_adapters.django import _changes  # noqa: PLC0415

        return getattr(_changes, name)
    raise AttributeError(name)
