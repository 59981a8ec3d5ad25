"""The sync runner into SQLite against the emulator over HTTP: equality, same second, crashes."""

from __future__ import annotations

import random
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.sync import SqliteSink, SyncRunner, open_sink, sync_table
from legacy_core.errors import ConfigurationError, LegacyError, SinkError
from legacy_core.service import LegacyClient
from legacy_core.sync import (
    ChangeEvent,
    FieldMap,
    GlobalStampWatermark,
    SyncMapping,
    TimestampWatermark,
)

from .conftest import Fourd, make_client

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"
FAMILY = "Artikel_Familie"


def sqlite_table(path: Path, table: str) -> dict[str, dict[str, Any]]:
    """The synced table read straight from the file: key -> column -> value."""
    db = sqlite3.connect(path)
    try:
        cur = db.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur}
    finally:
        db.close()


def outbox(path: Path) -> list[tuple[str, str, int | None]]:
    """The events the sink's outbox holds, in order: (kind, key, stamp)."""
    db = sqlite3.connect(path)
    try:
        return list(db.execute("SELECT kind, key, stamp FROM _legacy_sync_events ORDER BY id"))
    finally:
        db.close()


def run(client: LegacyClient, path: Path, mapping: SyncMapping | str = TABLE, **kw: Any) -> Any:
    """One sync run into the SQLite file at ``path``."""
    mapping = SyncMapping(mapping) if isinstance(mapping, str) else mapping
    sink = SqliteSink(path)
    try:
        return SyncRunner(client, mapping, sink, **kw).run()
    finally:
        sink.close()


def mutate(fourd: Fourd, rng: random.Random, table: str = TABLE) -> dict[str, int]:
    """Update, create and delete a few entities of ``table`` over plain HTTP."""
    keys = [r["__KEY"] for r in fourd.records(table)]
    picked = rng.sample(keys, 8)
    for key in picked[:5]:
        fourd.update(table, {"__KEY": key, "Bezeichnung": f"neu {rng.random():.6f}"})
    fourd.update(table, {"Bezeichnung": "angelegt", "Nummer": rng.randint(1, 10**6)})
    for key in picked[5:7]:
        fourd.delete(table, key)
    return {"updated": 5, "created": 1, "deleted": 2}


class TestSqliteEquality:
    """After every run the SQLite table equals the 4D table, whatever changed in between."""

    def test_runs_track_changes_deletes_and_killed_sessions(
        self, client: LegacyClient, fourd: Fourd, emulator: EmulatorServer, tmp_path: Path
    ):
        """Four rounds of updates, a create and deletes, the session killed before each run."""
        path = tmp_path / "copy.db"
        first = run(client, path)
        assert first.full
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)
        rng = random.Random(7)
        for _ in range(4):
            done = mutate(fourd, rng)
            assert emulator.expire_sessions() >= 1
            summary = run(client, path)
            assert not summary.full
            expected = fourd.table(TABLE)
            assert expected == sqlite_table(path, TABLE)
            got = (summary.updated, summary.created, summary.deleted)
            assert (done["updated"], done["created"], done["deleted"]) == got

    def test_business_key_and_mapped_fields(
        self, client: LegacyClient, fourd: Fourd, tmp_path: Path
    ):
        """A business key becomes the primary key; only the mapped columns are kept."""
        path = tmp_path / "kunden.db"
        mapping = SyncMapping("Kunden", key="Kundennr", fields={"Kundennr": "nr", "Name": "name"})
        run(client, path, mapping)
        first = fourd.records("Kunden")[0]
        fourd.update("Kunden", {"__KEY": first["__KEY"], "Name": "Umbenannt"})
        run(client, path, mapping)
        rows = sqlite_table(path, "Kunden")
        assert ["__KEY", "__STAMP", "nr", "name"] == list(next(iter(rows.values())))
        by_nr = {r["nr"]: r for r in rows.values()}
        assert "Umbenannt" == by_nr[first["Kundennr"]]["name"]
        assert {r["Kundennr"] for r in fourd.records("Kunden")} == set(by_nr)


