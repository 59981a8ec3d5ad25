"""What the in-memory adapter does beyond the contracts: setup, environments, exact stamps."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_adapters.testing.contracts.reader import ARTIKEL, CONTRACT_TABLES, LAGER, artikel_key
from legacy_core.clock import ManualClock
from legacy_core.errors import (
    ConfigurationError,
    EntitySetExpired,
    InvalidQuery,
    StampConflict,
    UnknownTable,
)
from legacy_core.model import FieldUpdate, Query
from legacy_core.ports import FieldWriter, TableReader
from legacy_core.query import Filter, Raw, field

KEY = artikel_key


def small_table(**overrides: Any) -> MemoryTable:
    """A two-row table for setup tests."""
    spec: dict[str, Any] = {
        "name": "Kunde",
        "attributes": {"Nummer": "long", "Name": "string"},
        "rows": [{"__KEY": "1", "Nummer": 1, "Name": "A"}, {"__KEY": "2", "Nummer": 2}],
    }
    spec.update(overrides)
    return MemoryTable(**spec)


class TestMemoryTable:
    """MemoryTable checks its catalog and rows when it is built."""

    def test_managed_attributes_added(self) -> None:
        """__KEY, __STAMP and __TIMESTAMP join the catalog when missing."""
        table = small_table()
        assert {"__KEY": "string", "__STAMP": "long", "__TIMESTAMP": "string"}.items() <= dict(
            table.attributes
        ).items()

    def test_unknown_type(self) -> None:
        """A type that is not a 4D catalog type is a configuration error naming it."""
        with pytest.raises(ConfigurationError, match="varchar"):
            small_table(attributes={"Name": "varchar"})

    def test_row_with_unknown_attribute(self) -> None:
        """A row holding an attribute outside the catalog is refused with its name."""
        with pytest.raises(ConfigurationError, match="Farbe"):
            small_table(rows=[{"__KEY": "1", "Farbe": "rot"}])

    def test_duplicate_key(self) -> None:
        """Two rows with the same key are refused."""
        with pytest.raises(ConfigurationError, match="duplicate"):
            small_table(rows=[{"__KEY": "1"}, {"__KEY": "1"}])

    def test_row_without_key(self) -> None:
        """A row without a key is refused."""
        with pytest.raises(ConfigurationError, match="no __KEY"):
            small_table(rows=[{"Nummer": 3}])

    def test_invalid_table_name(self) -> None:
        """A table name 4D could not address is an InvalidQuery."""
        with pytest.raises(InvalidQuery, match="Artikel; DROP"):
            small_table(name="Artikel; DROP")

    def test_rows_are_copied(self) -> None:
        """Changing the caller's rows after building the table changes nothing."""
        rows = [{"__KEY": "1", "Nummer": 1, "Name": "A"}]
        table = small_table(rows=rows)
        rows[0]["Name"] = "B"
        assert "A" == table.rows[0]["Name"]

    def test_key_from_numeric_attribute(self) -> None:
        """With ``key`` naming a numeric attribute, ``__KEY`` is its text."""
        backend = MemoryBackend()
        backend.add_table("live", small_table(key="Nummer", rows=[{"Nummer": 17000}]))
        assert "17000" == backend.get_record("live", "Kunde", "17000")["__KEY"]


