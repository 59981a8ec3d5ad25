"""``wsz_api.getRecord``: the old ``get_record`` (alias ``getRecord``), served by ``get_record``.

Modern code calls ``get_client().get_record(table, key, raw=True)``.
"""

# ruff: noqa: N999 - the module name is the old import path callers use

from __future__ import annotations

from typing import Any

from wsz_api import _client
from wsz_api._compat import as_text, deprecated, pop_environment, warn_extras

__all__ = ["getRecord", "get_record"]


def get_record(table_name: str, record_id: str, **legacy: Any) -> dict[str, Any]:
    """Return the entity ``record_id`` of ``table_name`` as the server sent it.

    Raises ``RecordNotFound`` (a ``LookupError``) when there is none;
    ``mode``/``environment`` choose the server.
    """
    deprecated(
        "wsz_api.getRecord.get_record()",
        "legacy_core.service.LegacyClient.get_record(table, key)",
    )
    return fetch_record(table_name, record_id, legacy, "get_record")


def getRecord(table_name: str, record_id: str, **legacy: Any) -> dict[str, Any]:  # noqa: N802 - old name
    """Return one entity: the old camel-case name of :func:`get_record`."""
    deprecated(
        "wsz_api.getRecord.getRecord()",
        "legacy_core.service.LegacyClient.get_record(table, key)",
    )
    return fetch_record(table_name, record_id, legacy, "getRecord")


def fetch_record(
    table_name: str, record_id: object, legacy: dict[str, Any], function: str
) -> dict[str, Any]:
    """Shared body of the record lookups (no deprecation notice of its own)."""
    legacy = dict(legacy)
    environment = pop_environment(function, legacy)
    warn_extras(function, legacy, depth=1)
    client = _client.get_client()
    env = environment or client.default_environment
    table = as_text(table_name, "table")
    key = as_text(record_id, f"key of {table}", table)
    return dict(client.get_record(table, key, environment=env, raw=True))
