"""Field allow-lists: a consumer limited to some fields of a table sees and touches only those."""

from __future__ import annotations

from typing import Any

import pytest
from tests.gateway.conftest import requests_total

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

ALLOWED = ["Kundennr", "Name"]


@pytest.fixture
def limited(api: Any, db: None) -> Any:
    """A client whose token may do everything on live:Kunden but only with Kundennr and Name."""
    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415

    _, token = Consumer.create_with_token("limited", ["live:Kunden:*"], {"Kunden": ALLOWED})
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_list_get_and_describe_show_only_allowed_fields(limited: Any) -> None:
    """Lists, records and the schema carry the allowed fields and 4D's __ names only."""
    rows = limited.get("/api/live/Kunden/?limit=3").json()["results"]
    assert rows
    for row in rows:
        assert {k for k in row if not k.startswith("__")} == set(ALLOWED)
    record = limited.get(f"/api/live/Kunden/{rows[0]['__KEY']}/").json()
    assert {k for k in record if not k.startswith("__")} == set(ALLOWED)
    schema = limited.get("/api/live/Kunden/describe/").json()
    assert [a["name"] for a in schema["attributes"]] == ALLOWED


@pytest.mark.parametrize(
    "query",
    [{"fields": "Name,Email"}, {"where": "Email = 'a@b.c'"}, {"order_by": "Rabatt desc"}],
)
def test_reading_by_other_fields_is_403_without_4d(
    limited: Any, emulators: dict[str, Any], query: dict[str, str]
) -> None:
    """Asking for, filtering or ordering by a field outside the list is a 403 naming it."""
    before = requests_total(emulators["live"])
    answer = limited.get("/api/live/Kunden/", query)
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("field-forbidden")
    assert set(answer.json()["fields"]) & {"Email", "Rabatt"}
    assert requests_total(emulators["live"]) == before


def test_writing_other_fields_is_403(limited: Any, emulators: dict[str, Any]) -> None:
    """PATCH and POST with a field outside the list are refused before 4D; inside it they work."""
    key = limited.get("/api/live/Kunden/?limit=1").json()["results"][0]["__KEY"]
    before = requests_total(emulators["live"])
    assert (
        limited.patch(f"/api/live/Kunden/{key}/", {"Email": "x"}, format="json").status_code == 403
    )
    assert limited.post("/api/live/Kunden/", {"Rabatt": 5}, format="json").status_code == 403
    assert requests_total(emulators["live"]) == before
    saved = limited.patch(f"/api/live/Kunden/{key}/", {"Name": "Erlaubt"}, format="json")
    assert saved.status_code == 200
    assert saved.json()["Name"] == "Erlaubt"
    assert "Email" not in saved.json()


def test_other_tables_are_unrestricted(api: Any, db: None) -> None:
    """An allow-list of one table leaves the consumer's other tables whole."""
    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415

    _, token = Consumer.create_with_token("two", ["live:*:read"], {"Kunden": ALLOWED})
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    row = api.get("/api/live/Belege/?limit=1").json()["results"][0]
    assert len([k for k in row if not k.startswith("__")]) > len(ALLOWED)
