"""Cursor pagination over a 4D entity set: later pages read the snapshot of the first."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from tests.gateway.conftest import requests_total

from legacy_core.query import parse_where

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

# Seed rows only (other tests create rows with small numbers, which would tie in the order).
WHERE = "Kundennr >= 100000"
URL = f"/api/live/Kunden/?limit=6&order_by=Kundennr&fields=Kundennr,Name&where={quote(WHERE)}"


@pytest.fixture
def direct(emulators: dict[str, Any]) -> Any:
    """A client of its own on the live emulator (the 'other writer' of these tests)."""
    from legacy_api import build_client  # noqa: PLC0415

    client = build_client({"environments": {"live": emulators["live"].base_url}})
    yield client
    client.close()


def _token(make_token: Any, api: Any, *scopes: str) -> Any:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(*scopes)}")
    return api


def _follow(api: Any, first: dict[str, Any]) -> list[Any]:
    keys = [r["__KEY"] for r in first["results"]]
    body = first
    while body["next"]:
        answer = api.get(f"{URL}&cursor={quote(body['next'])}")
        assert answer.status_code == 200, answer.content
        body = answer.json()
        keys += [r["__KEY"] for r in body["results"]]
    return keys


def test_rows_written_between_pages_do_not_shift_the_window(
    api: Any, make_token: Any, direct: Any
) -> None:
    """Rows created and deleted in 4D after page one leave the pages equal to its snapshot."""
    client = _token(make_token, api, "live:*:*")
    rows = list(direct.iter_records("Kunden", where=parse_where(WHERE), order_by="Kundennr"))
    snapshot = [r["__KEY"] for r in rows]
    first = client.get(URL)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["next"] is not None
    assert body["count"] == len(snapshot)
    # Another writer changes the selection while the consumer pages: a row that sorts
    # first is created, one on a later page is deleted.
    created = direct.create("Kunden", {"Kundennr": rows[0]["Kundennr"] - 1, "Name": "Eingefügt"})
    direct.delete("Kunden", rows[len(rows) // 2]["__KEY"])
    try:
        assert _follow(client, body) == snapshot
    finally:
        direct.delete("Kunden", created.key)


def test_a_fresh_list_sees_the_new_rows(api: Any, make_token: Any, direct: Any) -> None:
    """Starting again (no cursor) opens a new snapshot that includes a row created since."""
    client = _token(make_token, api, "live:*:*")
    before = client.get(URL).json()["count"]
    created = direct.create("Kunden", {"Kundennr": 9_000_001, "Name": "Neu"})
    try:
        assert client.get(URL).json()["count"] == before + 1
    finally:
        direct.delete("Kunden", created.key)


def test_an_expired_snapshot_is_a_410_problem(
    api: Any, make_token: Any, direct: Any, emulators: dict[str, Any]
) -> None:
    """When 4D no longer knows the cursor's entity set the answer is 410 'start again'."""
    from django.core import signing  # noqa: PLC0415

    client = _token(make_token, api, "live:*:*")
    body = client.get(URL).json()
    value = signing.TimestampSigner(salt="legacy-api.gateway.cursor").unsign_object(body["next"])
    direct.tables("live")  # log the direct client in
    direct.reader.release_snapshot("live", "Kunden", value["e"])
    answer = client.get(f"{URL}&cursor={quote(body['next'])}")
    assert answer.status_code == 410, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("cursor-expired")
    assert "start the list again" in answer.json()["detail"]
    assert "http" not in answer.content.decode()


def test_another_consumers_cursor_is_refused_before_4d(
    api: Any, make_token: Any, emulators: dict[str, Any]
) -> None:
    """A valid cursor presented by a second consumer is a 403 and sends nothing to 4D."""
    owner = _token(make_token, api, "live:*:*")
    cursor = owner.get(URL).json()["next"]
    _token(make_token, api, "live:*:*")  # same client, another consumer's token
    before = requests_total(emulators["live"])
    answer = api.get(f"{URL}&cursor={quote(cursor)}")
    assert answer.status_code == 403, answer.content
    assert answer.json()["type"].endswith("cursor-forbidden")
    assert requests_total(emulators["live"]) == before


def test_a_cursor_signed_with_another_key_is_refused(api: Any, make_token: Any) -> None:
    """A cursor forged with a different secret key (same payload shape) is a 400."""
    from django.core import signing  # noqa: PLC0415

    client = _token(make_token, api, "live:*:*")
    real = client.get(URL).json()["next"]
    value = signing.TimestampSigner(salt="legacy-api.gateway.cursor").unsign_object(real)
    forged = signing.TimestampSigner(key="not-the-key", salt="legacy-api.gateway.cursor")
    answer = client.get(f"{URL}&cursor={quote(forged.sign_object(value, compress=True))}")
    assert answer.status_code == 400
    assert answer.json()["type"].endswith("invalid-cursor")
