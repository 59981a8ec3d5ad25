"""``wsz_api.pushField``: the old ``push_data`` / ``push_field_to_api``, served by ``push_field``.

Modern code calls ``get_client().push_field(table, key, field, value)``. Failures raise
(ADR 0010); success returns ``True`` as the old functions did.
"""

# ruff: noqa: N999 - the module name is the old import path callers use

from __future__ import annotations

from typing import Any

from legacy_core._log import get_logger
from wsz_api import _client
from wsz_api._compat import as_text, deprecated, pop_environment, warn_extras

__all__ = ["push_data", "push_field_to_api"]

_log = get_logger()


def push_data(table: str, column: str, key: str, value: Any, **legacy: Any) -> bool:
    """Set ``column`` of the ``table`` entity ``key`` to ``value`` with one 4D update.

    Returns ``True`` on success and raises on failure (the first line of the error names
    the environment, table and status). ``mode``/``environment`` choose the server.
    """
    deprecated(
        "wsz_api.pushField.push_data()",
        "legacy_core.service.LegacyClient.push_field(table, key, field, value)",
    )
    return _push(table, key, column, value, legacy=legacy, function="push_data")


def push_field_to_api(
    table_name: str, record_id: str, field_name: str, field_value: Any, **legacy: Any
) -> bool:
    """Set one field: the older name of :func:`push_data` (table, key, field, value)."""
    deprecated(
        "wsz_api.pushField.push_field_to_api()",
        "legacy_core.service.LegacyClient.push_field(table, key, field, value)",
    )
    return _push(
        table_name, record_id, field_name, field_value, legacy=legacy, function="push_field_to_api"
    )


def _push(
    table: str, key: object, column: str, value: Any, *, legacy: dict[str, Any], function: str
) -> bool:
    legacy = dict(legacy)
    environment = pop_environment(function, legacy)
    warn_extras(function, legacy, depth=1)
    client = _client.get_client()
    env = environment or client.default_environment
    # 4D keys are strings; scripts pass numeric keys as ints ("17000" vs 17000).
    table_name = as_text(table, "table")
    key_text = as_text(key, f"key of {table_name}", table_name)
    result = client.push_field(
        table_name, key_text, as_text(column, "field", table_name), value, environment=env
    )
    _log.info(
        "legacy_api.wsz.push",
        table=table_name,
        key=key_text,
        field=column,
        environment=env,
        stamp=result.stamp,
    )
    return True
