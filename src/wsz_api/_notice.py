"""Visible notices of the compat layers: a WARNING log line, and once per process stderr.

Old scripts and Django management commands hide ``DeprecationWarning``s and nobody reads
INFO logs, so a behaviour a caller may not expect (a date window, a row cap) is logged at
WARNING every time and printed to stderr the first time per process (ADR 0016).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from legacy_core._log import get_logger

__all__ = ["notice", "reset_notices"]

_log = get_logger()
_lock = threading.Lock()
_printed: set[tuple[int, str]] = set()


def notice(event: str, message: str, **fields: Any) -> None:
    """Log ``event`` at WARNING with ``message``; the first one of its kind also goes to stderr."""
    _log.warning(event, message=message, **fields)
    key = (os.getpid(), event)  # a forked child prints its own first notice
    with _lock:
        if key in _printed:
            return
        _printed.add(key)
    print(f"legacy-api: {message}", file=sys.stderr, flush=True)


def reset_notices() -> None:
    """Forget which notices were printed (tests)."""
    with _lock:
        _printed.clear()
