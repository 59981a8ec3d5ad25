"""Tests of RecordedTables: the second fake, built from recorded rows or JSON fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from recorded_support import ScriptedTransport, json_response, make_request

from legacy_adapters.recorded import Cassette, RecordedTables, Recorder, infer_type
from legacy_adapters.testing.contracts import (
    CONTRACT_TABLES,
    ContractFixtures,
    FieldWriterContract,
    TableReaderContract,
)
from legacy_core.clock import ManualClock
from legacy_core.errors import StampConflict
from legacy_core.model import FieldUpdate, Query
from legacy_core.ports import FieldWriter, TableReader
from legacy_core.query import field

# Five real Artikel_Variante entities as pyERP's server sent them (a copy of the shared sample).
SAMPLE = Path(__file__).parent / "fixtures" / "artikel_variante_sample.json"


def contract_fixtures(env: str) -> tuple[list[dict], dict]:
    """The contract dataset as 4D collection envelopes plus a ``$catalog/$all`` answer."""
    envelopes = [
        {
            "__entityModel": t.name,
            "__COUNT": len(t.rows),
            "__ENTITIES": [dict(r) for r in t.rows],
        }
        for t in CONTRACT_TABLES
    ]
    catalog = {
        "dataClasses": [
            {
                "name": t.name,
                "attributes": [
                    {"name": n, "kind": "storage", "type": k} for n, k in t.attributes.items()
                ],
            }
            for t in CONTRACT_TABLES
        ]
    }
    return envelopes, catalog


class TestInferType:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            ([None, "27!1!2025"], "date"),
            (["0!0!0"], "date"),
            ([3], "long"),
            ([2.5], "number"),
            ([True], "bool"),
            ([{"Coll": []}], "object"),
            (["D71C244794B0B4428CD3EC5B41878224"], "string"),
            ([None, None], "string"),
        ],
    )
    def test_first_non_null_value_decides(self, values, expected):
        """The wire value's shape gives the 4D type (bool before long)."""
        assert expected == infer_type(values)


class TestFromJson:
    def test_sample_answers_unseen_queries(self):
        """The shared pyERP sample answers a filter and an order nobody recorded."""
        tables = RecordedTables.from_json(SAMPLE)
        page = tables.read_page(
            Query("live", "Artikel_Variante", filter=field("Nummer") >= 803721, order_by="-Nummer")
        )
        assert [927656, 803721] == [r["Nummer"] for r in page.records]
        dated = tables.read_page(
            Query("live", "Artikel_Variante", filter=field("Release_Date") == "1991-01-01")
        )
        assert 803721 in [r["Nummer"] for r in dated.records]

    def test_writes_stay_in_memory(self):
        """A write raises the stamp in this instance only; a stale stamp conflicts."""
        key = "D71C244794B0B4428CD3EC5B41878224"
        tables = RecordedTables.from_json(SAMPLE)
        (saved,) = tables.write([FieldUpdate("Artikel_Variante", key, {"neu": True}, 9)])
        assert (10, True) == (
            saved.stamp,
            tables.get_record("live", "Artikel_Variante", key)["neu"],
        )
        with pytest.raises(StampConflict):
            tables.write([FieldUpdate("Artikel_Variante", key, {"neu": False}, 9)])
        fresh = RecordedTables.from_json(SAMPLE)
        assert False is fresh.get_record("live", "Artikel_Variante", key)["neu"]


class TestFromCassette:
    def test_latest_stamp_wins_and_catalog_types(self):
        """Rows from every response are merged per key, the newest stamp winning."""
        answers = iter(
            [
                json_response(
                    {
                        "dataClasses": [
                            {
                                "name": "Kunde",
                                "attributes": [
                                    {"name": "Name", "type": "string"},
                                    {"name": "Seit", "type": "date"},
                                    {"name": "Firma", "kind": "relatedEntity", "type": "Firma"},
                                ],
                            }
                        ]
                    }
                ),
                json_response(
                    {
                        "__entityModel": "Kunde",
                        "__ENTITIES": [
                            {"__KEY": "1", "__STAMP": 2, "Name": "neu", "Seit": "1!2!2020"},
                            {"__KEY": "2", "__STAMP": 1, "Name": "Bob", "Seit": None},
                        ],
                    }
                ),
                json_response({"__KEY": "1", "__STAMP": 1, "Name": "alt", "Seit": "1!1!2000"}),
                json_response({"__ERROR": [{"message": "x", "errCode": 1800}]}, status=404),
            ]
        )
        recorder = Recorder(ScriptedTransport(lambda r: next(answers)), Cassette())
        recorder.send(make_request("/rest/$catalog/$all"))
        recorder.send(make_request("/rest/Kunde"))
        recorder.send(make_request("/rest/Kunde(1)"))
        recorder.send(make_request("/rest/Kunde(3)"))
        tables = RecordedTables.from_cassette(recorder.cassette)
        assert ["Kunde"] == tables.tables("live")
        assert "neu" == tables.get_record("live", "Kunde", "1")["Name"]
        page = tables.read_page(Query("live", "Kunde", filter=field("Seit") >= "2019-12-31"))
        assert ["1"] == [r["__KEY"] for r in page.records]

    def test_update_answers_add_no_uri_column(self):
        """A real update answer's ``uri`` (and v20 ``__STATUS``) do not become columns."""
        answers = iter(
            [
                json_response(
                    {"__entityModel": "Kunde", "__ENTITIES": [{"__KEY": "1", "Name": "a"}]}
                ),
                json_response(
                    {
                        "__STATUS": {"success": True},
                        "__KEY": "1",
                        "__STAMP": 2,
                        "uri": "/rest/Kunde(1)",
                        "__TIMESTAMP": "!!2024-05-23!!",
                        "Name": "b",
                    }
                ),
            ]
        )
        recorder = Recorder(ScriptedTransport(lambda r: next(answers)), Cassette())
        recorder.send(make_request("/rest/Kunde"))
        recorder.send(make_request("/rest/Kunde", method="POST"))
        tables = RecordedTables.from_cassette(recorder.cassette)
        record = tables.get_record("live", "Kunde", "1")
        assert ("b", False) == (record["Name"], "uri" in record)


class RecordedTablesFixtures(ContractFixtures):
    """The contract fixtures served by RecordedTables loaded from JSON envelopes per test."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    def contract_env(self) -> str:
        return "test"

    @pytest.fixture
    def tables(self, contract_env: str, clock: ManualClock) -> RecordedTables:
        envelopes, catalog = contract_fixtures(contract_env)
        return RecordedTables.from_json(
            envelopes, catalog=catalog, environment=contract_env, clock=clock
        )

    @pytest.fixture
    def reader(self, tables: RecordedTables) -> TableReader:
        return tables

    @pytest.fixture
    def writer(self, tables: RecordedTables) -> FieldWriter:
        return tables

    @pytest.fixture
    def default_page_size(self) -> int | None:
        return 100

    @pytest.fixture
    def raw_filters(self) -> bool:
        return False

    @pytest.fixture
    def advance_time(self, clock: ManualClock) -> Callable[[float], None]:
        return clock.advance


class TestRecordedTablesContract(TableReaderContract, FieldWriterContract, RecordedTablesFixtures):
    """RecordedTables passes the same reader and writer contracts as the real adapter."""