class TestTransforms:
    """Transformed fields are stored as their column kind and compare equal on later runs."""

    def test_transform_with_kind(self, client: LegacyClient, fourd: Fourd, tmp_path: Path):
        """sku as text stays text, a column without kind keeps the source's; no false updates."""
        path = tmp_path / "products.db"
        mapping = SyncMapping(
            FAMILY,
            fields=[
                FieldMap("Nummer", "sku", transform=str, kind="text"),
                FieldMap("Nummer", "nummer", transform=str),  # kind of the source: integer
                FieldMap(
                    "Gewicht", "gramm", transform=lambda kg: None if kg is None else kg * 1000
                ),
                FieldMap("Bezeichnung", "name"),
            ],
            target="products",
        )
        run(client, path, mapping)
        first = fourd.records(FAMILY)[0]
        fourd.update(FAMILY, {"__KEY": first["__KEY"], "Bezeichnung": "anders"})
        events: list[ChangeEvent] = []
        summary = run(client, path, mapping, handlers=[events.extend])
        assert (1, 0) == (summary.updated, summary.created)
        assert [("__STAMP", "name")] == [e.changed for e in events]
        again = run(client, path, mapping)  # re-reads the overlap window, nothing changed
        assert again.rows_read > 0
        assert (0, 0) == (again.updated, again.created)
        rows = sqlite_table(path, "products")
        assert str(first["Nummer"]) == rows[first["__KEY"]]["sku"]
        assert first["Nummer"] == rows[first["__KEY"]]["nummer"]
        expected = {
            r["__KEY"]: (
                str(r["Nummer"]),
                None if r.get("Gewicht") is None else r["Gewicht"] * 1000,
            )
            for r in fourd.records(FAMILY)
        }
        assert expected == {k: (r["sku"], r["gramm"]) for k, r in rows.items()}


class TestSameSecond:
    """A row changed in the same second as the watermark is read and applied."""

    def test_row_saved_in_the_watermark_second(
        self, client: LegacyClient, fourd: Fourd, tmp_path: Path
    ):
        """B saved with A's exact modified_date/modified_time after A's sync still arrives."""
        path = tmp_path / "same.db"
        mapping = SyncMapping(TABLE, watermark=_modified(overlap=0))
        run(client, path, mapping)
        a, b = fourd.records(TABLE)[:2]
        saved = fourd.update(TABLE, {"__KEY": a["__KEY"], "Bezeichnung": "A"})
        run(client, path, mapping)
        moment = {"modified_date": saved["modified_date"], "modified_time": saved["modified_time"]}
        fourd.update(TABLE, {"__KEY": b["__KEY"], "Bezeichnung": "B", **_iso(moment)})
        summary = run(client, path, mapping)
        assert 1 == summary.updated
        assert "B" == sqlite_table(path, TABLE)[b["__KEY"]]["Bezeichnung"]
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)


def _modified(overlap: int) -> Any:
    from legacy_core.sync import ModifiedWatermark  # noqa: PLC0415

    return ModifiedWatermark(overlap=overlap)


def _iso(moment: dict[str, Any]) -> dict[str, Any]:
    d, m, y = (int(p) for p in moment["modified_date"].split("!"))
    return {"modified_date": f"{y:04d}-{m:02d}-{d:02d}", "modified_time": moment["modified_time"]}


class Crash(Exception):
    """The fault a test injects between reading a batch and committing it."""


def crash_on(batch: int) -> Any:
    """A handler that raises on the ``batch``-th batch it sees (handlers run before commit)."""
    seen = {"n": 0}

    def handler(events: Sequence[ChangeEvent]) -> None:
        del events
        seen["n"] += 1
        if seen["n"] == batch:
            raise Crash

    return handler


