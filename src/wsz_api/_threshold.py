"""What ``new_data_only=True`` means: rows created or modified on or after a threshold day.

The threshold is configuration, not state (ADR 0009): ``LEGACY_API_NEW_DATA_SINCE``
(``YYYY-MM-DD``) if set, else today minus ``LEGACY_API_NEW_DATA_DAYS`` days (default 7).
No I/O beyond reading the environment.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

from legacy_core.errors import ConfigurationError
from legacy_core.query import Filter, field

__all__ = [
    "CREATED_FIELD",
    "DEFAULT_NEW_DATA_DAYS",
    "MODIFIED_FIELD",
    "created_since",
    "new_data_filter",
    "new_data_only_default",
    "new_data_threshold",
]

DEFAULT_NEW_DATA_DAYS = 7
CREATED_FIELD = "created_date"
MODIFIED_FIELD = "modified_date"


def new_data_threshold(
    *, today: dt.date | None = None, environ: Mapping[str, str] | None = None
) -> dt.date:
    """Return the first day whose rows ``new_data_only=True`` returns."""
    env = os.environ if environ is None else environ
    since = env.get("LEGACY_API_NEW_DATA_SINCE", "").strip()
    if since:
        try:
            return dt.date.fromisoformat(since)
        except ValueError:
            msg = f"LEGACY_API_NEW_DATA_SINCE must be YYYY-MM-DD, got {since!r}"
            raise ConfigurationError(msg) from None
    raw_days = env.get("LEGACY_API_NEW_DATA_DAYS", "").strip()
    try:
        days = int(raw_days) if raw_days else DEFAULT_NEW_DATA_DAYS
    except ValueError:
        days = -1
    if days < 0:
        msg = f"LEGACY_API_NEW_DATA_DAYS must be a whole number of days >= 0, got {raw_days!r}"
        raise ConfigurationError(msg)
    return (today or dt.date.today()) - dt.timedelta(days=days)


def new_data_filter(threshold: dt.date) -> Filter:
    """Rows created or modified on or after ``threshold``.

    Never-modified rows have a null ``modified_date``, so creation counts too. Dates are
    whole days and the server accepts ``>=`` (strict ``>`` answers 500 on pyERP's server).
    """
    return (field(CREATED_FIELD) >= threshold) | (field(MODIFIED_FIELD) >= threshold)


def created_since(day: dt.date) -> Filter:
    """Rows created on or after ``day`` (``date_created_start``)."""
    return field(CREATED_FIELD) >= day


def new_data_only_default(*, environ: Mapping[str, str] | None = None) -> bool:
    """What a call that does not pass ``new_data_only`` gets (ADR 0016).

    False (all rows) unless ``LEGACY_API_NEW_DATA_ONLY_DEFAULT`` is true.
    """
    env = os.environ if environ is None else environ
    raw = env.get("LEGACY_API_NEW_DATA_ONLY_DEFAULT", "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    msg = f"LEGACY_API_NEW_DATA_ONLY_DEFAULT must be true or false, got {raw!r}"
    raise ConfigurationError(msg)
