"""Checks of caller values shared by the model, the filter builder and the adapters.

Every check raises :class:`~legacy_core.errors.InvalidQuery` (ADR 0015): values that
4D cannot hold (integers beyond 64 bits, lone surrogates, non-finite floats, cycles)
are refused before any request, instead of failing later as a builtin exception in a
converter, ``int()`` or the transport's UTF-8 encoder. No I/O here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from legacy_core.errors import InvalidQuery

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "ascii_int",
    "check_int",
    "check_text",
    "check_write_value",
    "describe",
]

# 4D's widest integer is long64 (signed); a wider one cannot be stored or compared exactly.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Nested objects deeper than this are refused (orjson stops at 254 levels, the batch
# array and the entity take two of them).
MAX_DEPTH = 200
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")
_REPR_MAX = 80


def describe(value: object) -> str:
    """A short repr for messages that never fails (a 5,000-digit int has no ``repr``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a caller's object with a broken __repr__
        return f"<{type(value).__name__}>"
    return text if len(text) <= _REPR_MAX else text[: _REPR_MAX - 1] + "…"


def check_int(value: int, what: str, **context: Any) -> int:
    """Return ``value`` if it fits 4D's long64, else raise InvalidQuery naming ``what``."""
    if not INT64_MIN <= value <= INT64_MAX:
        msg = f"{what}: {describe(value)} is outside 4D's 64-bit integer range; pass a float"
        raise InvalidQuery(msg, **context)
    return value


def check_text(value: str, what: str, **context: Any) -> str:
    """Return ``value`` if it is valid Unicode text (no lone surrogate), else InvalidQuery."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = (
            f"{what}: {describe(value)} is not valid Unicode text "
            f"(lone surrogate {value[exc.start]!r} at position {exc.start})"
        )
        raise InvalidQuery(msg, **context) from None
    return value


def ascii_int(value: str, *, max_digits: int = 19) -> int | None:
    """Parse an optionally signed ASCII decimal of at most ``max_digits`` digits, else None.

    ``str.isdigit`` accepts "²" and "٣", which ``int()`` then refuses or reads as 3.
    """
    text = value.strip()
    if not _ASCII_INT.fullmatch(text) or len(text.lstrip("-")) > max_digits:
        return None
    return int(text)


_LEAVES = (str, int, float, Decimal, dt.date, dt.time, dt.timedelta)


def check_write_value(value: object, what: str, **context: Any) -> None:
    """Raise InvalidQuery unless ``value`` is something 4D can store exactly.

    Scalars (None, bool, int within long64, finite float or Decimal, text, date, datetime,
    time, timedelta) and objects/collections of them with text keys; no cycles.
    """
    _walk(value, what, context, depth=0, seen=set())


def _walk(value: object, what: str, context: dict[str, Any], *, depth: int, seen: set[int]) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, _LEAVES):
        _check_leaf(value, what, context)
        return
    if isinstance(value, (Mapping, list, tuple)):
        if depth >= MAX_DEPTH:
            msg = f"{what}: nested deeper than {MAX_DEPTH} levels"
            raise InvalidQuery(msg, **context)
        if id(value) in seen:
            msg = f"{what}: the value contains itself (a cycle cannot be sent)"
            raise InvalidQuery(msg, **context)
        seen.add(id(value))
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    msg = f"{what}: object keys must be str, not {type(key).__name__}"
                    raise InvalidQuery(msg, **context)
                check_text(key, f"{what} key", **context)
                _walk(item, f"{what}.{describe(key)}", context, depth=depth + 1, seen=seen)
        else:
            for index, item in enumerate(value):
                _walk(item, f"{what}[{index}]", context, depth=depth + 1, seen=seen)
        seen.discard(id(value))
        return
    msg = (
        f"{what}: cannot send a value of type {type(value).__name__} to 4D "
        "(use str, int, float, bool, date, datetime, time, None, or a dict/list of those)"
    )
    raise InvalidQuery(msg, **context)


def _check_leaf(value: object, what: str, context: dict[str, Any]) -> None:
    if isinstance(value, str):
        check_text(value, what, **context)
    elif isinstance(value, int):
        check_int(value, what, **context)
    elif isinstance(value, (float, Decimal)):
        # orjson writes NaN and ±inf as null: the entity would silently lose its value.
        number = float(value) if isinstance(value, Decimal) and value.is_finite() else value
        if not (isinstance(number, float) and math.isfinite(number)):
            msg = f"{what}: {describe(value)} cannot be stored in 4D (not a finite number)"
            raise InvalidQuery(msg, **context)