class TestMemoryBackendReading:
    """Reading details the contracts leave to each adapter."""

    def test_is_a_reader_and_writer(self, backend: MemoryBackend) -> None:
        """The backend satisfies both ports."""
        assert isinstance(backend, TableReader)
        assert isinstance(backend, FieldWriter)

    def test_environments_are_separate(self, clock: ManualClock) -> None:
        """The same table name holds different data in test and live."""
        backend = MemoryBackend(clock=clock)
        backend.add_table("test", small_table(rows=[{"__KEY": "1", "Name": "test"}]))
        backend.add_table("live", small_table(rows=[{"__KEY": "1", "Name": "live"}]))
        assert ("test", "live") == (
            backend.get_record("test", "Kunde", "1")["Name"],
            backend.get_record("live", "Kunde", "1")["Name"],
        )
        assert ["Kunde"] == backend.tables("live")
        assert [] == backend.tables("staging")

    def test_unknown_environment_is_unknown_table(self, backend: MemoryBackend) -> None:
        """Reading a table of an environment never loaded raises UnknownTable naming both."""
        with pytest.raises(UnknownTable, match="'live'") as info:
            backend.read_page(Query("live", ARTIKEL))
        assert ("live", ARTIKEL) == (info.value.environment, info.value.table)

    def test_absent_values_read_as_null(self, clock: ManualClock) -> None:
        """Attributes a seeded row leaves out read as null, as 4D sends them."""
        backend = MemoryBackend(clock=clock)
        backend.add_table("live", small_table())
        record = backend.get_record("live", "Kunde", "2")
        assert (None, 1, "2023-11-14T22:13:20.000Z") == (
            record["Name"],
            record["__STAMP"],
            record["__TIMESTAMP"],
        )

    def test_top_zero_counts_only(self, backend: MemoryBackend, memory_env: str) -> None:
        """``top=0`` returns no records but the size of the selection."""
        page = backend.read_page(Query(memory_env, LAGER, top=0))
        assert (130, 0, []) == (page.count, page.sent, list(page.records))

    def test_default_page_size_is_configurable(self, clock: ManualClock) -> None:
        """``default_page_size`` replaces 4D's 100 for reads without ``top``."""
        backend = MemoryBackend(clock=clock, default_page_size=7)
        table = CONTRACT_TABLES[1]
        backend.add_table("live", MemoryTable(table.name, table.attributes, table.rows))
        assert 7 == backend.read_page(Query("live", LAGER)).sent

    def test_raw_is_refused(self, backend: MemoryBackend, memory_env: str) -> None:
        """Raw filter text cannot be evaluated here and says so."""
        with pytest.raises(InvalidQuery, match="cannot evaluate Raw"):
            backend.read_page(Query(memory_env, ARTIKEL, filter=Raw("Nummer = 1")))

    def test_datetime_against_date_attribute(self, backend: MemoryBackend, memory_env: str) -> None:
        """A point in time compared with a whole-day attribute is refused, not guessed."""
        flt = field("created_date") >= dt.datetime(2025, 1, 1, 12, 0)
        with pytest.raises(InvalidQuery, match="created_date"):
            backend.read_page(Query(memory_env, ARTIKEL, filter=flt))

    @pytest.mark.parametrize(
        ("text", "expected"), [("1e3", []), (" 1008 ", [1008]), ("1008.0", [1008])]
    )
    def test_numeric_text(
        self, backend: MemoryBackend, memory_env: str, text: str, expected: list[int]
    ) -> None:
        """Numeric text against a number attribute converts like a float literal."""
        page = backend.read_page(Query(memory_env, ARTIKEL, filter=field("Nummer") == text))
        assert expected == [r["Nummer"] for r in page.records]

    def test_order_by_object_is_refused(self, backend: MemoryBackend, memory_env: str) -> None:
        """Objects have no order."""
        with pytest.raises(InvalidQuery, match="Preise"):
            backend.read_page(Query(memory_env, ARTIKEL, order_by="Preise"))

    def test_page_records_are_copies(self, backend: MemoryBackend, memory_env: str) -> None:
        """Changing a record of a page does not change the store."""
        query = Query(memory_env, ARTIKEL, filter=field("Nummer") == 1001)
        backend.read_page(query).records[0]["Preise"]["Coll"].append("x")
        assert 1 == len(backend.read_page(query).records[0]["Preise"]["Coll"])

    def test_type_errors_carry_context(self, backend: MemoryBackend, memory_env: str) -> None:
        """A query error names the environment and table on its first line."""
        with pytest.raises(InvalidQuery) as info:
            backend.read_page(Query(memory_env, ARTIKEL, filter=field("Nummer") == "zehn"))
        first_line = str(info.value).splitlines()[0]
        assert "environment=test" in first_line
        assert f"table={ARTIKEL}" in first_line


class TestMemoryBackendSnapshots:
    """Snapshot details: idle timeout, table binding, bad timeouts."""

    def test_reading_restarts_the_idle_timeout(
        self, backend: MemoryBackend, memory_env: str, clock: ManualClock
    ) -> None:
        """Each read of a snapshot starts its idle timeout again, as 4D's ``$timeout`` does."""
        query = Query(memory_env, LAGER, order_by="Nummer", top=10)
        ident = backend.open_snapshot(query, 10).entity_set
        for skip in (10, 20, 30):
            clock.advance(8)
            assert skip == backend.read_page(attrs.evolve(query, skip=skip, entity_set=ident)).first
        clock.advance(11)
        with pytest.raises(EntitySetExpired):
            backend.read_page(attrs.evolve(query, entity_set=ident))

    def test_snapshot_belongs_to_its_table(self, backend: MemoryBackend, memory_env: str) -> None:
        """An entity set id used with another table is unknown there."""
        ident = backend.open_snapshot(Query(memory_env, LAGER), 60).entity_set
        with pytest.raises(EntitySetExpired):
            backend.read_page(Query(memory_env, ARTIKEL, entity_set=ident))
        backend.release_snapshot(memory_env, ARTIKEL, str(ident))
        assert 130 == backend.read_page(Query(memory_env, LAGER, entity_set=ident)).count

    @pytest.mark.parametrize("timeout", [0, -1, float("nan"), True])
    def test_bad_timeout(self, backend: MemoryBackend, memory_env: str, timeout: float) -> None:
        """A snapshot needs a positive timeout."""
        with pytest.raises(InvalidQuery, match="timeout"):
            backend.open_snapshot(Query(memory_env, LAGER), timeout)


