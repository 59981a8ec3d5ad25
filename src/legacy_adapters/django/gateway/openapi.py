"""drf-spectacular post-processing: the configured environments and their tables as enums.

Consumers (and schemathesis) then see which ``{env}`` and ``{table}`` exist. The
environments come from the configuration; the tables from each environment's ``$catalog``
(one request per environment per schema build, best effort: an environment that does not
answer contributes none, and the schema is still served).
"""

from __future__ import annotations

from typing import Any

from legacy_adapters.django.gateway._client import gateway_client
from legacy_core.errors import LegacyError

__all__ = ["add_environments_and_tables"]


def add_environments_and_tables(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """``POSTPROCESSING_HOOKS`` entry: enums on the ``env`` and ``table`` path parameters."""
    client = gateway_client()
    environments = sorted(client.environments)
    tables: set[str] = set()
    for env in environments:
        try:
            tables.update(client.tables(env))
        except LegacyError:
            continue  # a server down must not take the documentation with it
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") != "path":
                    continue
                if parameter.get("name") == "env":
                    parameter["schema"] = {"type": "string", "enum": environments}
                elif parameter.get("name") == "table" and tables:
                    parameter["schema"] = {"type": "string", "enum": sorted(tables)}
    return result
