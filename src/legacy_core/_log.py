"""The library's logger: structlog when the application configured it, else stdlib logging.

The library never configures structlog. Unconfigured, structlog prints every event
(debug included) to stdout, which corrupts the output of scripts that print CSV or JSON;
so until the application calls ``structlog.configure`` our events go to the stdlib logger
``legacy_api`` (silent below WARNING unless the application adds a handler), rendered as
key=value with secrets redacted. The choice is made per call, so configuring structlog
after import takes effect at once.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from legacy_core.secrets import redact_secrets

__all__ = ["LOGGER_NAME", "get_logger"]

LOGGER_NAME = "legacy_api"

_stdlib: Any = structlog.wrap_logger(
    logging.getLogger(LOGGER_NAME),
    processors=[
        structlog.stdlib.filter_by_level,
        redact_secrets,
        structlog.processors.format_exc_info,
        structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
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
