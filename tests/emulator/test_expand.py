"""Conformance: ``$expand`` inlines N->1 related entities as 4D does (captures ``*_expanded``)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration

VARIANTS = "Artikel_Variante"


def _get(http: requests.Session, url: str, **params: Any) -> Any:
    answer = http.get(url, params=params, timeout=10)
    assert 200 == answer.status_code, answer.text
    return answer.json()


class TestExpand:
    def test_collection_inlines_the_family(self, base: str, http: requests.Session) -> None:
        """Each variant carries its whole family, equal to reading the family by its key."""
        body = _get(http, f"{base}/{VARIANTS}", **{"$expand": "ArtikelFamilie", "$top": 5})
        plain = _get(http, f"{base}/{VARIANTS}", **{"$top": 5})["__ENTITIES"]
        for expanded, row in zip(body["__ENTITIES"], plain, strict=True):
            key = row["ArtikelFamilie"]["__deferred"]["__KEY"]
            family = _get(http, f"{base}/Artikel_Familie({key})")
            family.pop("__entityModel", None)
            assert family == expanded["ArtikelFamilie"]
            # Everything else is as without $expand.
            assert {k: v for k, v in row.items() if k != "ArtikelFamilie"} == {
                k: v for k, v in expanded.items() if k != "ArtikelFamilie"
            }

    def test_inlined_entity_keeps_its_relations_deferred(
        self, base: str, http: requests.Session
    ) -> None:
        """The inlined family's own 1->N relation is deferred, as in the captures."""
        body = _get(http, f"{base}/{VARIANTS}", **{"$expand": "ArtikelFamilie", "$top": 1})
        family = body["__ENTITIES"][0]["ArtikelFamilie"]
        assert "__deferred" in family["Varianten"]
        assert "__deferred" not in family

    def test_single_entity(self, base: str, http: requests.Session) -> None:
        """``{Table}({key})?$expand=`` inlines the related entity of that one entity."""
        first = _get(http, f"{base}/{VARIANTS}", **{"$top": 1})["__ENTITIES"][0]
        entity = _get(http, f"{base}/{VARIANTS}({first['__KEY']})", **{"$expand": "ArtikelFamilie"})
        assert first["ArtikelFamilie"]["__deferred"]["__KEY"] == entity["ArtikelFamilie"]["__KEY"]

    def test_entity_set_pages(self, base: str, http: requests.Session) -> None:
        """Pages of an entity set are expanded when they ask for it."""
        created = _get(http, f"{base}/{VARIANTS}", **{"$method": "entityset", "$top": 1})
        uri = created["__ENTITYSET"]
        page = _get(http, f"{base}{uri.removeprefix('/rest')}", **{"$expand": "ArtikelFamilie"})
        assert all("__KEY" in e["ArtikelFamilie"] for e in page["__ENTITIES"][:3])

    def test_one_to_many_stays_deferred(self, base: str, http: requests.Session) -> None:
        """A 1->N relation is not inlined by the emulator (4D nests a page; not emulated)."""
        body = _get(http, f"{base}/Artikel_Familie", **{"$expand": "Varianten", "$top": 1})
        assert "__deferred" in body["__ENTITIES"][0]["Varianten"]

    def test_unknown_relation(self, base: str, http: requests.Session) -> None:
        """An unknown name in ``$expand`` is refused like an unknown attribute (1203 family)."""
        answer = http.get(f"{base}/{VARIANTS}", params={"$expand": "Famile"}, timeout=10)
        assert answer.status_code >= 400
        assert "Famile" in answer.text

    def test_a_field_cannot_be_expanded(self, base: str, http: requests.Session) -> None:
        """A storage attribute in ``$expand`` is an error, not silently ignored."""
        answer = http.get(f"{base}/{VARIANTS}", params={"$expand": "Nummer"}, timeout=10)
        assert 500 == answer.status_code
        assert "Nummer" in answer.text
