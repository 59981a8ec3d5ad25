"""The app config of the gateway (``legacy_adapters.django.gateway`` in ``INSTALLED_APPS``)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["GatewayConfig"]


class GatewayConfig(AppConfig):
    """Consumers, their hashed tokens and the audit log of writes."""

    name = "legacy_adapters.django.gateway"
    label = "legacy_gateway"
    verbose_name = "Legacy 4D API gateway"
    default_auto_field = "django.db.models.BigAutoField"
