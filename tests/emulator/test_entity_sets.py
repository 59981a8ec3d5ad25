"""Conformance: entity sets — creation, paging, snapshots, release and expiry (item 4)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from fourd_emulator import EmulatorServer

pytestmark = pytest.mark.integration


def open_set(http: requests.Session, base: str, **params: Any) -> dict[str, Any]:
    r = http.get(
        f"{base}/Artikel_Variante",
        params={"$method": "entityset", "$timeout": 600, **params},
        timeout=10,
    )
    assert 200 == r.status_code, r.text
    return dict(r.json())


class TestEntitySets:
    def test_entityset_answers_uri_and_first_page(self, base: str, http: requests.Session) -> None:
        """$method=entityset answers a page and __ENTITYSET /rest/{Table}/$entityset/{id}."""
        body = open_set(http, base, **{"$filter": "Typ = 1", "$top": 10})
        assert re.match(r"^/rest/Artikel_Variante/\$entityset/[0-9A-F]{32}$", body["__ENTITYSET"])
        assert 10 == body["__SENT"]
        assert body["__COUNT"] > 10

    def test_paging_through_the_set(self, base: str, http: requests.Session) -> None:
        """Pages of the set tile exactly the selection of the filter."""
        body = open_set(http, base, **{"$filter": "Typ = 1", "$top": 1})
        root = base[: -len("/rest")]
        keys: list[str] = []
        for skip in range(0, body["__COUNT"], 250):
            page = http.get(
                root + body["__ENTITYSET"], params={"$skip": skip, "$top": 250}, timeout=5
            ).json()
            assert skip == page["__FIRST"]
            keys += [e["__KEY"] for e in page["__ENTITIES"]]
        direct = http.get(
            f"{base}/Artikel_Variante", params={"$filter": "Typ = 1", "$top": 5000}, timeout=5
        ).json()
        assert [e["__KEY"] for e in direct["__ENTITIES"]] == keys

    def test_set_is_a_snapshot_of_keys(self, base: str, http: requests.Session) -> None:
        """Entities that stop matching after the set was made stay in it (snapshot paging)."""
        body = open_set(http, base, **{"$filter": "Typ = 1", "$top": 1})
        first = body["__ENTITIES"][0]
        r = http.post(
            f"{base}/Artikel_Variante",
            params={"$method": "update"},
            json={"__KEY": first["__KEY"], "__STAMP": first["__STAMP"], "Typ": 0},
            timeout=5,
        )
        assert 200 == r.status_code
        root = base[: -len("/rest")]
        page = http.get(root + body["__ENTITYSET"], params={"$top": 1}, timeout=5).json()
        assert body["__COUNT"] == page["__COUNT"]
        assert first["__KEY"] == page["__ENTITIES"][0]["__KEY"]
        assert 0 == page["__ENTITIES"][0]["Typ"]

    def test_sorted_set_keeps_order(self, base: str, http: requests.Session) -> None:
        """A set made with $orderby pages in that order."""
        body = open_set(http, base, **{"$orderby": "Nummer desc", "$top": 3})
        numbers = [e["Nummer"] for e in body["__ENTITIES"]]
        assert sorted(numbers, reverse=True) == numbers

    def test_release_then_404_1802(self, base: str, http: requests.Session) -> None:
        """$method=release frees the set; using it afterwards answers 404 with errCode 1802."""
        body = open_set(http, base, **{"$top": 1})
        root = base[: -len("/rest")]
        r = http.get(root + body["__ENTITYSET"], params={"$method": "release"}, timeout=5)
        assert {"ok": True} == r.json()
        r = http.get(root + body["__ENTITYSET"], timeout=5)
        assert 404 == r.status_code
        assert 1802 == r.json()["__ERROR"][0]["errCode"]

    def test_unknown_set_is_404_1802(self, base: str, http: requests.Session) -> None:
        """An unknown entity set id answers 404 with errCode 1802."""
        r = http.get(f"{base}/Artikel_Variante/$entityset/{'0' * 32}", timeout=5)
        assert 404 == r.status_code
        assert 1802 == r.json()["__ERROR"][0]["errCode"]

    def test_set_of_another_table_is_unknown(self, base: str, http: requests.Session) -> None:
        """A set id is only valid under the table it was made on."""
        set_id = open_set(http, base, **{"$top": 1})["__ENTITYSET"].rsplit("/", 1)[1]
        assert 404 == http.get(f"{base}/Kunden/$entityset/{set_id}", timeout=5).status_code

    def test_timeout_expires_idle_sets(
        self, base: str, http: requests.Session, server: EmulatorServer
    ) -> None:
        """A set idle longer than its $timeout (seconds) expires with 404/1802."""
        body = open_set(http, base, **{"$top": 1, "$timeout": 120})
        root = base[: -len("/rest")]
        server.advance_clock(100)
        assert 200 == http.get(root + body["__ENTITYSET"], timeout=5).status_code
        server.advance_clock(121)
        assert 404 == http.get(root + body["__ENTITYSET"], timeout=5).status_code

    def test_default_timeout_is_two_hours(
        self, base: str, http: requests.Session, server: EmulatorServer
    ) -> None:
        """Without $timeout a set lives 2 hours idle."""
        r = http.get(
            f"{base}/Artikel_Variante", params={"$method": "entityset", "$top": 1}, timeout=5
        )
        root = base[: -len("/rest")]
        uri = r.json()["__ENTITYSET"]
        server.advance_clock(7100)
        assert 200 == http.get(root + uri, timeout=5).status_code

    def test_info_lists_entity_sets(self, base: str, http: requests.Session) -> None:
        """$info counts and lists the live entity sets."""
        open_set(http, base, **{"$filter": "Typ = 2", "$top": 1})
        info = http.get(f"{base}/$info", timeout=5).json()
        assert 1 == info["entitySetCount"]
        assert "Artikel_Variante" == info["entitySet"][0]["tableName"]
