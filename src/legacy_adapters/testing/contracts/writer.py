"""The FieldWriter contract: stamped writes, conflicts, atomic batches, creates and deletes.

Reached only through the fixtures of :class:`contracts.reader.ContractFixtures`; the
writer and the reader must serve the same data so that every write is read back.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import attrs
import pytest

from legacy_adapters.testing.contracts.reader import (
    ARTIKEL,
    INACTIVE,
    LAGER,
    ContractFixtures,
    artikel_key,
    nummern,
)
from legacy_core.errors import (
    InvalidQuery,
    PartialWrite,
    RecordNotFound,
    StampConflict,
    UnknownTable,
)
from legacy_core.model import FieldUpdate, Query, WriteResult
from legacy_core.ports import FieldWriter, TableReader

__all__ = ["FieldWriterContract"]


class FieldWriterContract(ContractFixtures):
    """What every FieldWriter must do; mix into a test class with the adapter's fixtures."""

    def update(
        self, env: str, nummer: int, values: dict[str, Any], stamp: int | None = None
    ) -> FieldUpdate:
        """An update of Artikel_Variante ``nummer`` in ``env``."""
        return FieldUpdate(ARTIKEL, artikel_key(nummer), values, stamp, environment=env)

    def stamp(self, reader: TableReader, env: str, nummer: int) -> int:
        """The current ``__STAMP`` of Artikel_Variante ``nummer``."""
        return int(reader.get_record(env, ARTIKEL, artikel_key(nummer))["__STAMP"])

    def test_write_reads_back(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """A write with the current stamp is saved, raises the stamp and is read back."""
        before = self.stamp(reader, contract_env, 1001)
        (result,) = writer.write([self.update(contract_env, 1001, {"Bezeichnung": "Neu"}, before)])
        record = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        assert (ARTIKEL, artikel_key(1001)) == (result.table, result.key)
        assert result.stamp > before
        assert ("Neu", result.stamp) == (record["Bezeichnung"], record["__STAMP"])
        assert "Neu" == result.record["Bezeichnung"]

    def test_write_only_touches_given_fields(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Fields not in the update keep their values."""
        writer.write([self.update(contract_env, 1001, {"Bestand": 13})])
        record = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        assert (13, "Engel klein", 19.9) == (
            record["Bestand"],
            record["Bezeichnung"],
            record["Preis"],
        )

    def test_stamp_rises_on_every_write(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Each save raises the stamp, also without an expected stamp and with the same value."""
        stamps = [self.stamp(reader, contract_env, 1002)]
        for _ in range(3):
            (result,) = writer.write([self.update(contract_env, 1002, {"Bestand": 1})])
            stamps.append(result.stamp)
        assert sorted(set(stamps)) == stamps

    def test_values_of_each_type(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Dates, nulls, booleans, floats and nested objects are read back in wire form."""
        values = {
            "created_date": dt.date(2025, 3, 4),
            "Bestand": None,
            "Aktiv": False,
            "Preis": 12.75,
            "Preise": {"Coll": [{"Art": "Web", "Preis": 9.5, "VE": 2}]},
        }
        writer.write([self.update(contract_env, 1003, values)])
        record = reader.get_record(contract_env, ARTIKEL, artikel_key(1003))
        assert {**values, "created_date": "4!3!2025"} == {k: record.get(k) for k in values}

    def test_results_in_order(self, writer: FieldWriter, contract_env: str) -> None:
        """A batch returns one result per update, in the order given."""
        results = writer.write(
            [self.update(contract_env, n, {"Bestand": n}) for n in (1010, 1001, 1020)]
        )
        assert [artikel_key(n) for n in (1010, 1001, 1020)] == [r.key for r in results]
        assert all(isinstance(r, WriteResult) for r in results)

    def test_empty_batch(self, writer: FieldWriter) -> None:
        """An empty batch writes nothing and returns nothing."""
        assert [] == writer.write([])

    def test_unknown_key(self, writer: FieldWriter, contract_env: str) -> None:
        """Updating an entity that does not exist raises RecordNotFound."""
        update = FieldUpdate(ARTIKEL, "F" * 32, {"Bestand": 1}, environment=contract_env)
        with pytest.raises(RecordNotFound):
            writer.write([update])

    def test_unknown_field(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Writing a field the table lacks raises InvalidQuery naming it and changes nothing."""
        before = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        with pytest.raises(InvalidQuery, match="Farbe"):
            writer.write([self.update(contract_env, 1001, {"Farbe": "rot"})])
        assert before == reader.get_record(contract_env, ARTIKEL, artikel_key(1001))

    def test_unknown_table(self, writer: FieldWriter, contract_env: str) -> None:
        """Writing to an unknown table raises UnknownTable naming environment and table."""
        update = FieldUpdate("Gibt_es_nicht", "1", {"A": 1}, environment=contract_env)
        with pytest.raises(UnknownTable) as info:
            writer.write([update])
        assert (contract_env, "Gibt_es_nicht") == (info.value.environment, info.value.table)

    def test_one_table_per_call(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """A batch mixing tables is refused before anything is written."""
        batch = [
            self.update(contract_env, 1001, {"Bestand": 99}),
            FieldUpdate(LAGER, "7", {"Menge": 99}, environment=contract_env),
        ]
        with pytest.raises(InvalidQuery):
            writer.write(batch)
        assert 12 == reader.get_record(contract_env, ARTIKEL, artikel_key(1001))["Bestand"]

    def test_stale_stamp(self, writer: FieldWriter, reader: TableReader, contract_env: str) -> None:
        """A stale stamp raises StampConflict carrying the current values and stamp."""
        old = self.stamp(reader, contract_env, 1005)
        (current,) = writer.write([self.update(contract_env, 1005, {"Bezeichnung": "Zuerst"}, old)])
        with pytest.raises(StampConflict) as info:
            writer.write([self.update(contract_env, 1005, {"Bezeichnung": "Zu spät"}, old)])
        error = info.value
        assert (artikel_key(1005), current.stamp) == (error.key, error.current_stamp)
        assert ("Zuerst", 1005) == (error.current["Bezeichnung"], error.current["Nummer"])
        record = reader.get_record(contract_env, ARTIKEL, artikel_key(1005))
        assert ("Zuerst", current.stamp) == (record["Bezeichnung"], record["__STAMP"])

    def test_atomic_is_all_or_nothing(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """With ``atomic`` a failing update leaves every update of the batch unapplied."""
        before = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        stale = self.stamp(reader, contract_env, 1002) + 100
        batch = [
            self.update(contract_env, 1001, {"Bestand": 99}),
            self.update(contract_env, 1002, {"Bestand": 99}, stale),
        ]
        with pytest.raises(StampConflict):
            writer.write(batch, atomic=True)
        assert before == reader.get_record(contract_env, ARTIKEL, artikel_key(1001))

    def test_not_atomic_reports_every_outcome(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Without ``atomic`` the others are saved around a failing one; PartialWrite says which."""
        stale = self.stamp(reader, contract_env, 1002) + 100
        batch = [
            self.update(contract_env, 1001, {"Bestand": 99}),
            self.update(contract_env, 1002, {"Bestand": 99}, stale),
            self.update(contract_env, 1003, {"Bestand": 98}),
            FieldUpdate(ARTIKEL, "F" * 32, {"Bestand": 1}, environment=contract_env),
        ]
        with pytest.raises(PartialWrite) as info:
            writer.write(batch)
        outcomes = info.value.outcomes
        assert ["saved", "conflict", "saved", "rejected"] == [o.status for o in outcomes]
        assert [0, 1, 2, 3] == [o.index for o in outcomes]
        assert isinstance(outcomes[1].error, StampConflict)
        assert isinstance(outcomes[3].error, RecordNotFound)
        assert outcomes[2].result is not None
        assert 98 == reader.get_record(contract_env, ARTIKEL, artikel_key(1003))["Bestand"]
        assert outcomes[2].result.stamp == self.stamp(reader, contract_env, 1003)
        assert 99 == reader.get_record(contract_env, ARTIKEL, artikel_key(1001))["Bestand"]
        assert 0 == reader.get_record(contract_env, ARTIKEL, artikel_key(1002))["Bestand"]
        assert not info.value.not_applied
        assert contract_env == info.value.environment

    def test_not_atomic_all_failing_is_not_applied(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """A batch in which every update fails reports each one and says nothing was applied."""
        stale = self.stamp(reader, contract_env, 1004) + 100
        batch = [
            self.update(contract_env, 1004, {"Bestand": 97}, stale),
            FieldUpdate(ARTIKEL, "F" * 32, {"Bestand": 1}, environment=contract_env),
        ]
        with pytest.raises(PartialWrite) as info:
            writer.write(batch)
        assert ["conflict", "rejected"] == [o.status for o in info.value.outcomes]
        assert info.value.not_applied

    def test_compare_and_set_under_threads(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Of several concurrent writers holding the same stamp exactly one wins."""
        stamp = self.stamp(reader, contract_env, 1008)
        outcomes: list[str] = []
        barrier = threading.Barrier(6)

        def attempt(i: int) -> None:
            barrier.wait()
            try:
                writer.write([self.update(contract_env, 1008, {"Bestand": i}, stamp)])
            except StampConflict:
                outcomes.append("conflict")
            else:
                outcomes.append(f"won {i}")

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        winners = [o for o in outcomes if o.startswith("won")]
        assert (1, 5) == (len(winners), outcomes.count("conflict"))
        winner = int(winners[0].split()[1])
        assert winner == reader.get_record(contract_env, ARTIKEL, artikel_key(1008))["Bestand"]

    def test_create(self, writer: FieldWriter, reader: TableReader, contract_env: str) -> None:
        """``create`` returns the new entity with a new key; it joins the table."""
        result = writer.create(
            contract_env,
            ARTIKEL,
            {"Nummer": 2001, "Bezeichnung": "Neu", "created_date": "2025-05-06"},
        )
        assert isinstance(result.key, str)
        assert result.key not in {artikel_key(n) for n in range(1001, 1026)}
        record = reader.get_record(contract_env, ARTIKEL, result.key)
        assert (2001, "Neu", "6!5!2025", result.stamp) == (
            record["Nummer"],
            record["Bezeichnung"],
            record["created_date"],
            record["__STAMP"],
        )
        assert 26 == reader.read_page(Query(contract_env, ARTIKEL, top=1)).count

    def test_create_unknown_table(self, writer: FieldWriter, contract_env: str) -> None:
        """Creating in an unknown table raises UnknownTable."""
        with pytest.raises(UnknownTable):
            writer.create(contract_env, "Gibt_es_nicht", {"A": 1})

    def test_snapshot_membership_is_fixed(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Writes after a snapshot change values it shows, not which entities it holds."""
        query = Query(contract_env, ARTIKEL, filter=INACTIVE, order_by="Nummer", top=3)
        first = reader.open_snapshot(query, 60)
        writer.write([self.update(contract_env, 1010, {"Aktiv": True})])
        writer.create(contract_env, ARTIKEL, {"Nummer": 2002, "Aktiv": False})
        rest = reader.read_page(attrs.evolve(query, skip=3, entity_set=first.entity_set))
        assert [1013, 1019, 1024] == nummern(rest)
        whole = reader.read_page(attrs.evolve(query, skip=0, top=100, entity_set=first.entity_set))
        assert [1003, 1006, 1010, 1013, 1019, 1024] == nummern(whole)
        assert True is whole.records[2]["Aktiv"]

    def test_writes_stay_in_their_table(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """Writing one table leaves the other tables of the environment alone."""
        writer.write([FieldUpdate(LAGER, "7", {"Menge": 1234}, environment=contract_env)])
        assert 1234 == reader.get_record(contract_env, LAGER, "7")["Menge"]
        assert 7 == reader.get_record(contract_env, LAGER, "7")["Nummer"]

    # -- create_many ---------------------------------------------------------------------

    def test_create_many_reads_back(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """``create_many`` returns one new key and stamp per row, in order; each reads back."""
        rows = [{"Nummer": 3001 + i, "Bezeichnung": f"Neu {i}"} for i in range(3)]
        results = writer.create_many(contract_env, ARTIKEL, rows)
        assert [ARTIKEL] * 3 == [r.table for r in results]
        assert 3 == len({r.key for r in results})
        assert not {r.key for r in results} & {artikel_key(n) for n in range(1001, 1026)}
        for row, result in zip(rows, results, strict=True):
            record = reader.get_record(contract_env, ARTIKEL, result.key)
            assert (row["Nummer"], row["Bezeichnung"], result.stamp) == (
                record["Nummer"],
                record["Bezeichnung"],
                record["__STAMP"],
            )
        assert 28 == reader.read_page(Query(contract_env, ARTIKEL, top=1)).count

    def test_create_many_empty(self, writer: FieldWriter, contract_env: str) -> None:
        """No rows create nothing and return nothing."""
        assert [] == writer.create_many(contract_env, ARTIKEL, [])

    def test_create_many_reports_every_outcome(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """A row 4D refuses does not stop the others; PartialWrite says which were created."""
        rows: list[dict[str, Any]] = [{"Nummer": 3101}, {"Farbe": "rot"}, {"Nummer": 3103}]
        with pytest.raises(PartialWrite) as info:
            writer.create_many(contract_env, ARTIKEL, rows)
        outcomes = info.value.outcomes
        assert ["saved", "rejected", "saved"] == [o.status for o in outcomes]
        assert isinstance(outcomes[1].error, InvalidQuery)
        assert outcomes[1].key is None
        created = [o.result for o in outcomes if o.result is not None]
        assert [3101, 3103] == [
            reader.get_record(contract_env, ARTIKEL, r.key)["Nummer"] for r in created
        ]
        assert not info.value.not_applied

    def test_create_many_unknown_table(self, writer: FieldWriter, contract_env: str) -> None:
        """Creating in an unknown table raises UnknownTable."""
        with pytest.raises(UnknownTable):
            writer.create_many(contract_env, "Gibt_es_nicht", [{"A": 1}, {"A": 2}])

    # -- delete --------------------------------------------------------------------------

    def test_delete(self, writer: FieldWriter, reader: TableReader, contract_env: str) -> None:
        """A deleted entity is gone from reads by key, selections and counts."""
        writer.delete(contract_env, ARTIKEL, artikel_key(1013))
        with pytest.raises(RecordNotFound):
            reader.get_record(contract_env, ARTIKEL, artikel_key(1013))
        inactive = reader.read_page(Query(contract_env, ARTIKEL, filter=INACTIVE, top=100))
        assert [1003, 1006, 1010, 1019, 1024] == sorted(nummern(inactive))
        assert 24 == reader.read_page(Query(contract_env, ARTIKEL, top=1)).count

    def test_delete_with_current_stamp(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """With the current stamp the entity is deleted."""
        stamp = self.stamp(reader, contract_env, 1014)
        writer.delete(contract_env, ARTIKEL, artikel_key(1014), expected_stamp=stamp)
        with pytest.raises(RecordNotFound):
            reader.get_record(contract_env, ARTIKEL, artikel_key(1014))

    def test_delete_stale_stamp(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """A stale stamp raises StampConflict with the current values and deletes nothing."""
        old = self.stamp(reader, contract_env, 1015)
        (saved,) = writer.write([self.update(contract_env, 1015, {"Bestand": 41})])
        with pytest.raises(StampConflict) as info:
            writer.delete(contract_env, ARTIKEL, artikel_key(1015), expected_stamp=old)
        assert (artikel_key(1015), saved.stamp) == (info.value.key, info.value.current_stamp)
        assert 41 == info.value.current["Bestand"]
        assert info.value.not_applied
        assert 41 == reader.get_record(contract_env, ARTIKEL, artikel_key(1015))["Bestand"]

    def test_delete_unknown_key(self, writer: FieldWriter, contract_env: str) -> None:
        """Deleting an entity that does not exist (or no longer) raises RecordNotFound."""
        writer.delete(contract_env, ARTIKEL, artikel_key(1016))
        for key in ("F" * 32, artikel_key(1016)):
            with pytest.raises(RecordNotFound):
                writer.delete(contract_env, ARTIKEL, key)

    def test_delete_unknown_table(self, writer: FieldWriter, contract_env: str) -> None:
        """Deleting in an unknown table raises UnknownTable."""
        with pytest.raises(UnknownTable):
            writer.delete(contract_env, "Gibt_es_nicht", "1")

    def test_deleted_entity_leaves_snapshots(
        self, writer: FieldWriter, reader: TableReader, contract_env: str
    ) -> None:
        """A snapshot opened before a delete no longer shows the deleted entity."""
        query = Query(contract_env, ARTIKEL, filter=INACTIVE, order_by="Nummer", top=3)
        first = reader.open_snapshot(query, 60)
        writer.delete(contract_env, ARTIKEL, artikel_key(1010))
        whole = reader.read_page(attrs.evolve(query, skip=0, top=100, entity_set=first.entity_set))
        assert [1003, 1006, 1013, 1019, 1024] == nummern(whole)
