"""Conformance: $method=update — updates, stamps, creates, atomic batches, size limit (item 5)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

pytestmark = pytest.mark.integration

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def entity(
    http: requests.Session, base: str, table: str = "Artikel_Variante", skip: int = 3
) -> dict[str, Any]:
    r = http.get(f"{base}/{table}", params={"$top": 1, "$skip": skip}, timeout=5)
    return dict(r.json()["__ENTITIES"][0])


def update(
    http: requests.Session, base: str, body: Any, table: str = "Artikel_Variante", **params: Any
) -> requests.Response:
    return http.post(
        f"{base}/{table}", params={"$method": "update", **params}, json=body, timeout=10
    )


class TestUpdate:
    def test_update_changes_only_sent_attributes(self, base: str, http: requests.Session) -> None:
        """__KEY + __STAMP + one attribute changes it, the stamps and pyERP's modified_* only."""
        before = entity(http, base)
        r = update(
            http,
            base,
            {"__KEY": before["__KEY"], "__STAMP": before["__STAMP"], "Bezeichnung": "Neu"},
        )
        assert 200 == r.status_code
        saved = r.json()
        # A real update answer: no __entityModel, a uri, and the new stamp.
        assert "__entityModel" not in saved
        assert f"/rest/Artikel_Variante({before['__KEY']})" == saved["uri"]
        assert before["__STAMP"] + 1 == saved["__STAMP"]
        after = http.get(f"{base}/Artikel_Variante({before['__KEY']})", timeout=5).json()
        changed = {k for k in before if before[k] != after[k]}
        audit = {"modified_name", "modified_date", "modified_time"}
        assert {"Bezeichnung", "__STAMP", "__TIMESTAMP"} | audit == changed
        assert "Neu" == after["Bezeichnung"]

    def test_update_response_timestamp_form(self, base: str, http: requests.Session) -> None:
        """The update response carries __TIMESTAMP as !!YYYY-MM-DD!!; reads stay ISO with ms."""
        e = entity(http, base)
        saved = update(
            http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "neu": True}
        ).json()
        assert re.match(r"^!!\d{4}-\d\d-\d\d!!$", saved["__TIMESTAMP"])
        read = http.get(f"{base}/Artikel_Variante({e['__KEY']})", timeout=5).json()
        assert ISO_MS.match(read["__TIMESTAMP"])
        assert read["__TIMESTAMP"] > e["__TIMESTAMP"]

    def test_update_without_stamp(self, base: str, http: requests.Session) -> None:
        """An update with __KEY but no __STAMP is applied without a stamp check."""
        e = entity(http, base)
        r = update(http, base, {"__KEY": e["__KEY"], "Typ": 2})
        assert 200 == r.status_code
        assert e["__STAMP"] + 1 == r.json()["__STAMP"]

    def test_stale_stamp_is_refused_with_current_values(
        self, base: str, http: requests.Session
    ) -> None:
        """A stale __STAMP answers __STATUS 2, the current values and codes 1263, 1046, 1517."""
        e = entity(http, base)
        update(http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "Bezeichnung": "Erster"})
        r = update(
            http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "Bezeichnung": "Zweiter"}
        )
        assert 200 == r.status_code
        body = r.json()
        assert {"status": 2, "statusText": "Stamp has changed", "success": False} == body[
            "__STATUS"
        ]
        assert [1263, 1046, 1517] == [x["errCode"] for x in body["__ERROR"]]
        assert e["__STAMP"] + 1 == body["__STAMP"]
        assert "Erster" == body["Bezeichnung"]
        now = http.get(f"{base}/Artikel_Variante({e['__KEY']})", timeout=5).json()
        assert "Erster" == now["Bezeichnung"]

    def test_conflict_status_is_a_switch(self) -> None:
        """stamp_conflict_status chooses the HTTP status of the stale-stamp answer."""
        with (
            serve(EmulatorConfig(rows=100, stamp_conflict_status=409)) as srv,
            requests.Session() as http,
        ):
            base = f"{srv.base_url}/rest"
            e = entity(http, base)
            r = update(http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"] + 5, "neu": True})
            assert 409 == r.status_code
            assert r.json()["__STATUS"]["success"] is False

    def test_unknown_key(self, base: str, http: requests.Session) -> None:
        """Updating an unknown (deleted) key answers 404 with errCode 1542, not a read's 1800."""
        r = update(http, base, {"__KEY": "F" * 32, "__STAMP": 1, "neu": True})
        assert 404 == r.status_code
        assert [1542] == [e["errCode"] for e in r.json()["__ERROR"]]

    def test_unknown_attribute(self, base: str, http: requests.Session) -> None:
        """An unknown attribute in an update is 1500 + 1804 and nothing is saved."""
        e = entity(http, base)
        r = update(http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "Farbe": "rot"})
        assert 500 == r.status_code
        assert [1500, 1804] == [e["errCode"] for e in r.json()["__ERROR"]]
        assert e == entity(http, base)

    def test_wrong_type(self, base: str, http: requests.Session) -> None:
        """A value of the wrong type is refused with 500."""
        e = entity(http, base)
        r = update(http, base, {"__KEY": e["__KEY"], "Nummer": "zwölf"})
        assert 500 == r.status_code

    @pytest.mark.parametrize(
        ("sent", "stored"),
        [
            ("2025-03-04", "4!3!2025"),
            ("04!03!2025", "4!3!2025"),
            ("4!3!2025", "4!3!2025"),
            ("0!0!0", "0!0!0"),
            (None, None),
        ],
    )
    def test_dates_iso_or_4d(
        self, base: str, http: requests.Session, sent: str | None, stored: str | None
    ) -> None:
        """Dates are accepted as ISO or dd!mm!yyyy and stored as D!M!YYYY."""
        e = entity(http, base)
        saved = update(http, base, {"__KEY": e["__KEY"], "Auslaufdatum": sent}).json()
        assert stored == saved["Auslaufdatum"]

    def test_relation_follows_foreign_key(self, base: str, http: requests.Session) -> None:
        """Changing a foreign key updates the __deferred relation."""
        e = entity(http, base)
        fam = entity(http, base, "Artikel_Familie", skip=9)["__KEY"]
        saved = update(http, base, {"__KEY": e["__KEY"], "Familie_": fam}).json()
        assert f"/rest/Artikel_Familie[{fam}]" == saved["ArtikelFamilie"]["__deferred"]["uri"]

    def test_filters_see_updates(self, base: str, http: requests.Session) -> None:
        """A filter after an update selects by the new value."""
        e = entity(http, base)
        update(http, base, {"__KEY": e["__KEY"], "alteNummer": "UNIQUE-4711"})
        r = http.get(
            f"{base}/Artikel_Variante", params={"$filter": 'alteNummer = "unique-4711"'}, timeout=5
        )
        assert [e["__KEY"]] == [x["__KEY"] for x in r.json()["__ENTITIES"]]


