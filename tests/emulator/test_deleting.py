"""Conformance: $method=delete on one entity, answered and applied as 4D documents it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fourd_emulator import EmulatorServer

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


def entity(http: requests.Session, base: str, skip: int = 3) -> dict[str, Any]:
    """One entity of the table, as a collection page sends it."""
    r = http.get(f"{base}/{TABLE}", params={"$top": 1, "$skip": skip}, timeout=5)
    return dict(r.json()["__ENTITIES"][0])


def update(http: requests.Session, base: str, body: Any) -> requests.Response:
    """``POST /rest/{table}?$method=update`` with ``body``."""
    return http.post(f"{base}/{TABLE}", params={"$method": "update"}, json=body, timeout=10)


def delete(http: requests.Session, base: str, key: str, table: str = TABLE) -> requests.Response:
    """``POST /rest/{table}({key})?$method=delete``."""
    return http.post(f"{base}/{table}({key})", params={"$method": "delete"}, timeout=10)


class TestDelete:
    def test_delete_answers_ok_and_drops_the_entity(
        self, base: str, http: requests.Session, server: EmulatorServer
    ) -> None:
        """A delete answers {"ok": true}; the entity then reads as 404 / 1800."""
        count = http.get(f"{base}/{TABLE}", params={"$top": 1}, timeout=5).json()["__COUNT"]
        e = entity(http, base)
        r = delete(http, base, e["__KEY"])
        assert (200, {"ok": True}) == (r.status_code, r.json())
        gone = http.get(f"{base}/{TABLE}({e['__KEY']})", timeout=5)
        assert (404, 1800) == (gone.status_code, gone.json()["__ERROR"][0]["errCode"])
        after = http.get(f"{base}/{TABLE}", params={"$top": 1}, timeout=5).json()["__COUNT"]
        assert count - 1 == after
        assert {"action": "delete", "key": e["__KEY"], "stamp_before": e["__STAMP"]}.items() <= (
            server.audit()[-1].items()
        )
        assert 1 == server.stats()["entities_deleted"]

    def test_delete_with_trailing_slash(self, base: str, http: requests.Session) -> None:
        """``/rest/{Table}({key})/?$method=delete``, the form of 4D's own example, works too."""
        e = entity(http, base, skip=4)
        r = http.post(f"{base}/{TABLE}({e['__KEY']})/", params={"$method": "delete"}, timeout=10)
        assert {"ok": True} == r.json()

    def test_unknown_key(self, base: str, http: requests.Session) -> None:
        """Deleting a key that does not exist (or no longer) is 404 with 1800."""
        e = entity(http, base, skip=5)
        delete(http, base, e["__KEY"])
        for key in (e["__KEY"], "F" * 32):
            r = delete(http, base, key)
            assert (404, 1800) == (r.status_code, r.json()["__ERROR"][0]["errCode"])

    def test_deleted_entity_left_out_of_filters_and_sets(
        self, base: str, http: requests.Session
    ) -> None:
        """Filters skip a deleted entity; an entity set keeps its size but leaves it out."""
        e = entity(http, base, skip=0)
        made = http.get(
            f"{base}/{TABLE}",
            params={"$method": "entityset", "$top": 3, "$orderby": "Nummer"},
            timeout=5,
        ).json()
        set_path = made["__ENTITYSET"].split("/rest", 1)[1]
        delete(http, base, e["__KEY"])
        page = http.get(f"{base}{set_path}", params={"$top": 3}, timeout=5).json()
        assert made["__COUNT"] == page["__COUNT"]
        assert e["__KEY"] not in [x["__KEY"] for x in page["__ENTITIES"]]
        matched = http.get(
            f"{base}/{TABLE}", params={"$filter": f"Nummer = {e['Nummer']}"}, timeout=5
        ).json()
        assert 0 == matched["__COUNT"]

    def test_update_of_deleted_entity_is_1542(self, base: str, http: requests.Session) -> None:
        """An update of a deleted entity answers 1542, as 4D does for a missing key."""
        e = entity(http, base, skip=6)
        delete(http, base, e["__KEY"])
        r = update(http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "neu": True})
        assert 1542 == r.json()["__ERROR"][0]["errCode"]

    def test_created_key_never_reuses_a_deleted_one(
        self, base: str, http: requests.Session
    ) -> None:
        """A create after deleting the newest entity gets a fresh key."""
        created = update(http, base, {"Bezeichnung": "eins"}).json()
        delete(http, base, created["__KEY"])
        again = update(http, base, {"Bezeichnung": "zwei"}).json()
        assert created["__KEY"] != again["__KEY"]

    def test_delete_by_filter_or_set_not_emulated(self, base: str, http: requests.Session) -> None:
        """Deleting by $filter or through an entity set is refused (500), never half done."""
        count = http.get(f"{base}/{TABLE}", params={"$top": 1}, timeout=5).json()["__COUNT"]
        by_filter = http.post(
            f"{base}/{TABLE}", params={"$filter": "Nummer > 0", "$method": "delete"}, timeout=5
        )
        made = http.get(f"{base}/{TABLE}", params={"$method": "entityset"}, timeout=5).json()
        set_path = made["__ENTITYSET"].split("/rest", 1)[1]
        by_set = http.post(f"{base}{set_path}", params={"$method": "delete"}, timeout=5)
        assert (500, 500) == (by_filter.status_code, by_set.status_code)
        after = http.get(f"{base}/{TABLE}", params={"$top": 1}, timeout=5).json()["__COUNT"]
        assert count == after
