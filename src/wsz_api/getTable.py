"""``wsz_api.getTable``: the old ``fetch_data_from_api``, served by ``LegacyClient.fetch_frame``.

Modern code calls ``get_client().fetch_frame(table, limit=..., where=..., raw=True)``.
"""

# ruff: noqa: N999 - the module name is the old import path callers use

from __future__ import annotations

import datetime as dt
import functools
import operator
from typing import Any

import pandas as pd

from legacy_core._log import get_logger
from legacy_core.errors import InvalidQuery
from legacy_core.query import Filter
from wsz_api import _client
from wsz_api._compat import (
    as_text,
    check_count,
    deprecated,
    parse_day,
    pop_environment,
    to_filter,
    warn_extras,
)
from wsz_api._notice import notice
from wsz_api._threshold import (
    created_since,
    new_data_filter,
    new_data_only_default,
    new_data_threshold,
)

__all__ = ["fetch_data_from_api", "new_data_threshold"]

_log = get_logger()

MODERN_FETCH = "legacy_core.service.LegacyClient.fetch_frame(table, limit=..., raw=True)"
"""The replacement that the deprecation notices of every table read name."""


def fetch_data_from_api(
    table_name: str,
    top: int | None = None,
    skip: int = 0,
    new_data_only: bool | None = None,
    date_created_start: str | dt.date | None = None,
    **legacy: Any,
) -> pd.DataFrame:
    """Return the rows of ``table_name`` as a DataFrame with the server's raw columns and values.

    ``top`` (alias ``limit``) caps the rows returned; neither means all rows, paged
    internally. ``skip`` (alias ``offset``) skips rows first. ``new_data_only=True`` keeps
    rows created or modified on or after :func:`new_data_threshold` (ADR 0009) and says
    so at WARNING; omitted, it is False: all rows (ADR 0016);
    ``date_created_start`` keeps rows created on or after that day. Also honoured:
    ``fields``, ``where`` (4D filter text or a ``legacy_core.query`` filter),
    ``order_by`` and ``mode``/``environment``; ``session_cookie`` is ignored with a
    warning because the shared session is used. Errors raise; their first line names
    the environment, table and status.
    """
    deprecated("wsz_api.getTable.fetch_data_from_api()", MODERN_FETCH)
    return fetch_table(
        table_name,
        top=top,
        skip=skip,
        new_data_only=new_data_only,
        date_created_start=date_created_start,
        legacy=legacy,
        function="fetch_data_from_api",
    )


def fetch_table(
    table_name: str,
    *,
    top: object,
    skip: object,
    new_data_only: object,
    date_created_start: object,
    legacy: dict[str, Any],
    function: str,
    filters: tuple[Filter, ...] = (),
) -> pd.DataFrame:
    """Shared body of the table reads (no deprecation notice of its own).

    ``filters`` are further conditions (the second-generation clients' ``filter_query``),
    combined with AND.
    """
    legacy = dict(legacy)
    environment = pop_environment(function, legacy)
    table = as_text(table_name, "table")
    limit = _merge_alias(table, "top", top, "limit", legacy.pop("limit", None))
    # skip=0 is the default, so only a non-zero skip can disagree with offset.
    skip_value = None if skip in (None, 0) else skip
    offset = _merge_alias(table, "skip", skip_value, "offset", legacy.pop("offset", None)) or 0
    where = to_filter(legacy.pop("where", None), table)
    fields = legacy.pop("fields", None)
    order_by = legacy.pop("order_by", None)
    warn_extras(function, legacy, depth=1)

    if new_data_only is None:
        new_data_only = new_data_only_default()
    threshold = new_data_threshold() if new_data_only else None
    parts: list[Filter] = [where] if where is not None else []
    parts.extend(filters)
    if threshold is not None:
        parts.append(new_data_filter(threshold))
    created = parse_day(date_created_start, "date_created_start", table)
    if created is not None:
        parts.append(created_since(created))
    combined: Filter | None = functools.reduce(operator.and_, parts) if parts else None

    client = _client.get_client()
    env = environment or client.default_environment
    _log.info(
        "legacy_api.wsz.fetch",
        table=table,
        environment=env,
        top=limit,
        skip=offset,
        new_data_only=bool(new_data_only),
        new_data_threshold=threshold.isoformat() if threshold else None,
        date_created_start=created.isoformat() if created else None,
    )
    if threshold is not None:
        notice(
            "legacy_api.wsz.new_data_only",
            f"{function}({table!r}) keeps only rows created or modified on or after "
            f"{threshold.isoformat()} (new_data_only=True); pass new_data_only=False for all "
            "rows, or move the window with LEGACY_API_NEW_DATA_SINCE=YYYY-MM-DD or "
            "LEGACY_API_NEW_DATA_DAYS=N",
            table=table,
            environment=env,
            new_data_threshold=threshold.isoformat(),
        )
    frame = client.fetch_frame(
        table,
        where=combined,
        fields=fields,
        order_by=order_by,
        limit=limit,
        skip=offset,
        raw=True,
        environment=env,
    )
    if limit and len(frame) == limit:
        # top= is a cap (ADR 0008): a result that hits it may hide rows, so say so.
        notice(
            "legacy_api.wsz.top_reached",
            f"{function}({table!r}) returned top={limit} rows, the most it asked for; more "
            "rows may match: leave top= out to get all of them (read in pages)",
            table=table,
            environment=env,
            top=limit,
        )
    return frame


def _merge_alias(
    table: str, name: str, value: object, alias: str, alias_value: object
) -> int | None:
    first = check_count(value, name, table)
    second = check_count(alias_value, alias, table)
    if first is not None and second is not None and first != second:
        msg = f"{name}={first} and {alias}={second} disagree; {alias} is an alias of {name}"
        raise InvalidQuery(msg, table=table)
    return first if first is not None else second