class TestArrayAndCreate:
    def test_array_update(self, base: str, http: requests.Session) -> None:
        """An array of updates answers {"__ENTITIES": [...]} with every saved entity."""
        a, b = entity(http, base, skip=1), entity(http, base, skip=2)
        r = update(
            http,
            base,
            [
                {"__KEY": a["__KEY"], "__STAMP": a["__STAMP"], "neu": True},
                {"__KEY": b["__KEY"], "__STAMP": b["__STAMP"], "neu": True},
            ],
        )
        assert 200 == r.status_code
        assert [a["__KEY"], b["__KEY"]] == [x["__KEY"] for x in r.json()["__ENTITIES"]]

    def test_non_atomic_array_applies_the_good_ones(
        self, base: str, http: requests.Session
    ) -> None:
        """Without $atomic, a stale item fails alone and the others are saved."""
        a, b = entity(http, base, skip=1), entity(http, base, skip=2)
        r = update(
            http,
            base,
            [
                {"__KEY": a["__KEY"], "__STAMP": a["__STAMP"] + 1, "neu": True},
                {"__KEY": b["__KEY"], "__STAMP": b["__STAMP"], "Bezeichnung": "Gut"},
            ],
        )
        items = r.json()["__ENTITIES"]
        assert items[0]["__STATUS"]["success"] is False
        assert "Gut" == items[1]["Bezeichnung"]
        assert "Gut" == entity(http, base, skip=2)["Bezeichnung"]

    def test_atomic_array_is_all_or_nothing(
        self, base: str, http: requests.Session, server: EmulatorServer
    ) -> None:
        """With $atomic=true one stale item cancels the whole batch."""
        a, b = entity(http, base, skip=1), entity(http, base, skip=2)
        r = update(
            http,
            base,
            [
                {"__KEY": a["__KEY"], "__STAMP": a["__STAMP"], "Bezeichnung": "Nie"},
                {"__KEY": b["__KEY"], "__STAMP": b["__STAMP"] + 1, "Bezeichnung": "Nie"},
                {"Name": "x"},
            ],
            **{"$atomic": "true"},
        )
        body = r.json()
        # v18 (the default): every entity as it stands, the stale one with its __ERROR.
        assert [a["__KEY"], b["__KEY"]] == [e["__KEY"] for e in body["__ENTITIES"][:2]]
        assert "__ERROR" not in body["__ENTITIES"][0]
        assert [1263, 1046, 1517] == [e["errCode"] for e in body["__ENTITIES"][1]["__ERROR"]]
        assert a == entity(http, base, skip=1)
        assert b == entity(http, base, skip=2)
        assert 0 == server.stats()["writes_applied"]
        assert [] == server.audit()

    def test_create(self, base: str, http: requests.Session) -> None:
        """An object without __KEY creates a new entity with a new key and stamp 1."""
        before = http.get(f"{base}/Personal", params={"$top": 0}, timeout=5).json()["__COUNT"]
        r = update(
            http,
            base,
            {"Name": "Neumann", "Vorname": "Nina", "Eintritt": "2026-11-01", "Aktiv": True},
            "Personal",
        )
        assert 200 == r.status_code
        saved = r.json()
        assert re.match(r"^[0-9A-F]{32}$", saved["__KEY"])
        assert 1 == saved["__STAMP"]
        assert "1!11!2026" == saved["Eintritt"]
        again = http.get(f"{base}/Personal({saved['__KEY']})", timeout=5).json()
        assert "Neumann" == again["Name"]
        assert (
            before + 1
            == http.get(f"{base}/Personal", params={"$top": 0}, timeout=5).json()["__COUNT"]
        )

    def test_create_numeric_key(self, base: str, http: requests.Session) -> None:
        """Artikel_Stamm creates continue its numeric keys."""
        r = update(http, base, {"Bezeichnung": "Neu"}, "Artikel_Stamm")
        assert str(17000 + 1000) == r.json()["__KEY"]

    def test_body_over_max_request_size(self, base: str, http: requests.Session) -> None:
        """A body over the maximum request size is rejected with 413 and nothing changes."""
        e = entity(http, base)
        big = {"__KEY": e["__KEY"], "Bezeichnung": "x" * 2_100_000}
        r = update(http, base, big)
        assert 413 == r.status_code
        assert "__ERROR" in r.json()
        assert e == entity(http, base)

    def test_invalid_json_body(self, base: str, http: requests.Session) -> None:
        """A body that is not a JSON object or array is an error."""
        r = http.post(
            f"{base}/Artikel_Variante", params={"$method": "update"}, data=b"nope", timeout=5
        )
        assert 500 == r.status_code


