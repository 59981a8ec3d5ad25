"""``wsz_api.api_logger``: the logger old scripts import; configuring it is the application's job.

The old module attached a file handler at import time. This one does no I/O: ``logger``
is the standard-library logger ``wsz_api`` and follows the application's logging setup.
The new client logs through structlog under the name ``legacy_api``.
"""

from __future__ import annotations

import logging

__all__ = ["get_logger", "logger"]

logger = logging.getLogger("wsz_api")


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the ``wsz_api`` logger, or its child ``wsz_api.<name>``."""
    return logger.getChild(name) if name else logger
