"""The OpenAPI document carries every table's fields from ``$catalog`` (ADR 0032 amendment)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)


def _nullable_to_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as plain JSON Schema (so jsonschema can check records)."""
    if isinstance(schema, dict):
        out = {k: _nullable_to_json_schema(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable_to_json_schema(v) for v in schema]
    return schema


def _doc(api: Any) -> dict[str, Any]:
    answer = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    return dict(answer.json())


def test_each_table_has_a_record_component_with_its_catalog_fields(
    api: Any, emulators: dict[str, Any]
) -> None:
    """``KundenRecord`` names exactly Kunden's $catalog fields (plus 4D's own), typed."""
    from legacy_api import build_client  # noqa: PLC0415

    direct = build_client({"environments": {"live": emulators["live"].base_url}})
    try:
        schema = direct.describe("Kunden")
    finally:
        direct.close()
    components = _doc(api)["components"]["schemas"]
    record = components["KundenRecord"]["properties"]
    assert set(record) == {a.name for a in schema.fields} | {"__KEY", "__STAMP", "__TIMESTAMP"}
    wanted = {"long": "integer", "long64": "integer", "number": "number", "bool": "boolean"}
    for attribute in schema.fields:
        if attribute.type in wanted:
            assert record[attribute.name]["type"] == wanted[attribute.type], attribute
    assert "__KEY" not in components["KundenWrite"]["properties"]
    assert "Artikel_VarianteRecord" in components


def test_list_get_and_bodies_refer_to_the_table_components(api: Any) -> None:
    """The list items, the record answer and the create/update bodies are the tables' anyOf."""
    paths = _doc(api)["paths"]
    table_path = next(p for p in paths if p.endswith("{table}/"))
    record_path = next(p for p in paths if p.endswith("{key}/"))
    listed = paths[table_path]["get"]["responses"]["200"]["content"]["application/json"]
    items = listed["schema"]["properties"]["results"]["items"]["anyOf"]
    assert {"$ref": "#/components/schemas/KundenRecord"} in items
    got = paths[record_path]["get"]["responses"]["200"]["content"]["application/json"]
    assert got["schema"]["anyOf"] == items
    body = paths[table_path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/KundenWrite"} in body["anyOf"]
    patch = paths[record_path]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch == body


@pytest.mark.parametrize("table", ["Kunden", "Artikel_Variante"])
def test_real_records_validate_against_their_component(
    api: Any, make_token: Any, table: str
) -> None:
    """Every record the gateway lists for a table satisfies its component's types."""
    import jsonschema  # noqa: PLC0415

    record = _nullable_to_json_schema(_doc(api)["components"]["schemas"][f"{table}Record"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('live:*:read')}")
    body = api.get(f"/api/live/{table}/?limit=60").json()
    assert body["results"]
    for row in body["results"]:
        jsonschema.validate(row, record)


def test_an_environment_down_still_serves_the_schema(api: Any) -> None:
    """With one 4D unreachable the document is served with the other's tables and fields."""
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    from legacy_adapters.django import reset_client  # noqa: PLC0415

    legacy = {
        **settings.LEGACY_API,
        "ENVIRONMENTS": {**settings.LEGACY_API["ENVIRONMENTS"], "test": "http://127.0.0.1:1"},
    }
    with override_settings(LEGACY_API=legacy):
        reset_client()
        doc = _doc(api)
    assert "KundenRecord" in doc["components"]["schemas"]


def test_every_environment_down_gives_generic_objects(api: Any) -> None:
    """With no 4D answering, list items and bodies fall back to a generic object."""
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    from legacy_adapters.django import reset_client  # noqa: PLC0415

    down = {"live": "http://127.0.0.1:1", "test": "http://127.0.0.1:1"}
    with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": down}):
        reset_client()
        doc = _doc(api)
    assert not [n for n in doc["components"]["schemas"] if n.endswith("Record")]
    table_path = next(p for p in doc["paths"] if p.endswith("{table}/"))
    listed = doc["paths"][table_path]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["properties"]["results"]["items"] == {
        "type": "object",
        "additionalProperties": True,
    }
