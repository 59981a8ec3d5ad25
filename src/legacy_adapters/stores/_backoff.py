"""The waiting loop of the stores' locks: retry a non-blocking attempt with capped back-off."""

from __future__ import annotations

import time
from collections.abc import Callable

from legacy_core.errors import LockTimeout

__all__ = ["retry_until"]

_MAX_DELAY = 0.02


def retry_until(
    attempt: Callable[[], bool], *, deadline: float, message: str, first_delay: float = 0.002
) -> None:
    """Call ``attempt`` until it returns True; LockTimeout(``message``) once ``deadline`` passes.

    ``deadline`` is a ``time.monotonic()`` value. The pauses double from ``first_delay``
    up to 20 ms (short waits stay responsive, long ones do not hammer the store) and
    never sleep past the deadline.
    """
    delay = first_delay
    while not attempt():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(message)
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY)