class TestMemoryBackendWriting:
    """Writing details: exact stamps, timestamps, environments and value checks."""

    def test_stamp_rises_by_one(self, backend: MemoryBackend, memory_env: str) -> None:
        """Every save adds exactly one to ``__STAMP``."""
        before = backend.get_record(memory_env, ARTIKEL, KEY(1001))["__STAMP"]
        update = FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, environment=memory_env)
        stamps = [backend.write([update])[0].stamp for _ in range(3)]
        assert [before + 1, before + 2, before + 3] == stamps

    def test_timestamp_follows_the_clock(
        self, backend: MemoryBackend, memory_env: str, clock: ManualClock
    ) -> None:
        """``__TIMESTAMP`` is the clock's time in 4D's ISO form with milliseconds."""
        clock.now = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z
        update = FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, environment=memory_env)
        (result,) = backend.write([update])
        assert "2026-01-01T00:00:00.250Z" == result.record["__TIMESTAMP"]

    def test_default_environment(self, clock: ManualClock) -> None:
        """An update without an environment goes to the keyword, else the backend's default."""
        backend = MemoryBackend(clock=clock, default_environment="test")
        backend.add_table("test", small_table())
        backend.add_table("live", small_table())
        backend.write([FieldUpdate("Kunde", "1", {"Name": "T"})])
        backend.write([FieldUpdate("Kunde", "1", {"Name": "L"})], environment="live")
        backend.write([FieldUpdate("Kunde", "2", {"Name": "L2", "Nummer": 5}, environment="live")])
        assert ("T", "L", "L2") == (
            backend.get_record("test", "Kunde", "1")["Name"],
            backend.get_record("live", "Kunde", "1")["Name"],
            backend.get_record("live", "Kunde", "2")["Name"],
        )

    def test_one_environment_per_call(self, backend: MemoryBackend) -> None:
        """A batch spanning environments is refused."""
        batch = [
            FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, environment="test"),
            FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, environment="live"),
        ]
        with pytest.raises(InvalidQuery, match="one table of one environment"):
            backend.write(batch)

    def test_conflict_names_context(self, backend: MemoryBackend, memory_env: str) -> None:
        """A StampConflict names environment, table and both stamps."""
        update = FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, 99, environment=memory_env)
        with pytest.raises(StampConflict) as info:
            backend.write([update])
        assert "expected 99, current 1" in str(info.value)
        assert (memory_env, ARTIKEL) == (info.value.environment, info.value.table)

    def test_same_key_twice_in_an_atomic_batch(
        self, backend: MemoryBackend, memory_env: str
    ) -> None:
        """A second update of the same entity in one batch sees the first one's stamp."""
        stamp = backend.get_record(memory_env, ARTIKEL, KEY(1001))["__STAMP"]
        batch = [
            FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, stamp, environment=memory_env),
            FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 2}, stamp + 1, environment=memory_env),
        ]
        results = backend.write(batch, atomic=True)
        assert [stamp + 1, stamp + 2] == [r.stamp for r in results]
        assert 2 == backend.get_record(memory_env, ARTIKEL, KEY(1001))["Bestand"]

    @pytest.mark.parametrize(
        ("values", "offending"),
        [
            ({"Bestand": "viel"}, "Bestand"),
            ({"Bestand": True}, "Bestand"),
            ({"Bestand": 1.5}, "Bestand"),
            ({"Preis": float("nan")}, "Preis"),
            ({"Aktiv": 1}, "Aktiv"),
            ({"Bezeichnung": 5}, "Bezeichnung"),
            ({"created_date": "gestern"}, "created_date"),
            ({"created_date": dt.datetime(2025, 1, 1, 8, 0)}, "created_date"),
            ({"created_date": "2025-02-30"}, "created_date"),
            ({"Preise": "text"}, "Preise"),
        ],
        ids=repr,
    )
    def test_value_types_checked(
        self, backend: MemoryBackend, memory_env: str, values: dict[str, Any], offending: str
    ) -> None:
        """A value that does not fit the attribute's 4D type is refused, naming the field."""
        with pytest.raises(InvalidQuery, match=offending):  # NaN already at construction
            backend.write([FieldUpdate(ARTIKEL, KEY(1001), values, environment=memory_env)])

    @pytest.mark.parametrize(
        ("value", "stored"),
        [("04!03!2025", "4!3!2025"), ("2025-03-04", "4!3!2025"), ("0!0!0", "0!0!0"), (None, None)],
    )
    def test_dates_stored_in_wire_form(
        self, backend: MemoryBackend, memory_env: str, value: str | None, stored: str | None
    ) -> None:
        """Dates written as ISO or D!M!YYYY text are stored as 4D sends them back."""
        update = FieldUpdate(ARTIKEL, KEY(1001), {"created_date": value}, environment=memory_env)
        assert stored == backend.write([update])[0].record["created_date"]

    def test_create_managed_fields_refused(self, backend: MemoryBackend, memory_env: str) -> None:
        """``create`` does not take ``__KEY`` or ``__STAMP`` from the caller."""
        with pytest.raises(InvalidQuery, match="__STAMP"):
            backend.create(memory_env, ARTIKEL, {"__STAMP": 5})

    def test_create_with_numeric_key(self) -> None:
        """A table keyed by a number gets the next number, as 4D's autoincrement."""
        backend = MemoryBackend()
        backend.add_table("live", small_table(key="Nummer", rows=[{"Nummer": 1}, {"Nummer": 41}]))
        result = backend.create("live", "Kunde", {"Name": "Neu"})
        assert ("42", 42, 1) == (result.key, result.record["Nummer"], result.stamp)

    def test_concurrent_writes_lose_nothing(self, backend: MemoryBackend, memory_env: str) -> None:
        """Writes from many threads each raise the stamp once."""
        update = FieldUpdate(ARTIKEL, KEY(1001), {"Bestand": 1}, environment=memory_env)
        before = backend.get_record(memory_env, ARTIKEL, KEY(1001))["__STAMP"]

        def work() -> None:
            for _ in range(200):
                backend.write([update])

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert before + 800 == backend.get_record(memory_env, ARTIKEL, KEY(1001))["__STAMP"]


