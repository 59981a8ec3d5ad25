"""The emulator's own logger: structlog when the application configured it, else stdlib.

The emulator is the independent oracle of the client, so it imports nothing from
``legacy_*`` (a test checks it), its logger included. Unconfigured, events go to the
stdlib logger ``fourd_emulator`` as ``key=value`` lines (silent below WARNING unless a
handler is added), never to stdout.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["get_logger"]

_stdlib: Any = structlog.wrap_logger(
    logging.getLogger("fourd_emulator"),
    processors=[
        structlog.stdlib.filter_by_level,
        structlog.processors.format_exc_info,
        structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
    ],
    wrapper_class=structlog.stdlib.BoundLogger,
)


class _Logger:
    """Resolves to structlog or stdlib logging at each call (configuring later works)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        target = structlog.get_logger("fourd_emulator") if structlog.is_configured() else _stdlib
        return getattr(target, name)


def get_logger() -> Any:
    """The logger every emulator module uses."""
    return _Logger()
