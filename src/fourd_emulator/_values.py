"""4D wire value formats: ``D!M!YYYY`` dates, ISO timestamps with milliseconds, keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

__all__ = [
    "EMPTY_DATE",
    "KeyCodec",
    "date_ordinal",
    "iso_ms",
    "ms_since_midnight",
    "ordinal_to_wire",
    "parse_date_constant",
    "update_stamp_date",
    "utc_date",
    "wire_date",
]

EMPTY_DATE = "0!0!0"

_WIRE_DATE = re.compile(r"^(\d{1,2})!(\d{1,2})!(\d{1,4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")


def wire_date(day: dt.date) -> str:
    """Format a date as 4D sends it: ``D!M!YYYY`` without zero padding."""
    return f"{day.day}!{day.month}!{day.year}"


def date_ordinal(value: object) -> int | None:
    """Parse a stored wire date into a comparable ordinal; the empty date is 0, null is None.

    Raises ValueError for text that is no date (callers turn that into a 4D error).
    """
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"not a date: {value!r}"
        raise ValueError(msg)  # noqa: TRY004 - callers catch ValueError for every bad date
    m = _WIRE_DATE.match(value)
    if m is None:
        return parse_date_constant(value)
    d, mo, y = (int(g) for g in m.groups())
    if d == 0 and mo == 0 and y == 0:
        return 0
    return dt.date(y, mo, d).toordinal()


def parse_date_constant(text: str, *, allow_time: bool = True) -> int:
    """Parse a date constant of a filter or an update (``YYYY-MM-DD``, ``D!M!YYYY``)."""
    text = text.strip()
    m = _WIRE_DATE.match(text)
    if m is not None:
        d, mo, y = (int(g) for g in m.groups())
        if d == 0 and mo == 0 and y == 0:
            return 0
        return dt.date(y, mo, d).toordinal()
    m = _ISO_DATE.match(text)
    if m is None or (not allow_time and len(text) != 10):
        msg = f"not a date: {text!r}"
        raise ValueError(msg)
    y, mo, d = (int(g) for g in m.groups())
    if y == 0 and mo == 0 and d == 0:
        return 0
    return dt.date(y, mo, d).toordinal()


def ordinal_to_wire(ordinal: int) -> str:
    """Format an ordinal from :func:`date_ordinal` as wire text (0 is the empty date)."""
    if ordinal == 0:
        return EMPTY_DATE
    return wire_date(dt.date.fromordinal(ordinal))


def iso_ms(epoch: float) -> str:
    """``2025-01-27T19:35:41.801Z``: UTC with milliseconds, as 4D writes ``__TIMESTAMP``."""
    m = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond // 1000:03d}Z"
    )


def update_stamp_date(epoch: float) -> str:
    """Format ``__TIMESTAMP`` as 4D does in update responses: ``!!YYYY-MM-DD!!``."""
    return "!!" + dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d") + "!!"


def utc_date(epoch: float) -> dt.date:
    """Return the UTC calendar day of ``epoch``."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).date()


def ms_since_midnight(epoch: float) -> int:
    """Return a 4D time value: milliseconds since midnight (UTC here)."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000


_MOD = 1 << 128
# An odd multiplier makes i -> i * M + salt a permutation of 128-bit integers, so a key
# can be turned back into its row index without a million-entry dict.
_MULT = 0x9E3779B97F4A7C15F39CC0605CEDC835
_MULT_INV = pow(_MULT, -1, _MOD)


class KeyCodec:
    """Deterministic, invertible ``__KEY``s: 32 uppercase hex, or numeric strings."""

    __slots__ = ("_salt", "numeric_base")

    def __init__(self, seed: int, table: str, numeric_base: int | None = None) -> None:
        digest = hashlib.sha256(f"{seed}:{table}".encode()).digest()
        self._salt = int.from_bytes(digest[:16], "big")
        self.numeric_base = numeric_base

    def key(self, index: int) -> str:
        """Return the key of row ``index``."""
        if self.numeric_base is not None:
            return str(self.numeric_base + index)
        return f"{((index + 1) * _MULT + self._salt) % _MOD:032X}"

    def index(self, key: str) -> int | None:
        """Return the row index of a key, or None when it cannot be one of ours."""
        if self.numeric_base is not None:
            if not key.isdigit():
                return None
            return int(key) - self.numeric_base
        if len(key) != 32:
            return None
        try:
            value = int(key, 16)
        except ValueError:
            return None
        if key != key.upper():
            return None
        return ((value - self._salt) * _MULT_INV) % _MOD - 1
