"""The gateway's client: the project's shared one, or one built from the client configuration.

Mounted in a project with ``settings.LEGACY_API``, the gateway uses that project's
``get_client()`` (one client per process, sessions in the configured shared store). The
standalone runner has no ``LEGACY_API``: its client is built from the same configuration
as the command line (``LEGACY_API_*`` variables, the TOML file of ``LEGACY_API_CONFIG``).
Either way every worker process finds the one 4D session per environment in the store.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legacy_core.service import LegacyClient

__all__ = ["gateway_client", "reset_gateway_client"]

_lock = threading.Lock()
_state: dict[str, Any] = {"client": None, "pid": None}


def gateway_client() -> LegacyClient:
    """The client of this process (built on first use; fork-aware like ``get_client``)."""
    from django.conf import settings  # noqa: PLC0415

    if getattr(settings, "LEGACY_API", None) is not None:
        from legacy_adapters.django._client import get_client  # noqa: PLC0415

        return get_client()
    with _lock:
        if _state["client"] is None or _state["pid"] != os.getpid():
            from legacy_adapters.bootstrap import build_client  # noqa: PLC0415
            from legacy_adapters.config import load_config  # noqa: PLC0415

            _state["client"] = build_client(load_config())
            _state["pid"] = os.getpid()
        return _state["client"]  # type: ignore[no-any-return]


def reset_gateway_client() -> None:
    """Drop the standalone client (tests)."""
    with _lock:
        _state.update(client=None, pid=None)
