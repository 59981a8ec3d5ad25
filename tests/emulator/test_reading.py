"""Conformance: collections, paging, projection, single entities and $catalog (items 2 and 4)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

pytestmark = pytest.mark.integration

TABLES = [
    "Artikel_Familie",
    "Artikel_Variante",
    "Artikel_Stamm",
    "Art_Kalkulation",
    "Kunden",
    "Adressen",
    "Belege",
    "Belege_Pos",
    "Personal",
    "Stamm_Lagerorte",
]
SAMPLE = Path("/work/shared/data/artikel_variante_sample.json")
WIRE_DATE = re.compile(r"^(0!0!0|[1-9]\d?![1-9]\d?!\d{4})$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX32 = re.compile(r"^[0-9A-F]{32}$")


def get(http: requests.Session, url: str, **params: object) -> requests.Response:
    return http.get(url, params=params, timeout=10)


class TestCollection:
    def test_envelope(self, base: str, http: requests.Session) -> None:
        """A collection answers the documented envelope with __COUNT of the whole table."""
        body = get(http, f"{base}/Artikel_Variante").json()
        assert "Artikel_Variante" == body["__entityModel"]
        assert 2000 == body["__COUNT"]
        assert 0 == body["__FIRST"]
        assert {
            "__entityModel",
            "__GlobalStamp",
            "__COUNT",
            "__FIRST",
            "__SENT",
            "__ENTITIES",
        } == set(body)

    def test_default_page_is_100(self, base: str, http: requests.Session) -> None:
        """Without $top the server sends 100 entities."""
        body = get(http, f"{base}/Artikel_Variante").json()
        assert 100 == body["__SENT"]
        assert 100 == len(body["__ENTITIES"])

    @pytest.mark.parametrize("param", ["$top", "$limit"])
    def test_top_and_limit(self, base: str, http: requests.Session, param: str) -> None:
        """$top and its synonym $limit set the page size."""
        body = get(http, f"{base}/Artikel_Variante", **{param: 7}).json()
        assert 7 == body["__SENT"]
        assert 7 == len(body["__ENTITIES"])

    def test_large_pages(self, base: str, http: requests.Session) -> None:
        """Pages of several thousand entities are served (no maximum is documented)."""
        body = get(http, f"{base}/Artikel_Variante", **{"$top": 5000}).json()
        assert 2000 == body["__SENT"]

    def test_skip_pages_without_overlap(self, base: str, http: requests.Session) -> None:
        """$skip/$top pages tile the table: every key exactly once, __FIRST echoes $skip."""
        keys: list[str] = []
        for skip in range(0, 2000, 300):
            body = get(http, f"{base}/Artikel_Variante", **{"$skip": skip, "$top": 300}).json()
            assert skip == body["__FIRST"]
            keys += [e["__KEY"] for e in body["__ENTITIES"]]
        assert 2000 == len(keys)
        assert 2000 == len(set(keys))

    def test_skip_past_the_end(self, base: str, http: requests.Session) -> None:
        """A page past the end is empty but still counts the selection."""
        body = get(http, f"{base}/Artikel_Variante", **{"$skip": 5000}).json()
        assert 0 == body["__SENT"]
        assert [] == body["__ENTITIES"]
        assert 2000 == body["__COUNT"]

    def test_invalid_top_is_an_error(self, base: str, http: requests.Session) -> None:
        """A non-numeric $top answers 500 with __ERROR."""
        r = get(http, f"{base}/Artikel_Variante", **{"$top": "many"})
        assert 500 == r.status_code
        assert "__ERROR" in r.json()

    def test_orderby_desc_then_asc(self, base: str, http: requests.Session) -> None:
        """$orderby sorts by several keys with asc/desc."""
        body = get(
            http, f"{base}/Artikel_Variante", **{"$orderby": "Typ desc, Nummer asc", "$top": 2000}
        ).json()
        pairs = [(e["Typ"], e["Nummer"]) for e in body["__ENTITIES"]]
        assert sorted(pairs, key=lambda p: (-p[0], p[1])) == pairs

    def test_orderby_strings_case_insensitive(self, base: str, http: requests.Session) -> None:
        """Strings sort case-insensitively, nulls first."""
        body = get(
            http, f"{base}/Artikel_Variante", **{"$orderby": "Bezeichnung_FS", "$top": 2000}
        ).json()
        values = [e["Bezeichnung_FS"] for e in body["__ENTITIES"]]
        nulls = values.count(None)
        assert [None] * nulls == values[:nulls]
        assert sorted(values[nulls:], key=str.casefold) == values[nulls:]

    def test_orderby_dates_as_dates(self, base: str, http: requests.Session) -> None:
        """Date attributes sort chronologically, not as D!M!YYYY text."""
        body = get(http, f"{base}/Belege", **{"$orderby": "Belegdatum", "$top": 1000}).json()
        dates = [
            tuple(reversed([int(x) for x in e["Belegdatum"].split("!")]))
            for e in body["__ENTITIES"]
        ]
        assert sorted(dates) == dates

    def test_orderby_unknown_attribute(self, base: str, http: requests.Session) -> None:
        """Ordering by an unknown attribute answers 500 with 1500 + 1804."""
        r = get(http, f"{base}/Artikel_Variante", **{"$orderby": "Nope desc"})
        assert 500 == r.status_code
        assert [1500, 1804] == [e["errCode"] for e in r.json()["__ERROR"]]

    def test_attributes_parameter(self, base: str, http: requests.Session) -> None:
        """$attributes projects to the named attributes plus __KEY, __TIMESTAMP, __STAMP."""
        body = get(
            http, f"{base}/Artikel_Variante", **{"$attributes": "Nummer,Bezeichnung", "$top": 3}
        ).json()
        for e in body["__ENTITIES"]:
            assert ["__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Bezeichnung"] == list(e)

    def test_attributes_in_path(self, base: str, http: requests.Session) -> None:
        """/rest/{Table}/a,b/ projects like $attributes."""
        body = get(http, f"{base}/Artikel_Variante/Nummer,Aktiv/", **{"$top": 2}).json()
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Aktiv"] == list(body["__ENTITIES"][0])

    def test_unknown_projected_attribute(self, base: str, http: requests.Session) -> None:
        """Projecting an unknown attribute is 1500 + 1804, as a real v20 server answers it."""
        r = get(http, f"{base}/Artikel_Variante", **{"$attributes": "Nummer,Gibtsnicht"})
        assert 500 == r.status_code
        assert [1500, 1804] == [e["errCode"] for e in r.json()["__ERROR"]]
        assert '"Gibtsnicht" attribute cannot be found' in r.json()["__ERROR"][0]["message"]

    def test_unknown_table_is_404(self, base: str, http: requests.Session) -> None:
        """An unknown dataclass answers 404 with an __ERROR body."""
        r = get(http, f"{base}/Artikel_Gibtsnicht")
        assert 404 == r.status_code
        assert r.json()["__ERROR"][0]["errCode"] == 1801

    @pytest.mark.parametrize("table", TABLES)
    def test_every_table_serves(self, base: str, http: requests.Session, table: str) -> None:
        """All ten seeded tables serve pages of records starting __KEY, __TIMESTAMP, __STAMP."""
        body = get(http, f"{base}/{table}", **{"$top": 5}).json()
        assert table == body["__entityModel"]
        first = body["__ENTITIES"][0]
        assert ["__KEY", "__TIMESTAMP", "__STAMP"] == list(first)[:3]


class TestSeededData:
    def test_variant_fields_match_the_sample(self, base: str, http: requests.Session) -> None:
        """Artikel_Variante rows have the sample's field names in the sample's order."""
        sample = json.loads(SAMPLE.read_text())["__ENTITIES"][0]
        row = get(http, f"{base}/Artikel_Variante", **{"$top": 1}).json()["__ENTITIES"][0]
        assert list(sample) == list(row)

    def test_variant_value_formats(self, base: str, http: requests.Session) -> None:
        """Keys, stamps, timestamps, dates, times, prices and relations use 4D's wire formats."""
        rows = get(http, f"{base}/Artikel_Variante", **{"$top": 1000}).json()["__ENTITIES"]
        for e in rows:
            assert HEX32.match(e["__KEY"])
            assert e["__KEY"] == e["UID"]
            assert isinstance(e["__STAMP"], int)
            assert ISO_MS.match(e["__TIMESTAMP"])
            assert WIRE_DATE.match(e["Auslaufdatum"])
            assert WIRE_DATE.match(e["created_date"])
            assert 0 <= e["created_time"] < 86_400_000
            assert ["Laden", "Handel", "Empf.", "Einkauf"] == [
                p["Art"] for p in e["Preise"]["Coll"]
            ]
            assert {"values", "geerbt"} == set(e["Publish"])
            deferred = e["ArtikelFamilie"]["__deferred"]
            assert f"/rest/Artikel_Familie[{e['Familie_']}]" == deferred["uri"]
            assert f"/rest/Artikel_Stamm[{e['refOld']}]" == e["oldStamm"]["__deferred"]["uri"]
            assert str(e["refOld"]) == e["oldStamm"]["__deferred"]["__KEY"]
        assert any(e["Auslaufdatum"] == "0!0!0" for e in rows)
        assert any(e["Auslaufdatum"] != "0!0!0" for e in rows)
        assert any(e["modified_date"] is None for e in rows)
        assert any(e["shopware"] == "0" * 32 for e in rows)

    def test_relations_resolve(self, base: str, http: requests.Session) -> None:
        """A __deferred relation URI of a variant answers the related entity."""
        row = get(http, f"{base}/Artikel_Variante", **{"$top": 1}).json()["__ENTITIES"][0]
        server_root = base[: -len("/rest")]
        for rel in ("ArtikelFamilie", "oldStamm"):
            deferred = row[rel]["__deferred"]
            r = http.get(server_root + deferred["uri"], timeout=5)
            assert 200 == r.status_code
            assert deferred["__KEY"] == r.json()["__KEY"]

    def test_artikel_stamm_has_numeric_keys(self, base: str, http: requests.Session) -> None:
        """Artikel_Stamm keys are numeric strings."""
        rows = get(http, f"{base}/Artikel_Stamm", **{"$top": 3}).json()["__ENTITIES"]
        assert ["17000", "17001", "17002"] == [e["__KEY"] for e in rows]

    def test_rows_scale_the_big_tables(self) -> None:
        """--rows sets Artikel_Variante's size and scales the related tables."""
        with serve(EmulatorConfig(rows=400)) as srv:

            def count(table: str) -> int:
                r = requests.get(f"{srv.base_url}/rest/{table}", params={"$top": 0}, timeout=5)
                return int(r.json()["__COUNT"])

            assert 400 == count("Artikel_Variante")
            assert 400 == count("Belege_Pos")
            assert 100 == count("Artikel_Familie")
            assert 40 == count("Personal")

    def test_same_seed_same_data(self, server: EmulatorServer) -> None:
        """The data are a pure function of the seed; another seed gives other data."""

        def page(url: str) -> list[dict[str, object]]:
            return requests.get(f"{url}/rest/Kunden", params={"$top": 50}, timeout=5).json()[
                "__ENTITIES"
            ]

        with (
            serve(EmulatorConfig(rows=2000)) as again,
            serve(EmulatorConfig(rows=2000, seed=7)) as other,
        ):
            assert page(server.base_url) == page(again.base_url)
            assert page(server.base_url) != page(other.base_url)

    def test_generation_order_does_not_matter(self) -> None:
        """Rows are the same whichever page is generated first (blocks are seeded one by one)."""

        def pages(url: str, order: list[int]) -> dict[int, list[dict[str, object]]]:
            out = {}
            for skip in order:
                r = requests.get(
                    f"{url}/rest/Belege_Pos", params={"$skip": skip, "$top": 1000}, timeout=10
                )
                out[skip] = r.json()["__ENTITIES"]
            return out

        with serve(EmulatorConfig(rows=3000)) as a, serve(EmulatorConfig(rows=3000)) as b:
            assert pages(a.base_url, [0, 1000, 2000]) == pages(b.base_url, [2000, 1000, 0])


