"""The Django app config of ``legacy_adapters.django`` (add it to ``INSTALLED_APPS``)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["LegacyApiConfig"]


class LegacyApiConfig(AppConfig):
    """Registers the system checks, the settings-change hook and the optional health plugin."""

    name = "legacy_adapters.django"
    label = "legacy_api"
    verbose_name = "Legacy 4D API"
    # Fixed here so the shipped migration holds whatever DEFAULT_AUTO_FIELD a project sets.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the app up; nothing connects to 4D here (the client is built on first use)."""
        from django.core import checks  # noqa: PLC0415 - app registry must be ready
        from django.core.signals import setting_changed  # noqa: PLC0415

        from legacy_adapters.django import _checks, _client, _health  # noqa: PLC0415

        checks.register(_checks.check_settings, checks.Tags.compatibility, "legacy_api")
        checks.register(_checks.check_session_store, checks.Tags.caches, "legacy_api")
        checks.register(_checks.check_adapters, "legacy_api")
        setting_changed.connect(_client.on_setting_changed, dispatch_uid="legacy_api.reset")
        _health.register_health_check_plugin()
        _observe()


def _observe() -> None:
    # settings.LEGACY_API_METRICS / LEGACY_API_TRACING, or the variables of the same names.
    from django.conf import settings  # noqa: PLC0415

    from legacy_adapters.observe import enable_from_environment  # noqa: PLC0415

    enable_from_environment(
        metrics=getattr(settings, "LEGACY_API_METRICS", None),
        tracing=getattr(settings, "LEGACY_API_TRACING", None),
    )
