"""The library's logger: structlog when the application configured it, else stdlib logging.

The library never configures structlog. Unconfigured, structlog prints every event
(debug included) to stdout, which corrupts the output of scripts that print CSV or JSON;
so until the application calls ``structlog.configure`` our events go to the stdlib logger
``legacy_api`` (silent below WARNING unless the application adds a handler), rendered as
key=value with secrets redacted — or as one JSON object per line with the same fields
when ``LEGACY_API_LOG_FORMAT=json`` (or :func:`set_log_format`). Context variables bound
with structlog (the request id of the Django/ASGI middleware) are merged into those lines
too. The choice is made per call, so configuring structlog after import takes effect at once.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import structlog

from legacy_core.secrets import redact_secrets

__all__ = ["LOGGER_NAME", "LOG_FORMAT_ENV", "get_logger", "set_log_format"]

LOGGER_NAME = "legacy_api"
LOG_FORMAT_ENV = "LEGACY_API_LOG_FORMAT"

_RENDERERS: dict[str, Any] = {
    "kv": structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
    "json": structlog.processors.JSONRenderer(sort_keys=True, default=repr),
}
_format = {"name": "json" if os.environ.get(LOG_FORMAT_ENV, "").lower() == "json" else "kv"}


def set_log_format(name: str) -> None:
    """Render stdlib log lines as ``kv`` (key=value, the default) or ``json``."""
    if name not in _RENDERERS:
        msg = f"log format must be one of {', '.join(sorted(_RENDERERS))}, not {name!r}"
        raise ValueError(msg)
    _format["name"] = name


def _render(logger: Any, method: str, event: Any) -> Any:
    return _RENDERERS[_format["name"]](logger, method, event)


_stdlib: Any = structlog.wrap_logger(
    logging.getLogger(LOGGER_NAME),
    processors=[
        structlog.stdlib.filter_by_level,
        structlog.contextvars.merge_contextvars,
        redact_secrets,
        structlog.processors.format_exc_info,
        _render,
    ],
    wrapper_class=structlog.stdlib.BoundLogger,
)


class _LibraryLogger:
    """A lazy logger: resolves to structlog or stdlib logging at each call."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        target = structlog.get_logger(LOGGER_NAME) if structlog.is_configured() else _stdlib
        return getattr(target, name)


def get_logger() -> Any:
    """The ``legacy_api`` logger every module of the project uses."""
    return _LibraryLogger()
