"""drf-spectacular post-processing: environments and tables as enums, the tables' fields.

Consumers (and schemathesis) then see which ``{env}`` and ``{table}`` exist and what a
record of each table holds. The environments come from the configuration; the tables
and their fields from each environment's ``$catalog`` (``client.tables`` and
``client.describe``, the latter cached by the client for ``schema_ttl``). Best effort:
an environment that does not answer contributes no table, a table whose ``describe``
fails is a generic object (both logged), and the schema is still served.

Per table a component ``<Table>Record`` lists its fields with JSON Schema types (4D
``long`` → integer, ``date`` → string/date, ...; every value may be null, unknown or
binary types are left untyped) and ``<Table>Write`` the same without 4D's own
``__KEY``/``__TIMESTAMP``. The paths stay generic (``{table}``), so list items, records
and the create/update bodies are ``anyOf`` the tables' components (the write answers
stay generic: they are 4D's own encoding); extra properties stay allowed (a
projection or an allow-list shows fewer fields, relations appear expanded).
"""

from __future__ import annotations

from typing import Any

from legacy_adapters.django.gateway._client import gateway_client
from legacy_core._log import get_logger
from legacy_core.errors import LegacyError
from legacy_core.schema import AttributeSpec, TableSchema

__all__ = ["add_environments_and_tables", "json_schema_of"]

_log = get_logger()

_JSON_TYPE = {
    **dict.fromkeys(("string", "text", "uuid", "alpha", "duration", "time"), "string"),
    **dict.fromkeys(("long", "long64", "word", "byte", "integer", "int", "short"), "integer"),
    **dict.fromkeys(("number", "real", "float"), "number"),
    **dict.fromkeys(("bool", "boolean"), "boolean"),
    "object": "object",
}
_SYSTEM = {
    "__KEY": {"description": "4D's primary key of the record"},
    "__STAMP": {"type": "integer", "description": "4D's change stamp (ETag, If-Match)"},
    "__TIMESTAMP": {"type": "string", "description": "4D's time of the last change"},
}
_GENERIC = {"type": "object", "additionalProperties": True}


def json_schema_of(attribute: AttributeSpec) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0, nullable) of one 4D attribute's values in the gateway."""
    if attribute.type == "date":
        # Typed reads give datetime.date (date only) or a datetime, both ISO strings;
        # a duration is "HH:MM:SS".
        out: dict[str, Any] = {"type": "string"}
        if attribute.simple_date:
            out["format"] = "date"
    else:
        kind = _JSON_TYPE.get(attribute.type)
        out = {"type": kind} if kind else {}  # image, blob, picture...: untyped
    out["nullable"] = True
    out["description"] = f"4D {attribute.type}"
    return out


def _components(schema: TableSchema) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = {a.name: json_schema_of(a) for a in schema.fields}
    record = {
        "type": "object",
        "description": f"A record of {schema.table} (from 4D's $catalog)",
        "properties": {**_SYSTEM, **fields},
        "additionalProperties": True,
    }
    write = {
        "type": "object",
        "description": f"Field values of {schema.table} to set",
        "properties": {"__STAMP": _SYSTEM["__STAMP"], **fields},
        "additionalProperties": True,
    }
    return record, write


def _table_components(client: Any, environments: list[str]) -> tuple[set[str], dict[str, Any]]:
    tables: set[str] = set()
    components: dict[str, Any] = {}
    for env in environments:
        try:
            names = client.tables(env)
        except LegacyError as exc:
            _log.warning("legacy_api.gateway.schema_tables_unavailable", environment=env,
                         category=type(exc).__name__)  # fmt: skip
            continue  # a server down must not take the documentation with it
        tables.update(names)
        for table in names:
            if f"{table}Record" in components:
                continue  # the first environment that describes a table names its fields
            try:
                schema = client.describe(table, environment=env)
            except LegacyError as exc:
                _log.warning("legacy_api.gateway.schema_fields_unavailable", environment=env,
                             table=table, category=type(exc).__name__)  # fmt: skip
                continue
            components[f"{table}Record"], components[f"{table}Write"] = _components(schema)
    return tables, components


def _any_of(components: dict[str, Any], suffix: str) -> dict[str, Any]:
    refs = [{"$ref": f"#/components/schemas/{n}"} for n in sorted(components) if n.endswith(suffix)]
    return {"anyOf": refs} if refs else dict(_GENERIC)


def _set_json(container: dict[str, Any], schema: dict[str, Any]) -> None:
    content = container.get("content", {}).get("application/json")
    if isinstance(content, dict):
        content["schema"] = schema


def add_environments_and_tables(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """``POSTPROCESSING_HOOKS`` entry: ``env``/``table`` enums and the tables' records."""
    client = gateway_client()
    environments = sorted(client.environments)
    tables, components = _table_components(client, environments)
    result.setdefault("components", {}).setdefault("schemas", {}).update(components)
    record, write = _any_of(components, "Record"), _any_of(components, "Write")
    page = {
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": record},
            "next": {"type": "string", "nullable": True, "description": "the next page's cursor"},
            "count": {"type": "integer", "description": "rows in the snapshot"},
        },
        "required": ["results", "next", "count"],
    }
    # The answers of create and update stay generic objects: they are 4D's answer to the
    # write, in 4D's own encoding (dates as "1!1!2000"), not the typed values of a read.
    bodies = {"list": ("200", page), "retrieve": ("200", record)}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "path":
                    continue
                if parameter.get("name") == "env":
                    parameter["schema"] = {"type": "string", "enum": environments}
                elif parameter.get("name") == "table" and tables:
                    parameter["schema"] = {"type": "string", "enum": sorted(tables)}
            found = bodies.get(str(operation.get("operationId")))
            if found is not None:
                status, schema = found
                _set_json(operation.get("responses", {}).get(status, {}), schema)
            if operation.get("requestBody"):
                _set_json(operation["requestBody"], write)
    return result
