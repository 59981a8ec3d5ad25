"""The seeded tables carry every field pyERP's code reads, and their joins hold.

Field lists are written by hand from pyERP's code (louisepaul75/py-erp): the products
sync configs and ``ProductTransformer`` (``pyerp/sync/config/products_sync.yaml``,
``pyerp/sync/transformers/product.py``), the parent-product management commands that read
``Artikel_Familie`` and ``Art_Kalkulation``; and from the real sample in
``tests/recorded/fixtures/artikel_variante_sample.json``.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

# name -> 4D type, as pyERP reads them (booleans through bool(), numbers through float()).
FAMILIE_FIELDS = {
    "Nummer": "long",
    "Bezeichnung": "string",
    "Bezeichnung_ENG": "string",
    "Bez_kurz": "string",
    "Beschreibung": "string",
    "Beschreibung_ENG": "string",
    "Beschreibung_kurz": "string",
    "Beschreibung_kurz_ENG": "string",
    "ArtGr": "string",
    "Gruppe": "string",
    "Gewicht": "number",
    "Masse_Breite": "number",
    "Masse_Hoehe": "number",
    "Masse_Tiefe": "number",
    "Haengend": "bool",
    "Einseitig": "bool",
    "Release_date": "date",
    "Neu": "bool",
    "aktiv": "bool",
    "modified_date": "date",
}
KALKULATION_FIELDS = {
    "ID": "long",
    "ArtNr_Kalk": "string",
    "Bezeichnung": "string",
    "Bez_kurz": "string",
    "Masse": "string",
    "Gewicht": "number",
    "haengen": "bool",
    "eineSeite": "bool",
    "ArtGr": "string",
}


def everything(http: requests.Session, base: str, table: str) -> list[dict[str, Any]]:
    """Every row of ``table``."""
    body = http.get(f"{base}/{table}", params={"$top": 100000}, timeout=30).json()
    rows: list[dict[str, Any]] = body["__ENTITIES"]
    assert body["__COUNT"] == len(rows)
    return rows


def types(http: requests.Session, base: str, table: str) -> dict[str, str]:
    """``attribute -> type`` from ``$catalog/{table}``."""
    (dc,) = http.get(f"{base}/$catalog/{table}", timeout=5).json()["dataClasses"]
    return {a["name"]: a["type"] for a in dc["attributes"] if a["kind"] == "storage"}


class TestFields:
    @pytest.mark.parametrize(
        ("table", "fields"),
        [("Artikel_Familie", FAMILIE_FIELDS), ("Art_Kalkulation", KALKULATION_FIELDS)],
    )
    def test_pyerp_fields_exist_with_their_types(
        self, table: str, fields: dict[str, str], base: str, http: requests.Session
    ) -> None:
        """Each field pyERP reads is in the catalog with the type pyERP's code expects."""
        catalog = types(http, base, table)
        assert fields == {name: catalog.get(name) for name in fields}
        row = everything(http, base, table)[0]
        assert set(fields) <= set(row)

    def test_familie_has_lower_case_aktiv(self, base: str, http: requests.Session) -> None:
        """pyERP reads ``aktiv`` on Artikel_Familie (``Aktiv`` is Artikel_Variante's)."""
        assert "aktiv" in types(http, base, "Artikel_Familie")
        assert "Aktiv" not in types(http, base, "Artikel_Familie")
        assert "Aktiv" in types(http, base, "Artikel_Variante")
        flags = {r["aktiv"] for r in everything(http, base, "Artikel_Familie")}
        assert {True, False} == flags


class TestJoins:
    def test_variant_family_and_old_number(self, base: str, http: requests.Session) -> None:
        """Familie_ names the family whose Nummer starts the variant's alteNummer ("11400-BE")."""
        families = {f["__KEY"]: f for f in everything(http, base, "Artikel_Familie")}
        variants = everything(http, base, "Artikel_Variante")
        for v in variants:
            family = families[v["Familie_"]]
            base_sku, colour = v["alteNummer"].rsplit("-", 1)
            assert str(family["Nummer"]) == base_sku
            assert 2 == len(colour)
            assert family["__KEY"] == v["ArtikelFamilie"]["__deferred"]["__KEY"]
        assert len({v["alteNummer"] for v in variants}) == len(variants)
        # Every family has variants: a parent without children would be pyERP's "orphan".
        assert set(families) == {v["Familie_"] for v in variants}

    def test_variant_to_artikel_stamm(self, base: str, http: requests.Session) -> None:
        """refOld is the Artikel_Stamm key; its Artikelnr is one of the variants' alteNummer."""
        stamm = {s["__KEY"]: s for s in everything(http, base, "Artikel_Stamm")}
        old_numbers: dict[str, set[str]] = {}
        for v in everything(http, base, "Artikel_Variante"):
            key = str(v["refOld"])
            assert key in stamm
            assert key == v["oldStamm"]["__deferred"]["__KEY"]
            old_numbers.setdefault(key, set()).add(v["alteNummer"])
        for key, numbers in old_numbers.items():
            assert stamm[key]["Artikelnr"] in numbers
            assert stamm[key]["ID"] == int(key)

    def test_kalkulation_to_family(self, base: str, http: requests.Session) -> None:
        """One Art_Kalkulation row per family: ArtNr_Kalk is its Nummer, the facts agree."""
        by_number = {str(f["Nummer"]): f for f in everything(http, base, "Artikel_Familie")}
        rows = everything(http, base, "Art_Kalkulation")
        assert set(by_number) == {r["ArtNr_Kalk"] for r in rows}
        for r in rows:
            family = by_number[r["ArtNr_Kalk"]]
            masse = f"{family['Masse_Breite']}x{family['Masse_Hoehe']}x{family['Masse_Tiefe']}"
            assert (masse, family["Gewicht"], family["ArtGr"]) == (
                r["Masse"],
                r["Gewicht"],
                r["ArtGr"],
            )
            assert (family["Haengend"], family["Einseitig"]) == (r["haengen"], r["eineSeite"])
            assert str(r["ID"]) == r["__KEY"]

    def test_family_filter_like_pyerp(self, base: str, http: requests.Session) -> None:
        """pyERP's ``Familie_ = "<key>"`` filter returns exactly that family's variants."""
        family = everything(http, base, "Artikel_Familie")[3]
        got = http.get(
            f"{base}/Artikel_Variante",
            params={"$filter": f'Familie_ = "{family["__KEY"]}"'},
            timeout=5,
        ).json()["__ENTITIES"]
        assert 4 == len(got)
        assert {str(family["Nummer"])} == {v["alteNummer"].rsplit("-", 1)[0] for v in got}
