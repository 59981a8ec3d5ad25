"""The gateway's endpoints through Django + DRF in process, the 4D side a real emulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from tests.gateway.conftest import requests_total

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

PROBLEM = "application/problem+json"


@pytest.fixture
def client_all(api: Any, make_token: Any) -> Any:
    """The test client with a token that may do everything on live."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('live:*:*')}")
    return api


def _direct(emulators: dict[str, Any], table: str, **kwargs: Any) -> list[dict[str, Any]]:
    from legacy_api import build_client  # noqa: PLC0415

    client = build_client({"environments": {"live": emulators["live"].base_url}})
    try:
        return list(client.iter_records(table, **kwargs))
    finally:
        client.close()


def test_cursor_pages_cover_a_direct_read(client_all: Any, emulators: dict[str, Any]) -> None:
    """Following ``next`` over pages of 7 yields exactly the rows of a direct ordered read."""
    url = "/api/live/Kunden/?limit=7&order_by=Kundennr&fields=Kundennr,Name"
    keys: list[Any] = []
    counts = set()
    while url:
        answer = client_all.get(url)
        assert answer.status_code == 200, answer.content
        body = answer.json()
        counts.add(body["count"])
        assert len(body["results"]) <= 7
        keys += [r["Kundennr"] for r in body["results"]]
        url = (
            f"/api/live/Kunden/?limit=7&order_by=Kundennr&fields=Kundennr,Name"
            f"&cursor={quote(body['next'])}"
            if body["next"]
            else ""
        )
    direct = [r["Kundennr"] for r in _direct(emulators, "Kunden", order_by="Kundennr")]
    assert direct == keys
    assert counts == {len(direct)}


def test_where_filters_through_the_mini_language(
    client_all: Any, emulators: dict[str, Any]
) -> None:
    """A ``where`` in the mini-language returns the same rows as the query builder's filter."""
    from legacy_core.query import field  # noqa: PLC0415

    answer = client_all.get("/api/live/Kunden/", {"where": "Gesperrt = false", "limit": 1000})
    assert answer.status_code == 200
    got = sorted(r["__KEY"] for r in answer.json()["results"])
    want = sorted(
        r["__KEY"]
        for r in _direct(emulators, "Kunden", where=field("Gesperrt") == False)  # noqa: E712
    )
    assert got == want
    assert 0 < len(got) < 60


@pytest.mark.parametrize(
    ("query", "status", "slug"),
    [
        ({"where": "Nummer = "}, 400, "where-syntax"),
        ({"where": "Name = 'x' and"}, 400, "where-syntax"),
        ({"fields": "Name;DROP"}, 400, "invalid-name"),
        ({"order_by": "Name sideways"}, 400, "invalid-order"),
        ({"limit": "100000"}, 400, "invalid-limit"),
        ({"limit": "-1"}, 400, "invalid-limit"),
        ({"limit": "abc"}, 400, "invalid-limit"),
        ({"cursor": "forged"}, 400, "invalid-cursor"),
    ],
)
def test_bad_input_is_a_problem_without_a_4d_request(
    client_all: Any, emulators: dict[str, Any], query: dict[str, str], status: int, slug: str
) -> None:
    """Malformed filters, names, limits and cursors get a 4xx problem and send nothing to 4D."""
    before = requests_total(emulators["live"])
    answer = client_all.get("/api/live/Kunden/", query)
    assert answer.status_code == status
    assert answer["Content-Type"] == PROBLEM
    body = answer.json()
    assert body["type"].endswith(slug)
    assert body["status"] == status
    assert "http://" not in answer.content.decode()
    assert requests_total(emulators["live"]) == before


def test_tampered_and_foreign_cursors_are_refused(client_all: Any) -> None:
    """A cursor with one character changed, or one made for another query, is a 400."""
    first = client_all.get("/api/live/Kunden/?limit=5").json()
    cursor = first["next"]
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    tampered = client_all.get("/api/live/Kunden/", {"limit": 5, "cursor": flipped})
    assert tampered.status_code == 400
    assert tampered.json()["type"].endswith("invalid-cursor")
    foreign = client_all.get(
        "/api/live/Kunden/", {"limit": 5, "cursor": cursor, "where": "Rabatt = 0"}
    )
    assert foreign.status_code == 400
    assert "another query" in foreign.json()["detail"]
    good = client_all.get("/api/live/Kunden/", {"limit": 5, "cursor": cursor})
    assert good.status_code == 200