class TestEntity:
    def first_key(self, http: requests.Session, base: str, table: str = "Artikel_Variante") -> str:
        return str(
            get(http, f"{base}/{table}", **{"$top": 1, "$skip": 17}).json()["__ENTITIES"][0][
                "__KEY"
            ]
        )

    @pytest.mark.parametrize("form", ["({k})", '("{k}")', "[{k}]"])
    def test_entity_by_key_forms(self, base: str, http: requests.Session, form: str) -> None:
        """One entity by (key), ("key") and [key] answers the same record with __entityModel."""
        key = self.first_key(http, base)
        body = http.get(f"{base}/Artikel_Variante" + form.format(k=key), timeout=5).json()
        assert "Artikel_Variante" == body["__entityModel"]
        assert key == body["__KEY"]

    def test_numeric_key(self, base: str, http: requests.Session) -> None:
        """Artikel_Stamm(17000) and Artikel_Stamm[17000] find the numeric-key entity."""
        assert "17000" == http.get(f"{base}/Artikel_Stamm(17000)", timeout=5).json()["__KEY"]
        assert 17005 == http.get(f"{base}/Artikel_Stamm[17005]", timeout=5).json()["ID"]

    def test_unknown_key_is_404_1800(self, base: str, http: requests.Session) -> None:
        """An unknown key answers 404 with errCode 1800."""
        r = http.get(f"{base}/Artikel_Variante(00000000000000000000000000000001)", timeout=5)
        assert 404 == r.status_code
        assert 1800 == r.json()["__ERROR"][0]["errCode"]

    def test_entity_projection(self, base: str, http: requests.Session) -> None:
        """$attributes works on a single entity."""
        key = self.first_key(http, base)
        body = http.get(
            f"{base}/Artikel_Variante({key})", params={"$attributes": "Nummer"}, timeout=5
        ).json()
        assert ["__entityModel", "__KEY", "__TIMESTAMP", "__STAMP", "Nummer"] == list(body)

    def test_entity_in_unknown_table(self, base: str, http: requests.Session) -> None:
        """An entity of an unknown table answers 404."""
        assert 404 == http.get(f"{base}/Nirgends(1)", timeout=5).status_code


