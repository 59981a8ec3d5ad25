"""Conformance: tables loaded with ``Emulator.add_table`` (the contract datasets)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fourd_emulator import EmulatorServer

pytestmark = pytest.mark.integration

ATTRIBUTES = {
    "__KEY": "string",
    "Nummer": "long",
    "Datum": "date",
    "Lager": "string",
    "Info": "object",
}


def lager_rows() -> list[dict[str, Any]]:
    return [
        {
            "__KEY": str(n),
            "__STAMP": 3,
            "Nummer": n,
            "Datum": f"{n}!1!2024",
            "Lager": "Nord" if n % 2 else "Süd",
        }
        for n in range(1, 6)
    ]


class TestAddTable:
    def test_served_like_a_seeded_table(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """An added table is listed in $catalog and served with filters, keys and stamps."""
        server.emulator.add_table("Lager_Bewegung", ATTRIBUTES, lager_rows())
        base = f"{server.base_url}/rest"
        names = [c["name"] for c in http.get(f"{base}/$catalog", timeout=5).json()["dataClasses"]]
        assert "Lager_Bewegung" in names
        body = http.get(
            f"{base}/Lager_Bewegung", params={"$filter": 'Lager = "nord"'}, timeout=5
        ).json()
        assert ["1", "3", "5"] == [e["__KEY"] for e in body["__ENTITIES"]]
        first = body["__ENTITIES"][0]
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Datum", "Lager", "Info"] == list(
            first
        )
        assert 3 == first["__STAMP"]
        assert "4" == http.get(f"{base}/Lager_Bewegung(4)", timeout=5).json()["__KEY"]
        answer = http.get(f"{base}/$catalog/Lager_Bewegung", timeout=5).json()
        catalog = answer["dataClasses"][0]["attributes"]
        assert [{"name": "Datum", "type": "date", "simpleDate": True}] == [
            {k: a[k] for k in ("name", "type", "simpleDate")}
            for a in catalog
            if a["name"] == "Datum"
        ]

    def test_writes_and_numeric_creates(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """Updates check stamps; creates continue numeric keys."""
        server.emulator.add_table("Lager_Bewegung", ATTRIBUTES, lager_rows())
        url = f"{server.base_url}/rest/Lager_Bewegung"
        r = http.post(
            url,
            params={"$method": "update"},
            json={"__KEY": "2", "__STAMP": 3, "Lager": "Ost"},
            timeout=5,
        )
        assert 4 == r.json()["__STAMP"]
        r = http.post(
            url, params={"$method": "update"}, json={"Nummer": 6, "Lager": "West"}, timeout=5
        )
        assert "6" == r.json()["__KEY"]
        assert 6 == http.get(url, timeout=5).json()["__COUNT"]

    def test_replaces_a_seeded_table_until_reset(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """An added table may replace a seeded one; reset brings the seeded one back."""
        server.emulator.add_table("Personal", ATTRIBUTES, lager_rows())
        url = f"{server.base_url}/rest/Personal"
        assert 5 == http.get(url, timeout=5).json()["__COUNT"]
        server.reset()
        assert 40 == http.get(url, timeout=5).json()["__COUNT"]
        assert 404 == http.get(f"{server.base_url}/rest/Lager_Bewegung", timeout=5).status_code

    def test_key_from_another_attribute(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """Rows without __KEY take it from the named key attribute, as text."""
        rows = [{"Nummer": n, "Lager": "Nord"} for n in (17000, 17001)]
        server.emulator.add_table(
            "Stamm", {"Nummer": "long", "Lager": "string"}, rows, key="Nummer"
        )
        body = http.get(f"{server.base_url}/rest/Stamm", timeout=5).json()
        assert ["17000", "17001"] == [e["__KEY"] for e in body["__ENTITIES"]]
        assert [1, 1] == [e["__STAMP"] for e in body["__ENTITIES"]]

    @pytest.mark.parametrize(
        ("attributes", "rows"),
        [
            ({"Nummer": "integer"}, []),
            ({"Nummer": "long"}, [{"__KEY": "1", "Farbe": "rot"}]),
            ({"Nummer": "long"}, [{"Nummer": 1}]),
            ({"Nummer": "long"}, [{"__KEY": "1"}, {"__KEY": "1"}]),
        ],
    )
    def test_invalid_tables_are_refused(
        self, server: EmulatorServer, attributes: dict[str, str], rows: list[dict[str, Any]]
    ) -> None:
        """Unknown types, unknown attributes, rows without keys and duplicate keys are refused."""
        with pytest.raises(ValueError, match="table Bad"):
            server.emulator.add_table("Bad", attributes, rows)

    def test_layouts_never_leak_between_tables(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """Re-adding tables with other attribute layouts after resets serves each new layout."""
        for n in range(12):
            names = [f"A{n}_{i}" for i in range(3)]
            server.emulator.add_table(
                "Wechsel", dict.fromkeys(names, "long"), [{"__KEY": "1", **dict.fromkeys(names, n)}]
            )
            row = http.get(f"{server.base_url}/rest/Wechsel", timeout=5).json()["__ENTITIES"][0]
            assert ["__KEY", "__TIMESTAMP", "__STAMP", *names] == list(row)
            assert [n, n, n] == [row[k] for k in names]
            server.reset()