def test_unknown_field_and_table_are_4xx(client_all: Any) -> None:
    """An unknown field is a 400 naming it and suggestions; an unknown table or env a 404."""
    field_answer = client_all.get("/api/live/Kunden/", {"fields": "Nam"})
    assert field_answer.status_code == 400
    assert field_answer.json()["field"] == "Nam"
    assert "Name" in field_answer.json()["suggestions"]
    table_answer = client_all.get("/api/live/Kundenx/")
    assert table_answer.status_code == 404
    assert table_answer["Content-Type"] == PROBLEM
    env_answer = client_all.get("/api/nowhere/Kunden/")
    assert env_answer.status_code == 403  # the token has no scope there (checked first)


def test_get_describe_and_no_internal_uris(client_all: Any, emulators: dict[str, Any]) -> None:
    """A record carries its stamp as ETag (If-None-Match: 304), no 4D URIs; describe its fields."""
    first = client_all.get("/api/live/Kunden/?limit=1").json()["results"][0]
    answer = client_all.get(f"/api/live/Kunden/{first['__KEY']}/")
    assert answer.status_code == 200
    assert answer.json()["Name"] == first["Name"]
    assert answer["ETag"] == f'"{first["__STAMP"]}"'
    assert "/rest/" not in answer.content.decode()
    same = client_all.get(f"/api/live/Kunden/{first['__KEY']}/", HTTP_IF_NONE_MATCH=answer["ETag"])
    assert same.status_code == 304
    assert same.content == b""
    other = client_all.get(f"/api/live/Kunden/{first['__KEY']}/", HTTP_IF_NONE_MATCH='"0"')
    assert other.status_code == 200
    missing = client_all.get("/api/live/Kunden/NOPE123/")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("not-found")
    schema = client_all.get("/api/live/Kunden/describe/").json()
    assert schema["table"] == "Kunden"
    assert "Kundennr" in [a["name"] for a in schema["attributes"]]


def test_patch_with_stamps_and_audit(client_all: Any, emulators: dict[str, Any]) -> None:
    """PATCH saves and is audited; a stale If-Match is a 412, a stale body __STAMP a 409."""
    from legacy_adapters.django.gateway.models import AuditEntry  # noqa: PLC0415

    row = client_all.get("/api/live/Kunden/?limit=1").json()["results"][0]
    url = f"/api/live/Kunden/{row['__KEY']}/"
    saved = client_all.patch(
        url, {"Vorname": "Gatewayine"}, format="json", HTTP_IF_MATCH=f'"{row["__STAMP"]}"'
    )
    assert saved.status_code == 200, saved.content
    new_stamp = saved.json()["__STAMP"]
    assert new_stamp != row["__STAMP"]
    assert client_all.get(url).json()["Vorname"] == "Gatewayine"
    stale = client_all.patch(
        url, {"Vorname": "Late"}, format="json", HTTP_IF_MATCH=f'"{row["__STAMP"]}"'
    )
    assert stale.status_code == 412
    assert stale.json()["current_stamp"] == new_stamp
    stale_body = client_all.patch(
        url, {"Vorname": "Late", "__STAMP": row["__STAMP"]}, format="json"
    )
    assert stale_body.status_code == 409
    assert client_all.get(url).json()["Vorname"] == "Gatewayine"
    entries = list(
        AuditEntry.objects.filter(key=row["__KEY"]).values_list(
            "action", "before_stamp", "after_stamp", "outcome"
        )
    )
    assert entries[0] == ("write", row["__STAMP"], new_stamp, "saved")
    assert [e[3] for e in entries[1:]] == ["conflict", "conflict"]


def test_create_then_delete(client_all: Any, emulators: dict[str, Any]) -> None:
    """POST creates (201, Location), DELETE removes it (204), the record then 404s; both audited."""
    from legacy_adapters.django.gateway.models import AuditEntry  # noqa: PLC0415

    created = client_all.post(
        "/api/live/Kunden/", {"Name": "Neu", "Kundennr": 999001}, format="json"
    )
    assert created.status_code == 201, created.content
    key = created.json()["__KEY"]
    assert created["Location"].endswith(f"/api/live/Kunden/{key}/")
    assert client_all.get(f"/api/live/Kunden/{key}/").json()["Name"] == "Neu"
    gone = client_all.delete(f"/api/live/Kunden/{key}/")
    assert gone.status_code == 204
    assert client_all.get(f"/api/live/Kunden/{key}/").status_code == 404
    actions = list(AuditEntry.objects.filter(key=key).values_list("action", "outcome"))
    assert actions == [("create", "saved"), ("delete", "deleted")]