class TestCrashes:
    """A crash anywhere loses nothing and doubles nothing: the re-run resumes."""

    def test_crash_during_full_copy(self, client: LegacyClient, fourd: Fourd, tmp_path: Path):
        """A first copy that dies at its third batch is finished by the next run, events once."""
        path = tmp_path / "crash.db"
        with pytest.raises(Crash):
            run(client, path, handlers=[crash_on(3)], batch_size=300)
        assert 600 == len(sqlite_table(path, TABLE))  # two batches committed
        summary = run(client, path, batch_size=300)
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)
        assert 2000 - 600 == summary.created
        kinds = Counter((kind, key) for kind, key, _s in outbox(path))
        assert 2000 == len(kinds)
        assert {1} == set(kinds.values())

    def test_crash_during_incremental_run(self, client: LegacyClient, fourd: Fourd, tmp_path: Path):
        """Changes half-applied when a run dies are completed, each announced exactly once."""
        path = tmp_path / "inc.db"
        run(client, path)
        keys = [r["__KEY"] for r in fourd.records(TABLE)[:6]]
        for key in keys:
            fourd.update(TABLE, {"__KEY": key, "Bezeichnung": "x"})
        with pytest.raises(Crash):
            run(client, path, handlers=[crash_on(2)], batch_size=2)
        run(client, path, batch_size=2)
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)
        updates = [key for kind, key, _s in outbox(path) if kind == "updated"]
        assert sorted(keys) == sorted(updates)

    def test_final_commit_fails_nothing_moves(
        self, client: LegacyClient, fourd: Fourd, tmp_path: Path
    ):
        """When the checkpoint cannot be written, the run's deletes and events roll back too."""
        path = tmp_path / "final.db"
        run(client, path)
        victim = fourd.records(TABLE)[0]["__KEY"]
        fourd.delete(TABLE, victim)
        db = sqlite3.connect(path)
        db.execute(
            "CREATE TRIGGER no_checkpoint BEFORE UPDATE ON _legacy_sync_checkpoints "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
        db.commit()
        with pytest.raises(SinkError, match="disk full"):
            run(client, path)
        assert victim in sqlite_table(path, TABLE)
        assert [] == [e for e in outbox(path) if e[0] == "deleted"]
        db.execute("DROP TRIGGER no_checkpoint")
        db.commit()
        db.close()
        run(client, path)
        assert victim not in sqlite_table(path, TABLE)
        assert [("deleted", victim)] == [(k, key) for k, key, _s in outbox(path) if k == "deleted"]


class TestSessionsAndFaults:
    """Sessions killed during a run and injected server faults change nothing in the result."""

    def test_session_killed_mid_run_and_faults(
        self, client: LegacyClient, fourd: Fourd, emulator: EmulatorServer, tmp_path: Path
    ):
        """The session dies after the first batch and 10% of requests fail: still equal."""
        path = tmp_path / "faults.db"

        def kill(events: Sequence[ChangeEvent]) -> None:
            del events
            emulator.expire_sessions()

        emulator.set_faults(error_503_rate=0.1, seed=5)
        run(client, path, handlers=[kill], batch_size=400)
        emulator.set_faults()
        mutate(fourd, random.Random(1))
        emulator.set_faults(error_503_rate=0.1, seed=6)
        run(client, path, handlers=[kill], batch_size=2)
        emulator.set_faults()
        assert emulator.stats()["faults"]
        assert emulator.stats()["sessions_created"] >= 3
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)


class TestCost:
    """An incremental run reads a small fraction of what a full copy reads."""

    def test_incremental_reads_far_fewer_rows(
        self, client: LegacyClient, fourd: Fourd, emulator: EmulatorServer, tmp_path: Path
    ):
        """With 1% of the rows changed, the emulator sends under 5% of a full copy's rows."""
        path = tmp_path / "cost.db"
        before = emulator.stats()["rows_sent"]
        run(client, path)
        full = emulator.stats()["rows_sent"] - before
        for rec in fourd.records(TABLE)[:20]:
            fourd.update(TABLE, {"__KEY": rec["__KEY"], "Bezeichnung": "geändert"})
        before = emulator.stats()["rows_sent"]
        requests_before = emulator.stats()["requests_total"]
        summary = run(client, path)
        incremental = emulator.stats()["rows_sent"] - before
        assert emulator.stats()["requests_total"] - requests_before == summary.requests
        assert 2000 == full
        assert 20 == summary.updated
        assert incremental < full * 0.05, (incremental, full)
        assert fourd.table(TABLE) == sqlite_table(path, TABLE)


class TestGlobalStampAndDeletedRecords:
    """Where 4D tracks changes, the stamp watermark and __DeletedRecords do the job."""

    def test_stamp_watermark_and_graves(self, tmp_path: Path):
        """Updates by __GlobalStamp, deletes from __DeletedRecords, no key scan at all."""
        with serve(EmulatorConfig(rows=1000, change_tracking=True)) as srv:
            client = make_client(srv)
            fourd = Fourd(srv)
            path = tmp_path / "stamp.db"
            mapping = SyncMapping(
                "Kunden", watermark=GlobalStampWatermark(), deletes="deleted_records"
            )
            run(client, path, mapping)
            rng = random.Random(3)
            for _ in range(3):
                keys = [r["__KEY"] for r in fourd.records("Kunden")]
                for key in rng.sample(keys, 4):
                    fourd.update("Kunden", {"__KEY": key, "Name": f"n{rng.random():.5f}"})
                fourd.delete("Kunden", rng.choice(keys))
                before = srv.stats()["rows_sent"]
                summary = run(client, path, mapping)
                assert (4, 1, 0) == (summary.updated, summary.deleted, summary.keys_read - 1)
                assert srv.stats()["rows_sent"] - before <= 4 + 1 + 1
                assert fourd.table("Kunden") == sqlite_table(path, "Kunden")

    def test_interrupted_copy_then_delete(self, tmp_path: Path):
        """A row copied by a crashed first copy and deleted before the retry does not survive."""
        with serve(EmulatorConfig(rows=1000, change_tracking=True)) as srv:
            client, fourd = make_client(srv), Fourd(srv)
            path = tmp_path / "graves.db"
            mapping = SyncMapping(
                TABLE, watermark=GlobalStampWatermark(), deletes="deleted_records"
            )
            with pytest.raises(Crash):
                run(client, path, mapping, handlers=[crash_on(2)], batch_size=100)
            victim = next(iter(sqlite_table(path, TABLE)))
            fourd.delete(TABLE, victim)
            run(client, path, mapping, batch_size=100)
            assert fourd.table(TABLE) == sqlite_table(path, TABLE)
            fourd.update(TABLE, {"__KEY": fourd.records(TABLE)[5]["__KEY"], "Bezeichnung": "z"})
            summary = run(client, path, mapping)
            assert (1, 0) == (summary.updated, summary.deleted)
            assert fourd.table(TABLE) == sqlite_table(path, TABLE)


