"""``get_client``: the one ``LegacyClient`` of a Django process, built lazily from the settings.

Thread-safe and fork-aware (a pre-forked worker builds its own connections). A change of
``LEGACY_API`` or ``CACHES`` (tests' ``override_settings``) drops the cached client.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from legacy_core.errors import ConfigurationError

if TYPE_CHECKING:
    from legacy_core.ports import SessionProvider
    from legacy_core.service import LegacyClient

__all__ = ["get_client", "on_setting_changed", "reset_client", "session_provider"]

_lock = threading.Lock()
_state: dict[str, Any] = {"client": None, "pid": None, "views": {}}


def get_client(env: str | None = None) -> LegacyClient:
    """Return the process's client; with ``env``, one whose default environment is ``env``.

    Every returned client shares the same reader, writer, sessions and breakers; the
    first call builds them from ``settings.LEGACY_API`` (nothing connects until a request).
    """
    client = _state["client"]
    if client is None or _state["pid"] != os.getpid():
        with _lock:
            if _state["client"] is None or _state["pid"] != os.getpid():
                _state["client"] = _build()
                _state["pid"] = os.getpid()
                _state["views"] = {}
            client = _state["client"]
    if env is None or env == client.default_environment:
        return client  # type: ignore[no-any-return]
    if env not in client.environments:
        msg = (
            f"unknown environment {env!r}; settings.LEGACY_API['ENVIRONMENTS'] has "
            f"{', '.join(sorted(client.environments))}"
        )
        raise ConfigurationError(msg, environment=env)
    with _lock:
        view = _state["views"].get(env)
        if view is None:
            # Same reader, writer and retry budget; breakers come from the main client so
            # an open breaker is open for every view of the process.
            view = client.for_environment(env)
            _state["views"][env] = view
        return view  # type: ignore[no-any-return]


def session_provider(client: LegacyClient) -> SessionProvider:
    """Return the shared session provider behind ``client`` (the 4D backend holds it)."""
    provider = client.sessions
    if provider is None:
        msg = f"backend {type(client.reader).__name__} has no 4D sessions"
        raise ConfigurationError(msg)
    return provider


def reset_client() -> None:
    """Drop the process's client; the next call builds a new one from the settings."""
    with _lock:
        _state.update(client=None, pid=None, views={})


def on_setting_changed(*, setting: str, **_: Any) -> None:
    """``setting_changed`` receiver: rebuild after the settings the client is made from change."""
    if setting in {"LEGACY_API", "CACHES", "DEBUG"}:
        reset_client()


def _build() -> LegacyClient:
    # The one composition root does the wiring; this only translates the settings.
    from legacy_adapters.bootstrap import build_client  # noqa: PLC0415 - heavy, on demand
    from legacy_adapters.django._settings import load_settings  # noqa: PLC0415

    return build_client(load_settings().client_config())
