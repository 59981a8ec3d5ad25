"""The CLI's progress bar: rows/total, a bar, the rate in rows/s and the time left, on one line.

No I/O besides the stream it is given; the clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "format_duration"]


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:05``, ``1:02:03``: minutes and seconds, hours only when needed."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class ProgressBar:
    """``rows / total``, a bar, rows/s and ETA on one stderr line, redrawn ten times a second."""

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Draw on ``stream``; ``label`` prefixes the line (the table name).

        The rate is measured from now (the start of the read) with ``clock``.
        """
        self.label = label
        self.stream = stream
        self.width = width
        self._clock = clock
        self._start = clock()
        self._last = -1.0
        self._drawn = False
        self._width_drawn = 0

    def __call__(self, done: int, total: int) -> None:
        """Update to ``done`` of ``total`` rows (the facade's progress callback)."""
        now = self._clock()
        if done < total and self._drawn and now - self._last < 0.1:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(self.width * min(fraction, 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = now - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        if done >= total:
            tail = f"in {format_duration(elapsed)}"
        elif rate > 0:
            tail = f"ETA {format_duration((total - done) / rate)}"
        else:
            tail = "ETA --:--"
        line = (
            f"{self.label}: {done:,}/{total:,} rows [{bar}] {fraction:4.0%} "
            f"{rate:,.0f} rows/s {tail}"
        )
        # Pad over the end of a longer previous line (no terminal escapes: stderr may be a file).
        self.stream.write("\r" + line.ljust(self._width_drawn))
        self._width_drawn = len(line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False  # a later update starts a new line
            self._width_drawn = 0