class TestTimestampWatermark:
    """``__TIMESTAMP`` works where the server filters on it, and fails loudly where not."""

    def test_timestamp_watermark(self, tmp_path: Path):
        """Without pyERP's quirks the run reads the changed rows; with them 4D's error is raised."""
        mapping = SyncMapping("Kunden", watermark=TimestampWatermark(overlap=1000))
        with serve(EmulatorConfig(rows=500, quirks=False)) as srv:
            client, fourd = make_client(srv), Fourd(srv)
            path = tmp_path / "ts.db"
            run(client, path, mapping)
            first = fourd.records("Kunden")[0]
            fourd.update("Kunden", {"__KEY": first["__KEY"], "Name": "Zeit"})
            summary = run(client, path, mapping)
            assert (1, False) == (summary.updated, summary.full)
            assert summary.rows_read < 10
            assert fourd.table("Kunden") == sqlite_table(path, "Kunden")
        with serve(EmulatorConfig(rows=500)) as srv:
            client = make_client(srv)
            path = tmp_path / "quirks.db"
            run(client, path, mapping)
            with pytest.raises(LegacyError, match="__TIMESTAMP"):
                run(client, path, mapping)


class TestOneRunAtATime:
    """A mapping runs once at a time: a second run is refused while the first holds the lock."""

    def test_second_run_refused(self, client: LegacyClient, tmp_path: Path):
        """While one sink holds the mapping's lock a run fails with SinkError; after, it runs."""
        path = tmp_path / "locked.db"
        holder = SqliteSink(path)
        try:
            with holder.lock(TABLE), pytest.raises(SinkError, match="in progress"):
                run(client, path)
            with holder.lock("other mapping"):
                assert run(client, path).full  # another mapping's lock does not block
        finally:
            holder.close()
        assert 0 == run(client, path).created


class TestApi:
    """The convenience API and the sink's errors."""

    def test_sync_table_with_callback(self, client: LegacyClient, fourd: Fourd, tmp_path: Path):
        """sync_table opens the sink from a --to string and hands events to the callback."""
        got: list[ChangeEvent] = []
        target = f"sqlite:{tmp_path / 'api.db'}"
        sync_table(client, "Personal", target, on_events=got.extend)
        assert 40 == len(got)
        person = fourd.records("Personal")[0]
        fourd.update("Personal", {"__KEY": person["__KEY"], "Name": "Neu"})
        got.clear()
        sync_table(client, "Personal", target, on_events=got.extend)
        assert [("updated", person["__KEY"])] == [(e.kind, e.key) for e in got]
        assert "Name" in got[0].changed
        assert "Neu" == got[0].after["Name"]  # type: ignore[index]
        assert got[0].before["Name"] == person["Name"]  # type: ignore[index]

    def test_postgres_without_psycopg(self, monkeypatch: pytest.MonkeyPatch):
        """Without psycopg the PostgreSQL sink says which extra to install."""
        monkeypatch.setitem(sys.modules, "psycopg", None)
        with pytest.raises(ConfigurationError, match=r"legacy-api\[postgres\]"):
            open_sink("postgresql://postgres@127.0.0.1/x")

    def test_unwritable_sink_is_a_sink_error(self, client: LegacyClient, tmp_path: Path):
        """A SQLite path in a missing directory is a SinkError naming the path."""
        with pytest.raises(SinkError, match="missing"):
            sync_table(client, "Personal", f"sqlite:{tmp_path / 'missing' / 'x.db'}")