def filters() -> st.SearchStrategy[Filter]:
    """Random filters over the Artikel_Variante contract table."""
    leaves = st.one_of(
        st.integers(1000, 1026).map(lambda n: field("Nummer") <= n),
        st.sampled_from(["engel", "st", "k", "z", "ä", ""]).map(
            lambda p: field("Bezeichnung").begins(p)
        ),
        st.booleans().map(lambda b: field("Aktiv") == b),
        st.dates(dt.date(2012, 1, 1), dt.date(2026, 1, 1)).map(lambda d: field("created_date") > d),
        st.just(field("Bestand").is_null()),
        st.lists(st.integers(0, 30), min_size=1, max_size=4).map(lambda v: field("Bestand").in_(v)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
            inner.map(lambda f: ~f),
        ),
        max_leaves=6,
    )


@pytest.fixture(scope="module")
def shared() -> MemoryBackend:
    """One read-only backend for the module (Hypothesis reuses it across examples)."""
    backend = MemoryBackend(clock=ManualClock())
    for t in CONTRACT_TABLES:
        backend.add_table("test", MemoryTable(t.name, t.attributes, t.rows))
    return backend


class TestMemoryBackendLogic:
    """The evaluator's boolean algebra and paging hold for any filter."""

    def keys(self, backend: MemoryBackend, flt: Filter) -> set[str]:
        """The keys ``flt`` selects."""
        page = backend.read_page(Query("test", ARTIKEL, filter=flt, top=1000))
        return {r["__KEY"] for r in page.records}

    @settings(max_examples=150, deadline=None)
    @given(a=filters(), b=filters())
    def test_boolean_algebra(self, shared: MemoryBackend, a: Filter, b: Filter) -> None:
        """NOT is the complement, AND the intersection and OR the union of the selections."""
        everything = self.keys(shared, field("Nummer") > 0)
        ka, kb = self.keys(shared, a), self.keys(shared, b)
        assert everything - ka == self.keys(shared, ~a)
        assert ka & kb == self.keys(shared, a & b)
        assert ka | kb == self.keys(shared, a | b)

    @settings(max_examples=60, deadline=None)
    @given(flt=filters(), top=st.integers(1, 30))
    def test_pages_concatenate(self, shared: MemoryBackend, flt: Filter, top: int) -> None:
        """Pages of any size concatenate to the whole ordered selection."""
        query = Query("test", ARTIKEL, filter=flt, order_by=["created_date", "Nummer desc"])
        whole = shared.read_page(attrs.evolve(query, top=1000))
        pages = [shared.read_page(query.page(skip, top)) for skip in range(0, whole.count, top)]
        assert [r["__KEY"] for r in whole.records] == [r["__KEY"] for p in pages for r in p.records]
        assert all(whole.count == p.count for p in pages)


class TestImports:
    """What importing the in-memory adapter costs."""

    def test_no_http_library_is_imported(self):
        """The in-memory adapter shares the 4D wire decoder without pulling in requests."""
        code = "import sys, legacy_adapters.memory; print('requests' in sys.modules)"
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert "False" == done.stdout.strip()
