"""The sync runner into a throw-away PostgreSQL database on 127.0.0.1:5432 (trust auth)."""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from fourd_emulator import EmulatorServer
from legacy_adapters.sync import PostgresSink, SyncRunner
from legacy_core.errors import SinkError
from legacy_core.service import LegacyClient
from legacy_core.sync import SyncMapping

from .conftest import Fourd
from .test_sqlite_sync import Crash, crash_on, mutate

psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"
ADMIN = os.environ.get("LEGACY_API_TEST_PG", "host=127.0.0.1 port=5432 dbname=postgres")


def _admin() -> Any:
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(f"{ADMIN} user={user}", autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            continue
    pytest.skip("no PostgreSQL server with trust authentication on 127.0.0.1:5432")
    return None


@pytest.fixture
def database() -> Iterator[str]:
    """A uniquely named database, dropped afterwards; yields its URL."""
    admin = _admin()
    name = f"legacy_sync_{uuid.uuid4().hex[:12]}"
    user = admin.info.user
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{user}@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def pg_table(url: str, table: str) -> dict[str, dict[str, Any]]:
    """The synced table as JSON rows (dates ISO, times text, objects as objects)."""
    with psycopg.connect(url) as db:
        rows = db.execute(f'SELECT to_jsonb(t) FROM "{table}" t').fetchall()
    return {r[0]["__KEY"]: r[0] for (r) in rows}


def run(client: LegacyClient, url: str, mapping: str = TABLE, **kw: Any) -> Any:
    """One sync run into the database at ``url``."""
    sink = PostgresSink(url)
    try:
        return SyncRunner(client, SyncMapping(mapping), sink, **kw).run()
    finally:
        sink.close()


class TestPostgres:
    """The same guarantees in PostgreSQL: equality after every run, crashes resumed once."""

    def test_runs_track_changes(
        self, client: LegacyClient, fourd: Fourd, emulator: EmulatorServer, database: str
    ):
        """Three rounds of updates, creates and deletes with killed sessions: equal each time."""
        run(client, database)
        assert fourd.table(TABLE, objects_as_text=False) == pg_table(database, TABLE)
        rng = random.Random(11)
        for _ in range(3):
            mutate(fourd, rng)
            emulator.expire_sessions()
            summary = run(client, database)
            assert (5, 1, 2) == (summary.updated, summary.created, summary.deleted)
            assert fourd.table(TABLE, objects_as_text=False) == pg_table(database, TABLE)

    def test_column_types(self, client: LegacyClient, database: str):
        """4D types become PostgreSQL types: bigint, double precision, boolean, date, jsonb."""
        run(client, database)
        with psycopg.connect(database) as db:
            types = dict(
                db.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = %s",
                    (TABLE,),
                ).fetchall()
            )
        assert {
            "__KEY": "text",
            "__STAMP": "bigint",
            "Aktiv": "boolean",
            "Release_Date": "date",
            "Preise": "jsonb",
            "Nummer": "bigint",
        } == {
            k: types[k] for k in ("__KEY", "__STAMP", "Aktiv", "Release_Date", "Preise", "Nummer")
        }

    def test_crash_resumes_without_doubles(self, client: LegacyClient, fourd: Fourd, database: str):
        """A copy that dies at its second batch is completed by the next run, events once."""
        with pytest.raises(Crash):
            run(client, database, handlers=[crash_on(2)], batch_size=700)
        run(client, database, batch_size=700)
        assert fourd.table(TABLE, objects_as_text=False) == pg_table(database, TABLE)
        with psycopg.connect(database) as db:
            events = db.execute("SELECT kind, key FROM _legacy_sync_events").fetchall()
        counts = Counter(events)
        assert 2000 == len(counts)
        assert {1} == set(counts.values())

    def test_unreachable_server_names_no_password(self):
        """A server that refuses the connection is a SinkError without the URL's password."""
        with pytest.raises(SinkError) as caught:
            PostgresSink("postgresql://sync:hunter2@127.0.0.1:1/nowhere?connect_timeout=3")
        assert "hunter2" not in str(caught.value)
        assert "sync:***@127.0.0.1:1/nowhere" in str(caught.value)

    def test_second_run_refused(self, client: LegacyClient, database: str):
        """While another connection holds the mapping's advisory lock a run is refused."""
        holder = PostgresSink(database)
        try:
            with holder.lock(TABLE), pytest.raises(SinkError, match="in progress"):
                run(client, database)
        finally:
            holder.close()
        assert run(client, database).full  # the lock went with the connection


def test_write_back_and_relay_in_postgres(
    client: LegacyClient, fourd: Fourd, emulator: EmulatorServer, database: str
) -> None:
    """PostgreSQL holds the outgoing, conflict and relay tables: a push, a park, a relay run."""
    del emulator
    from legacy_adapters.sync import OutboxEvent, OutboxRelay, WriteBack, changes_of  # noqa: PLC0415

    m = SyncMapping(TABLE, fields=["Bezeichnung", "Nummer"], conflict_policy="manual")
    sink = PostgresSink(database)
    try:
        SyncRunner(client, m, sink).run()
        first, second = (r["__KEY"] for r in fourd.records(TABLE)[:2])
        stamps = sink.rows(TABLE, "__KEY", [first, second])
        store = changes_of(sink)
        store.record_change(m.name, first, {"Nummer": 11}, base_stamp=stamps[first]["__STAMP"])
        store.record_change(m.name, second, {"Nummer": 22}, base_stamp=stamps[second]["__STAMP"])
        fourd.update(TABLE, {"__KEY": second, "Nummer": 4242})
        summary = WriteBack(client, m, sink).run()
        assert (summary.saved, summary.parked) == (1, 1)
        assert 11 == sink.rows(TABLE, "__KEY", [first])[first]["Nummer"]
        (conflict,) = store.conflicts(m.name)
        assert (second, 22, 4242) == (
            conflict.key,
            conflict.local["Nummer"],
            conflict.remote["Nummer"],
        )

        class Keep:
            def __init__(self) -> None:
                self.got: list[OutboxEvent] = []

            def publish(self, events: Any) -> None:
                self.got.extend(events)

            def close(self) -> None:
                pass

        keep = Keep()
        relay = OutboxRelay(sink, keep, name="test")
        assert relay.run() == len(keep.got) > 0
        assert 0 == relay.run()
        assert relay.cursor() == keep.got[-1].id
    finally:
        sink.close()
