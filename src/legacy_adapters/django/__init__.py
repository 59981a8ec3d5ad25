"""The Django app ``legacy_adapters.django``: settings, checks, health, commands and ``get_client``.

Add ``"legacy_adapters.django"`` to ``INSTALLED_APPS`` and configure ``LEGACY_API``
(keys and defaults: :data:`DEFAULTS`; see docs/migration.md).
"""

from __future__ import annotations

from legacy_adapters.django._client import get_client, reset_client
from legacy_adapters.django._health import check_health
from legacy_adapters.django._settings import DEFAULTS

__all__ = ["DEFAULTS", "check_health", "get_client", "reset_client"]
