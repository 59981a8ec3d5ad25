"""The Django composition root: ``settings.LEGACY_API`` → ``ClientConfig`` → ``build_client``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from legacy_adapters.django._settings import load_settings

if TYPE_CHECKING:
    from legacy_core.service import LegacyClient

__all__ = ["build_from_settings"]


def build_from_settings() -> LegacyClient:
    """Build the client the project's settings describe (nothing connects yet)."""
    from legacy_adapters.bootstrap import build_client  # noqa: PLC0415 - heavy, on demand

    return build_client(load_settings().client_config())