class TestCatalog:
    def test_catalog_lists_dataclasses(self, base: str, http: requests.Session) -> None:
        """$catalog lists every table with name, uri and dataURI."""
        classes = http.get(f"{base}/$catalog", timeout=5).json()["dataClasses"]
        assert TABLES == [c["name"] for c in classes]
        assert {
            "name": "Kunden",
            "uri": "/rest/$catalog/Kunden",
            "dataURI": "/rest/Kunden",
        } == classes[4]

    def test_catalog_all_adds_attributes(self, base: str, http: requests.Session) -> None:
        """$catalog/$all adds attributes[] to every dataclass."""
        classes = http.get(f"{base}/$catalog/$all", timeout=5).json()["dataClasses"]
        assert all(c["attributes"] for c in classes)

    def test_catalog_of_a_table(self, base: str, http: requests.Session) -> None:
        """$catalog/{Table} lists name, kind and type; date-only fields have simpleDate."""
        body = http.get(f"{base}/$catalog/Artikel_Variante", timeout=5).json()["dataClasses"][0]
        attrs = {a["name"]: a for a in body["attributes"]}
        assert ("storage", "long") == (attrs["Nummer"]["kind"], attrs["Nummer"]["type"])
        assert ("storage", "bool") == (attrs["Aktiv"]["kind"], attrs["Aktiv"]["type"])
        assert attrs["Auslaufdatum"]["simpleDate"] is True
        assert "date" == attrs["Auslaufdatum"]["type"]
        assert "object" == attrs["Preise"]["type"]
        assert ("relatedEntity", "Artikel_Familie") == (
            attrs["ArtikelFamilie"]["kind"],
            attrs["ArtikelFamilie"]["type"],
        )
        assert "relatedEntities" == attrs["Teile"]["kind"]
        allowed = {
            "bool",
            "blob",
            "byte",
            "date",
            "duration",
            "image",
            "long",
            "long64",
            "number",
            "string",
            "uuid",
            "word",
            "object",
        }
        assert all(a["type"] in allowed for a in body["attributes"] if a["kind"] == "storage")

    def test_catalog_attribute_order_matches_records(
        self, base: str, http: requests.Session
    ) -> None:
        """The catalog's attribute order is the record's field order."""
        names = [
            a["name"]
            for a in http.get(f"{base}/$catalog/Kunden", timeout=5).json()["dataClasses"][0][
                "attributes"
            ]
        ]
        row = get(http, f"{base}/Kunden", **{"$top": 1}).json()["__ENTITIES"][0]
        assert names == list(row)[3:]

    def test_catalog_of_unknown_table(self, base: str, http: requests.Session) -> None:
        """$catalog of an unknown table answers 404."""
        assert 404 == http.get(f"{base}/$catalog/Nirgends", timeout=5).status_code
