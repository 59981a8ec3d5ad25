"""The one LegacyClient of a script process, built lazily on the first call.

Outside Django it comes from ``legacy_adapters.bootstrap`` with the configuration of
environment variables / ``LEGACY_API_CONFIG`` and the file session store, so that several
script processes share one 4D session; inside a configured Django project it is the
app's client (``legacy_adapters.django.get_client``). Nothing here runs at import.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING

from legacy_core.errors import ConfigurationError

if TYPE_CHECKING:
    from legacy_core.service import LegacyClient

__all__ = ["get_client", "session_cookie", "use_client"]

_lock = threading.Lock()
_client: LegacyClient | None = None
_pid: int | None = None


def get_client() -> LegacyClient:
    """Return the process's client, building it on first use (thread-safe, fork-aware)."""
    global _client, _pid
    client, pid = _client, _pid
    if client is not None and pid == os.getpid():
        return client
    if _django_ready():
        # The app caches its client and rebuilds it when settings change: ask every time.
        from legacy_adapters.django import get_client as django_client  # noqa: PLC0415

        return django_client()
    with _lock:
        if _client is None or _pid != os.getpid():
            # A forked child must not reuse its parent's pooled connections.
            from legacy_adapters.bootstrap import build_client  # noqa: PLC0415 - lazy on purpose
            from legacy_adapters.config import load_config  # noqa: PLC0415

            _client, _pid = build_client(load_config()), os.getpid()
        return _client


def use_client(client: LegacyClient | None) -> None:
    """Make the shim use ``client`` (an application's own), or with None go back to the default."""
    global _client, _pid  # noqa: PLW0603 - the process-wide singleton is the point
    with _lock:
        _client = client
        _pid = os.getpid() if client is not None else None


def session_cookie(environment: str | None) -> str:
    """Return the shared session's cookie value for ``environment`` (logging in only if none)."""
    client = get_client()
    name = environment or client.default_environment
    env = client.environments.get(name)
    # The 4D backend holds the shared provider; other backends have no session at all.
    sessions = client.sessions
    if env is None or sessions is None:
        msg = f"environment {name!r} has no 4D session (backend without sessions or unknown name)"
        raise ConfigurationError(msg, environment=name)
    value: str = sessions.acquire(env).cookie_value
    return value


def _django_ready() -> bool:
    # Only when the host process already runs Django with this app installed: a script
    # that merely has Django installed keeps the script configuration.
    if "django.conf" not in sys.modules:
        return False
    from django.apps import apps  # noqa: PLC0415 - Django is optional
    from django.conf import settings  # noqa: PLC0415

    return bool(settings.configured and apps.ready and apps.is_installed("legacy_adapters.django"))