class TestAudit:
    def test_audit_records_every_applied_write(
        self, base: str, http: requests.Session, server: EmulatorServer
    ) -> None:
        """GET /_emulator/audit lists applied writes in order; stale ones are not applied."""
        e = entity(http, base)
        update(http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "Typ": 2})
        update(http, base, {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "Typ": 0})
        update(http, base, {"Name": "Neu"}, "Kunden")
        audit = http.get(f"{server.base_url}/_emulator/audit", timeout=5).json()
        assert [1, 2] == [a["seq"] for a in audit]
        assert [
            ("update", e["__KEY"], {"Typ": 2}),
            ("create", audit[1]["key"], {"Name": "Neu"}),
        ] == [(a["action"], a["key"], a["values"]) for a in audit]
        assert [e["__STAMP"], e["__STAMP"] + 1] == [
            audit[0]["stamp_before"],
            audit[0]["stamp_after"],
        ]
        stats = server.stats()
        assert 2 == stats["writes_applied"]
        assert 1 == stats["stamp_conflicts"]

    def test_reset_restores_the_seed(
        self, base: str, http: requests.Session, server: EmulatorServer
    ) -> None:
        """POST /_emulator/reset restores the seeded data and clears the audit."""
        e = entity(http, base)
        update(http, base, {"__KEY": e["__KEY"], "Bezeichnung": "Geändert"})
        assert {"ok": True} == http.post(f"{server.base_url}/_emulator/reset", timeout=5).json()
        assert e == entity(http, base)
        assert [] == server.audit()