def test_bad_write_bodies_are_400(client_all: Any, emulators: dict[str, Any]) -> None:
    """A non-object body, an unknown field or a malformed If-Match is a 400 problem."""
    row = client_all.get("/api/live/Kunden/?limit=1").json()["results"][0]
    url = f"/api/live/Kunden/{row['__KEY']}/"
    assert client_all.patch(url, [1, 2], format="json").status_code == 400
    assert client_all.patch(url, {"Nope": 1}, format="json").status_code == 400
    bad_header = client_all.patch(url, {"Name": "x"}, format="json", HTTP_IF_MATCH="yesterday")
    assert bad_header.status_code == 400
    assert bad_header["Content-Type"] == PROBLEM
    not_json = client_all.generic(
        "POST", "/api/live/Kunden/", b"{nope", content_type="application/json"
    )
    assert not_json.status_code == 400
    assert not_json["Content-Type"] == PROBLEM


def test_server_failure_is_503_without_internal_url(
    client_all: Any, emulators: dict[str, Any]
) -> None:
    """When 4D answers 503 the gateway answers 503 with Retry-After and no 4D URL in the body."""
    emulators["live"].set_faults(error_503_rate=1.0)
    try:
        answer = client_all.get("/api/live/Kunden/?limit=3")
    finally:
        emulators["live"].set_faults()
    assert answer.status_code == 503
    assert answer["Content-Type"] == PROBLEM
    assert int(answer["Retry-After"]) > 0
    assert emulators["live"].base_url not in answer.content.decode()


def test_health_schema_and_docs(api: Any) -> None:
    """Health, the OpenAPI 3 JSON (with the table paths) and the docs page need no token."""
    health = api.get("/api/health/")
    assert health.status_code == 200
    assert set(health.json()["environments"]) == {"live", "test"}
    assert "http" not in health.content.decode()
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    doc = schema.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/{env}/{table}/{key}/" in doc["paths"]
    assert set(doc["paths"]["/api/{env}/{table}/{key}/"]) >= {"get", "patch", "delete"}
    params = {p["name"]: p for p in doc["paths"]["/api/{env}/{table}/"]["get"]["parameters"]}
    assert params["env"]["schema"]["enum"] == ["live", "test"]
    assert {"Kunden", "Artikel_Variante"} <= set(params["table"]["schema"]["enum"])
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    asset = api.get("/api/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_no_write_without_its_audit_row(client_all: Any, emulators: dict[str, Any]) -> None:
    """When the audit log cannot be written the write is refused (503) before 4D sees it."""
    from django.db import connection  # noqa: PLC0415

    before = requests_total(emulators["live"])
    created_before = emulators["live"].stats()["entities_created"]
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DROP TABLE legacy_gateway_auditentry")
    answer = client_all.post("/api/live/Kunden/", {"Name": "Unlogged"}, format="json")
    assert answer.status_code == 503
    assert answer["Content-Type"] == PROBLEM
    assert answer.json()["type"].endswith("gateway-database")
    assert requests_total(emulators["live"]) == before
    assert emulators["live"].stats()["entities_created"] == created_before


def test_audit_row_is_pending_until_the_write_ends(client_all: Any) -> None:
    """A write's row is saved before the request to 4D and completed after it."""
    from legacy_adapters.django.gateway.models import AuditEntry  # noqa: PLC0415

    seen: list[str] = []
    real_create = AuditEntry.objects.create

    def spy(**values: Any) -> Any:
        seen.append(values["outcome"])
        return real_create(**values)

    AuditEntry.objects.create = spy  # type: ignore[method-assign]
    try:
        answer = client_all.post("/api/live/Kunden/", {"Name": "Protokolliert"}, format="json")
    finally:
        del AuditEntry.objects.create
    assert answer.status_code == 201
    assert seen == ["pending"]
    entry = AuditEntry.objects.get(key=answer.json()["__KEY"])
    assert (entry.outcome, entry.after_stamp) == ("saved", answer.json()["__STAMP"])
