"""Argument handling shared by the old entry points: deprecation notices and legacy keywords.

No I/O and no client here; only what turns an old call into checked, modern arguments.
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from legacy_core._checks import INT64_MAX, ascii_int, check_int, describe
from legacy_core._log import get_logger
from legacy_core.errors import InvalidQuery
from legacy_core.query import Filter, Raw, where_filter

__all__ = [
    "WszApiWarning",
    "as_text",
    "check_count",
    "deprecated",
    "parse_day",
    "pop_environment",
    "to_filter",
    "warn_extras",
]


_warned_sites: set[tuple[str, int]] = set()
_log = get_logger()


class WszApiWarning(UserWarning):
    """A legacy argument was accepted but ignored; the message says what happens instead."""


def deprecated(old: str, modern: str, *, depth: int = 0) -> None:
    """Warn once per call site that ``old`` is deprecated in favour of ``modern``.

    Called directly from each public function, so ``stacklevel=3`` points at the
    caller's line. Python's own once-per-location registry is reset whenever any code
    changes the warning filters (pandas does so inside its calls), so the call sites
    already warned about are remembered here.
    """
    caller = sys._getframe(2 + depth)  # the frame that called the public function
    site = (caller.f_code.co_filename, caller.f_lineno)
    if site in _warned_sites:
        return
    _warned_sites.add(site)
    msg = f"wsz_api: {old} is deprecated; use {modern} (see docs/migration.md)"
    warnings.warn(msg, DeprecationWarning, stacklevel=3 + depth)
    # Django and management commands hide DeprecationWarning: the same notice, once per
    # call site, through the library logger where their LOGGING shows it.
    _log.warning(
        "legacy_api.wsz.deprecated",
        call=old,
        replacement=modern,
        site=f"{caller.f_code.co_filename}:{caller.f_lineno}",
    )


def warn_extras(function: str, extra: Mapping[str, object], *, depth: int = 0) -> None:
    """Accept the keywords nothing honours, telling the caller they have no effect.

    ``depth`` counts the private frames between the public function and this call.
    """
    why = {
        "session_cookie": "the shared session of the environment is used instead",
    }
    for name in sorted(extra):
        reason = why.get(name, "it is not a parameter of the old or the new API")
        msg = f"wsz_api: {function}() ignores {name}=: {reason}"
        warnings.warn(msg, WszApiWarning, stacklevel=3 + depth)


def pop_environment(function: str, extra: dict[str, Any]) -> str | None:
    """Take the environment out of the legacy keywords (``mode`` or ``environment``)."""
    mode = extra.pop("mode", None)
    environment = extra.pop("environment", None)
    if mode is not None and environment is not None and mode != environment:
        msg = (
            f"{function}(): mode={describe(mode)} and environment={describe(environment)} disagree"
        )
        raise InvalidQuery(msg)
    chosen = environment if environment is not None else mode
    if chosen is not None and not isinstance(chosen, str):
        msg = (
            f"{function}(): mode must be an environment name such as 'live', got {describe(chosen)}"
        )
        raise InvalidQuery(msg)
    return chosen


def check_count(value: object, name: str, table: str) -> int | None:
    """Validate a row count (``top``/``limit``/``skip``): None or an int >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        # Scripts sometimes pass counts read from text; accept "100", refuse "all" and
        # "²" (str.isdigit() accepts it, int() does not).
        number = ascii_int(value) if isinstance(value, str) else None
        if number is None:
            msg = f"{name} must be a whole number of rows, got {describe(value)}"
            raise InvalidQuery(msg, table=table)
        value = number
    if not 0 <= value <= INT64_MAX:
        msg = f"{name} must be >= 0 and fit 64 bits, got {describe(value)}"
        raise InvalidQuery(msg, table=table)
    return value


def as_text(value: object, what: str, table: str | None = None) -> str:
    """The old functions' ``str(value)`` for names and keys, without builtin failures.

    ``str()`` of an int over 4,300 digits raises ValueError; such a key or name is refused
    as InvalidQuery instead (no 4D key or name is that long).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(check_int(value, what, table=table))
    return value if isinstance(value, str) else str(value)


def parse_day(value: object, name: str, table: str) -> dt.date | None:
    """Accept ``"YYYY-MM-DD"``, a ``date`` or a ``datetime`` (its calendar day)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    msg = f"{name} must be 'YYYY-MM-DD', a date or a datetime, got {describe(value)}"
    raise InvalidQuery(msg, table=table)


def to_filter(where: object, table: str | None = None) -> Filter | None:
    """Turn a legacy ``where`` into a filter: text, a dict of equalities, a filter or None.

    A string is the caller's own 4D ``$filter`` text (what the old package forwarded),
    so it becomes an explicit :class:`~legacy_core.query.Raw`. A dict becomes its
    equalities here, so that ``new_data_only`` can add its part with ``&``.
    """
    if isinstance(where, str):
        return Raw(where)
    return where_filter(where, table=table)
