"""``wsz_api.auth``: the old ``get_session_cookie``, answered by the shared session provider.

It never opens a session of its own: the value is the deployment's shared session for the
environment (logging in once only when there is none, exactly like every other call).
"""

from __future__ import annotations

from typing import Any

from wsz_api import _client
from wsz_api._compat import deprecated, pop_environment, warn_extras

__all__ = ["get_session_cookie"]


def get_session_cookie(mode: str | None = None, **legacy: Any) -> str:
    """Return the cookie value of the shared 4D session of ``mode`` (``"live"``/``"test"``).

    Without ``mode`` the configured default environment is used. Treat the value as a
    secret: it must not be printed or logged.
    """
    deprecated(
        "wsz_api.auth.get_session_cookie()",
        "LegacyClient methods (they send the shared session themselves)",
    )
    legacy = dict(legacy)
    if mode is not None:
        legacy["mode"] = mode
    environment = pop_environment("get_session_cookie", legacy)
    warn_extras("get_session_cookie", legacy)
    return _client.session_cookie(environment)
