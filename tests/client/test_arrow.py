"""Columnar reads over the real 4D adapter and the emulator: fetch_arrow, iter_batches, polars."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from tests._columnar import same as same_value

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_api import build_async_client, build_client
from legacy_core.errors import InvalidQuery, ProtocolError, UnknownTable
from legacy_core.model import FieldUpdate
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

pa = pytest.importorskip("pyarrow")
pytestmark = pytest.mark.integration

ROWS = 1200
TABLE = "Artikel_Variante"
CONFIG = {"session_store": "memory"}


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset between tests)."""
    with serve(EmulatorConfig(rows=ROWS)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator, reset to its seed data, sessions and faults."""
    server.reset()
    server.set_faults()
    return server


def make(server: EmulatorServer, **overrides: Any) -> LegacyClient:
    """A client of the emulator with patient retries and a tolerant breaker."""
    return build_client(
        {**CONFIG, "environments": {"live": server.base_url}},
        retry=RetryPolicy(attempts=12, base=0.001, cap=0.005),
        breakers=lambda name: CircuitBreaker(name=name, failure_threshold=1000),
        **overrides,
    )


def same(columnar: Any, row: Any) -> bool:
    """An Arrow value equals the frame's (which shows a missing number as NaN)."""
    return same_value(columnar, row, nan_is_none=True)


def assert_same_as_frame(table: Any, frame: pd.DataFrame) -> None:
    """The Arrow table holds the frame's rows, columns and values (after type conversion)."""
    assert list(frame.columns) == table.column_names
    assert len(frame) == table.num_rows
    for name in table.column_names:
        for got, want in zip(table.column(name).to_pylist(), frame[name].tolist(), strict=True):
            assert same(got, want), (name, got, want)


class TestSameAsFetchFrame:
    """fetch_arrow reads the same rows and values as fetch_frame on every seeded table."""

    def test_every_seeded_table_typed_and_raw(self, emulator: EmulatorServer):
        """Every table of the emulator, typed and raw, equals fetch_frame's frame value by value."""
        client = make(emulator, page_size=500)
        for table in client.tables():
            for raw in (False, True):
                frame = client.fetch_frame(table, raw=raw)
                assert_same_as_frame(client.fetch_arrow(table, raw=raw), frame)

    def test_types_from_the_catalog(self, emulator: EmulatorServer):
        """Dates, times, stamps, timestamps, relations and Objects get the documented types."""
        schema = make(emulator).fetch_arrow(TABLE, limit=50).schema
        assert pa.string() == schema.field("__KEY").type
        assert pa.int64() == schema.field("__STAMP").type
        assert pa.timestamp("ms", "UTC") == schema.field("__TIMESTAMP").type
        assert pa.date32() == schema.field("Release_Date").type
        assert pa.time32("ms") == schema.field("created_time").type
        assert pa.bool_() == schema.field("Aktiv").type
        assert pa.int64() == schema.field("Nummer").type
        assert pa.string() == schema.field("ArtikelFamilie").type  # a relation: its key
        assert pa.types.is_struct(schema.field("Preise").type)

    def test_raw_keeps_the_4d_strings(self, emulator: EmulatorServer):
        """raw=True leaves dates as D!M!YYYY text and relations as the deferred objects."""
        table = make(emulator).fetch_arrow(TABLE, raw=True, limit=20)
        dates = table.column("Release_Date").to_pylist()
        assert all(isinstance(d, str) and d.count("!") == 2 for d in dates)
        relation = table.column("ArtikelFamilie").to_pylist()[0]
        assert relation["__deferred"]["__KEY"] == table.column("Familie_").to_pylist()[0]

    def test_fields_order_limit_skip(self, emulator: EmulatorServer):
        """Projection, order, limit and skip give fetch_frame's rows and column order."""
        client = make(emulator, page_size=100)
        args: dict[str, Any] = {
            "fields": ["Nummer", "Bezeichnung", "Release_Date"],
            "order_by": "Nummer desc",
            "limit": 333,
            "skip": 17,
        }
        assert_same_as_frame(client.fetch_arrow(TABLE, **args), client.fetch_frame(TABLE, **args))

    def test_empty_result_has_the_requested_columns(self, emulator: EmulatorServer):
        """No match: an empty table whose columns are the requested fields."""
        table = make(emulator).fetch_arrow(TABLE, where={"Nummer": -1}, fields=["Nummer", "Aktiv"])
        assert (0, ["Nummer", "Aktiv"]) == (table.num_rows, table.column_names)

    @pytest.mark.parametrize("workers", [1, 4])
    def test_parallel_pages_in_order(self, emulator: EmulatorServer, workers: int):
        """With workers the pages decode on several threads and still come in server order."""
        client = make(emulator, page_size=100, workers=workers)
        reference = client.fetch_frame(TABLE)
        assert_same_as_frame(client.fetch_arrow(TABLE), reference)
        assert 0 == emulator.stats()["active_entity_sets"]


class TestShapes:
    """4D Objects whose shape varies are kept whole as JSON text; nothing fails or is lost."""

    def test_mixed_object_is_json_text(self, emulator: EmulatorServer):
        """An attribute of an Object that is a string in one entity and {"DE": ...} in the next."""
        client = make(emulator, page_size=1000)
        keys = client.fetch_arrow(TABLE, fields=["Nummer"], order_by="Nummer", limit=3)
        first, second, third = keys.column("__KEY").to_pylist()
        client.update_many(
            [
                FieldUpdate(TABLE, first, {"SalesChannel": {"Beschreibung": "nur Laden"}}),
                FieldUpdate(TABLE, second, {"SalesChannel": {"Beschreibung": {"DE": "Laden"}}}),
                FieldUpdate(TABLE, third, {"SalesChannel": None}),
            ]
        )
        table = client.fetch_arrow(TABLE, order_by="Nummer")
        column = table.column("SalesChannel")
        assert "extension<arrow.json>" == str(column.type)
        values = column.to_pylist()
        assert [
            '{"Beschreibung":"nur Laden"}',
            '{"Beschreibung":{"DE":"Laden"}}',
            None,
        ] == values[:3]
        assert all(v is not None and v.startswith('{"values":') for v in values[3:])
        frame = client.fetch_frame(TABLE, order_by="Nummer")
        assert {"Beschreibung": {"DE": "Laden"}} == frame["SalesChannel"][1]
        assert ROWS == table.num_rows
        assert table.column("__KEY").equals(client.fetch_arrow(TABLE, order_by="Nummer")["__KEY"])

    def test_shape_changing_between_pages_is_unified(self, emulator: EmulatorServer):
        """A page where an Object is mixed and pages where it is a struct meet as JSON text."""
        client = make(emulator, page_size=100)
        key = client.fetch_arrow(TABLE, fields=["Nummer"], order_by="Nummer desc", limit=1)
        client.push_field(TABLE, key.column("__KEY")[0].as_py(), "Preise", {"Coll": "auf Anfrage"})
        table = client.fetch_arrow(TABLE, order_by="Nummer")
        values = table.column("Preise").to_pylist()
        assert '{"Coll":"auf Anfrage"}' == values[-1]
        assert values[0].startswith('{"Coll":[{"Art":')
        assert ROWS == table.num_rows

    def test_struct_fields_differing_between_pages_merge(self, emulator: EmulatorServer):
        """An Object with an extra attribute on one page stays a struct with both fields."""
        client = make(emulator, page_size=100)
        key = client.fetch_arrow(TABLE, fields=["Nummer"], order_by="Nummer desc", limit=1)
        extra = {"values": ["Webshop"], "geerbt": True, "Notiz": "neu"}
        client.push_field(TABLE, key.column("__KEY")[0].as_py(), "SalesChannel", extra)
        column = client.fetch_arrow(TABLE, order_by="Nummer").column("SalesChannel")
        assert ["values", "geerbt", "Notiz"] == [f.name for f in column.type]
        assert extra == column.to_pylist()[-1]
        assert None is column.to_pylist()[0]["Notiz"]


class TestBatches:
    """iter_batches streams RecordBatches page by page with iter_pages' rules."""

    def test_batches_are_the_pages(self, emulator: EmulatorServer):
        """One batch per page, in order, together the rows of fetch_arrow."""
        client = make(emulator, page_size=250)
        batches = list(client.iter_batches(TABLE, order_by="Nummer"))
        assert [250, 250, 250, 250, 200] == [b.num_rows for b in batches]
        whole = client.fetch_arrow(TABLE, order_by="Nummer")
        assert whole.column("__KEY").to_pylist() == [
            k for b in batches for k in b.column("__KEY").to_pylist()
        ]

    def test_stopping_early_releases_the_snapshot(self, emulator: EmulatorServer):
        """Breaking out after the first batch releases the 4D entity set."""
        client = make(emulator, page_size=100)
        with contextlib_closing(client.iter_batches(TABLE)) as batches:
            next(batches)
        assert 0 == emulator.stats()["active_entity_sets"]

    def test_rebuilt_snapshot_yields_each_row_once(self, emulator: EmulatorServer):
        """A snapshot that expires mid-stream is rebuilt and no key is yielded twice."""
        client = make(emulator, page_size=200)
        fired: list[int] = []

        def expire(done: int, _total: int) -> None:
            if done >= 400 and not fired:
                fired.append(done)
                emulator.advance_clock(client.snapshot_timeout + 5)

        keys = [
            k
            for b in client.iter_batches(TABLE, progress=expire)
            for k in b.column("__KEY").to_pylist()
        ]
        assert fired
        assert ROWS == len(keys) == len(set(keys))

    def test_fetch_arrow_after_a_rebuild_is_the_new_snapshot(self, emulator: EmulatorServer):
        """fetch_arrow starts over on a rebuilt snapshot: every row once."""
        client = make(emulator, page_size=200)
        fired: list[int] = []

        def expire(done: int, _total: int) -> None:
            if done >= 400 and not fired:
                fired.append(done)
                emulator.advance_clock(client.snapshot_timeout + 5)

        table = client.fetch_arrow(TABLE, progress=expire)
        keys = table.column("__KEY").to_pylist()
        assert fired
        assert ROWS == len(keys) == len(set(keys))


class TestFaultsAndErrors:
    """Bad input and broken answers get their typed errors on the columnar path too."""

    def test_faults_are_retried(self, emulator: EmulatorServer):
        """503s, resets and truncated bodies are retried: the same table as without faults."""
        client = make(emulator, page_size=150, workers=3)
        reference = client.fetch_arrow(TABLE)
        emulator.set_faults(error_503_rate=0.15, reset_rate=0.1, truncate_rate=0.1, seed=7)
        table = client.fetch_arrow(TABLE)
        faults = emulator.stats()["faults"]
        emulator.set_faults()
        assert reference.equals(table)
        assert faults["truncate"] > 0

    def test_truncated_body_without_retries_is_a_protocol_error(self, emulator: EmulatorServer):
        """A body cut in half, not retried, is a ProtocolError naming environment and table."""
        client = build_client(
            {**CONFIG, "environments": {"live": emulator.base_url}},
            retry=RetryPolicy(attempts=1),
        )
        client.fetch_arrow(TABLE, limit=1)  # the session and the catalog first
        emulator.set_faults(truncate_rate=1.0, seed=1)
        with pytest.raises(ProtocolError) as caught:
            client.fetch_arrow(TABLE, limit=10)
        assert ("live", TABLE) == (caught.value.environment, caught.value.table)

    def test_unknown_table_and_bad_filter(self, emulator: EmulatorServer):
        """An unknown table and a filter 4D rejects raise UnknownTable and InvalidQuery."""
        client = make(emulator)
        with pytest.raises(UnknownTable):
            client.fetch_arrow("Gibtsnicht")
        from legacy_core.query import Raw  # noqa: PLC0415 - only this test

        with pytest.raises(InvalidQuery):
            client.fetch_arrow(TABLE, where=Raw("Nummer eq 5"))


class TestFrontEnds:
    """fetch_frame(dtype_backend="pyarrow"), fetch_polars and the async client use Arrow."""

    def test_pyarrow_frame_is_arrow_backed(self, emulator: EmulatorServer):
        """dtype_backend="pyarrow" gives ArrowDtype columns with the typed values."""
        client = make(emulator)
        frame = client.fetch_frame(TABLE, dtype_backend="pyarrow", limit=30)
        assert all(isinstance(t, pd.ArrowDtype) for t in frame.dtypes)
        assert isinstance(frame["Release_Date"].iloc[0], dt.date)
        default = client.fetch_frame(TABLE, limit=30)
        assert default["Nummer"].tolist() == frame["Nummer"].tolist()

    def test_default_frame_unchanged(self, emulator: EmulatorServer):
        """The default fetch_frame keeps NumPy dtypes and nested objects as dicts."""
        frame = make(emulator).fetch_frame(TABLE, limit=30)
        assert "int64" == str(frame["Nummer"].dtype)
        assert isinstance(frame["Preise"].iloc[0], dict)

    def test_polars(self, emulator: EmulatorServer):
        """fetch_polars gives a polars frame with fetch_arrow's rows."""
        polars = pytest.importorskip("polars")
        client = make(emulator)
        frame = client.fetch_polars(TABLE, limit=40)
        assert isinstance(frame, polars.DataFrame)
        assert (
            client.fetch_arrow(TABLE, limit=40).column("__KEY").to_pylist()
            == frame["__KEY"].to_list()
        )

    def test_async_client(self, emulator: EmulatorServer):
        """AsyncLegacyClient.fetch_arrow and iter_batches read what the sync client reads."""
        reference = make(emulator, page_size=300).fetch_arrow(TABLE)

        async def read() -> tuple[Any, list[Any]]:
            config = {**CONFIG, "environments": {"live": emulator.base_url}}
            async with build_async_client(config, page_size=300, workers=3) as client:
                table = await client.fetch_arrow(TABLE)
                batches = [b async for b in client.iter_batches(TABLE)]
            return table, batches

        table, batches = asyncio.run(read())
        assert reference.equals(table)
        assert ROWS == sum(b.num_rows for b in batches)


def contextlib_closing(generator: Iterator[Any]) -> Any:
    """``contextlib.closing`` for a generator (closes it on exit)."""
    import contextlib  # noqa: PLC0415

    return contextlib.closing(generator)
