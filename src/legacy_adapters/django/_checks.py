"""System checks of the legacy API app: settings, the session cache backend, adapter names.

Checks read settings only; none of them connects to 4D, Redis or a cache server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from legacy_adapters.django._settings import SETTING, LegacyApiSettings, parse_settings
from legacy_core.errors import ConfigurationError

__all__ = ["check_adapters", "check_session_store", "check_settings"]

_PREFIX = "legacy_api"


def _parsed() -> LegacyApiSettings | None:
    return parse_settings(getattr(settings, SETTING, None))[0]


def check_settings(app_configs: Sequence[Any] | None = None, **_: Any) -> list[checks.CheckMessage]:
    """Report missing or invalid ``LEGACY_API`` values and a missing encryption key."""
    parsed, problems = parse_settings(getattr(settings, SETTING, None))
    messages: list[checks.CheckMessage] = [
        checks.Error(
            p.message, hint=p.hint or None, obj=f"settings.{SETTING}", id=f"{_PREFIX}.{p.code}"
        )
        for p in problems
    ]
    if parsed is not None:
        # Whatever the shared ClientConfig still refuses (credentials for an unknown
        # environment, a store without its URL…) is reported here, not at first use.
        try:
            parsed.client_config()
        except ConfigurationError as exc:
            messages.append(
                checks.Error(
                    str(exc).splitlines()[0], obj=f"settings.{SETTING}", id=f"{_PREFIX}.E001"
                )
            )
    if (
        parsed is not None
        and parsed.session_store != "memory"
        and parsed.session_key is None
        and not settings.DEBUG
    ):
        messages.append(
            checks.Warning(
                f"{SETTING}['SESSION_KEY'] is not set: 4D session cookies are stored "
                f"unencrypted in the {parsed.session_store!r} session store",
                hint=(
                    "set SESSION_KEY to a Fernet key, e.g. from "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`, kept in your secrets"
                ),
                obj=f"settings.{SETTING}",
                id=f"{_PREFIX}.W001",
            )
        )
    return messages


def check_session_store(
    app_configs: Sequence[Any] | None = None, **_: Any
) -> list[checks.CheckMessage]:
    """Report a missing session cache alias or one whose ``add`` is not atomic."""
    from legacy_adapters.stores import NON_ATOMIC_BACKENDS  # noqa: PLC0415 - after setup

    parsed = _parsed()
    if parsed is None or parsed.session_store != "django":
        return []
    caches = getattr(settings, "CACHES", {}) or {}
    alias = parsed.cache_alias
    obj = f"settings.{SETTING}['CACHE_ALIAS']"
    if alias not in caches:
        return [
            checks.Error(
                f"cache alias {alias!r} for the shared 4D sessions is not in settings.CACHES",
                hint=f"configured aliases: {sorted(caches)}",
                obj=obj,
                id=f"{_PREFIX}.E004",
            )
        ]
    backend_path = str(caches[alias].get("BACKEND", ""))
    try:
        backend = import_string(backend_path)
    except ImportError:
        # Django's own cache checks report an unimportable backend.
        return []
    non_atomic = [import_string(name) for name in NON_ATOMIC_BACKENDS]
    if backend_path in NON_ATOMIC_BACKENDS or issubclass(backend, tuple(non_atomic)):
        return [
            checks.Error(
                f"cache {alias!r} ({backend_path}) cannot hold the shared 4D sessions: its add() "
                "is not atomic across processes, so every worker would log in on its own "
                "(one 4D licence each)",
                hint=(
                    "use django.core.cache.backends.redis.RedisCache or "
                    "django_redis.cache.RedisCache, or SESSION_STORE 'redis'/'file'"
                ),
                obj=obj,
                id=f"{_PREFIX}.E004",
            )
        ]
    return []


def check_adapters(app_configs: Sequence[Any] | None = None, **_: Any) -> list[checks.CheckMessage]:
    """``BACKEND`` and ``SESSION_STORE`` must name registered adapters."""
    from legacy_adapters import builtin_plugin  # noqa: PLC0415 - loads plugins on demand
    from legacy_core.plugins import get_registry  # noqa: PLC0415

    parsed = _parsed()
    if parsed is None:
        return []
    messages: list[checks.CheckMessage] = []
    for kind, key, name in (
        ("backend", "BACKEND", parsed.backend),
        ("session_store", "SESSION_STORE", parsed.session_store),
    ):
        known = get_registry([builtin_plugin]).names(kind)
        if name not in known:
            messages.append(
                checks.Error(
                    f"{SETTING}[{key!r}] names the unknown {kind} {name!r}",
                    hint=f"known: {', '.join(known)} (plugins add more)",
                    obj=f"settings.{SETTING}",
                    id=f"{_PREFIX}.E005",
                )
            )
    return messages
