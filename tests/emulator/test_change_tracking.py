"""Conformance: change tracking (``__GlobalStamp``, ``__DeletedRecords``) and pyERP's modified_*."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

pytestmark = pytest.mark.integration

CAPTURES = Path(__file__).parents[1] / "conformance" / "captures"


@pytest.fixture(scope="module")
def tracking() -> Iterator[EmulatorServer]:
    """An emulator serving its tables prepared for mobile sync."""
    with serve(EmulatorConfig(rows=200, change_tracking=True)) as srv:
        yield srv


@pytest.fixture
def rest(tracking: EmulatorServer) -> str:
    """The tracking emulator's REST root, back to its seed data."""
    tracking.reset()
    return f"{tracking.base_url}/rest"


def page(http: requests.Session, rest: str, table: str, **params: Any) -> dict[str, Any]:
    r = http.get(f"{rest}/{table}", params=params, timeout=10)
    assert 200 == r.status_code, r.text
    body: dict[str, Any] = r.json()
    return body


def save(http: requests.Session, rest: str, table: str, body: Any) -> dict[str, Any]:
    r = http.post(f"{rest}/{table}", params={"$method": "update"}, json=body, timeout=10)
    assert 200 == r.status_code, r.text
    out: dict[str, Any] = r.json()
    return out


class TestGlobalStamp:
    """Every create and update takes the next server-wide stamp; filters and sorts see it."""

    def test_seeded_rows_carry_zero(self, rest: str, http: requests.Session) -> None:
        """Seeded rows were never saved since tracking began: their __GlobalStamp is 0."""
        rows = page(http, rest, "Kunden", **{"$top": 50})["__ENTITIES"]
        assert {0} == {r["__GlobalStamp"] for r in rows}

    def test_saves_take_increasing_stamps_across_tables(
        self, rest: str, http: requests.Session
    ) -> None:
        """Updates and creates in two tables get 1, 2, 3 in save order, and the envelope the max."""
        first = page(http, rest, "Kunden", **{"$top": 1})["__ENTITIES"][0]
        save(http, rest, "Kunden", {"__KEY": first["__KEY"], "Name": "A"})
        created = save(http, rest, "Personal", {"Name": "Neu"})
        save(http, rest, "Kunden", {"__KEY": first["__KEY"], "Name": "B"})
        changed = page(http, rest, "Kunden", **{"$filter": "__GlobalStamp > 0"})
        assert [first["__KEY"]] == [r["__KEY"] for r in changed["__ENTITIES"]]
        assert 3 == changed["__ENTITIES"][0]["__GlobalStamp"]
        assert 3 == changed["__GlobalStamp"]
        person = http.get(f"{rest}/Personal({created['__KEY']})", timeout=5).json()
        assert 2 == person["__GlobalStamp"]

    def test_filter_and_order_by_stamp(self, rest: str, http: requests.Session) -> None:
        """``__GlobalStamp > N`` selects the rows saved after N; ``$orderby`` sorts by it."""
        keys = [r["__KEY"] for r in page(http, rest, "Kunden", **{"$top": 4})["__ENTITIES"]]
        for key in reversed(keys):
            save(http, rest, "Kunden", {"__KEY": key, "Rabatt": 5})
        got = page(
            http, rest, "Kunden", **{"$filter": "__GlobalStamp > 2", "$orderby": "__GlobalStamp"}
        )
        assert [keys[1], keys[0]] == [r["__KEY"] for r in got["__ENTITIES"]]

    def test_off_by_default(self, server: EmulatorServer, http: requests.Session) -> None:
        """Without change_tracking the tables have no __GlobalStamp and no __DeletedRecords."""
        server.reset()
        rest = f"{server.base_url}/rest"
        row = page(http, rest, "Kunden", **{"$top": 1})["__ENTITIES"][0]
        assert "__GlobalStamp" not in row
        assert 404 == http.get(f"{rest}/__DeletedRecords", timeout=5).status_code


class TestDeletedRecords:
    """A delete leaves one ``__DeletedRecords`` row shaped like the real captures."""

    def test_delete_is_recorded(self, rest: str, http: requests.Session) -> None:
        """The row names the table (name and number), the key and the stamp of the delete."""
        first = page(http, rest, "Kunden", **{"$top": 1})["__ENTITIES"][0]
        save(http, rest, "Kunden", {"__KEY": first["__KEY"], "Name": "A"})
        r = http.post(f"{rest}/Kunden({first['__KEY']})", params={"$method": "delete"}, timeout=5)
        assert 200 == r.status_code
        graves = page(http, rest, "__DeletedRecords", **{"$filter": "__Stamp > 1"})
        assert 1 == graves["__COUNT"]
        grave = graves["__ENTITIES"][0]
        names = [c["name"] for c in page(http, rest, "$catalog")["dataClasses"]]
        expected = {
            "__Stamp": 2,
            "__TableName": "Kunden",
            "__TableNumber": names.index("Kunden") + 1,
            "__PrimaryKey": first["__KEY"],
        }
        assert expected == {k: grave[k] for k in expected}

    def test_shape_matches_capture(self, rest: str, http: requests.Session) -> None:
        """The envelope and entity keys are those of 4D's v18 ``__DeletedRecords`` capture."""
        first = page(http, rest, "Personal", **{"$top": 1})["__ENTITIES"][0]
        http.post(f"{rest}/Personal({first['__KEY']})", params={"$method": "delete"}, timeout=5)
        body = page(http, rest, "__DeletedRecords")
        capture = json.loads(
            (CAPTURES / "collection__datasync_v18_deletedrecords.json").read_text()
        )
        assert set(capture) == set(body)
        assert set(capture["__ENTITIES"][0]) == set(body["__ENTITIES"][0])
        assert isinstance(body["__ENTITIES"][0]["__PrimaryKey"], str)


class TestModifiedFields:
    """Updates set pyERP's modified_* like its 4D triggers; creates leave them empty."""

    def test_update_sets_modified(self, rest: str, http: requests.Session) -> None:
        """An update stamps modified_name/date/time with the user and the save's UTC time."""
        first = page(http, rest, "Artikel_Variante", **{"$top": 1})["__ENTITIES"][0]
        saved = save(http, rest, "Artikel_Variante", {"__KEY": first["__KEY"], "Bezeichnung": "x"})
        stamp = page(http, rest, "Artikel_Variante", **{"$top": 1})["__ENTITIES"][0]
        day, month, year = (int(p) for p in stamp["modified_date"].split("!"))
        iso = stamp["__TIMESTAMP"]
        assert (year, month, day) == (int(iso[:4]), int(iso[5:7]), int(iso[8:10]))
        hours, minutes, seconds = int(iso[11:13]), int(iso[14:16]), int(iso[17:19])
        assert (hours * 3600 + minutes * 60 + seconds) * 1000 == stamp["modified_time"]
        assert "REST" == saved["modified_name"]

    def test_sent_modified_values_are_kept(self, rest: str, http: requests.Session) -> None:
        """A write that sends modified_date itself keeps it (imports replaying history)."""
        first = page(http, rest, "Artikel_Variante", **{"$top": 1})["__ENTITIES"][0]
        body = {"__KEY": first["__KEY"], "modified_date": "2020-01-02", "modified_time": 5000}
        saved = save(http, rest, "Artikel_Variante", body)
        assert ("2!1!2020", 5000) == (saved["modified_date"], saved["modified_time"])
