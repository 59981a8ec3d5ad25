"""Write-back against the emulator over HTTP: stamp checks, each conflict policy, lost answers."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from fourd_emulator import EmulatorServer
from legacy_adapters.sync import (
    MemoryChanges,
    SqlChanges,
    SqliteSink,
    SyncRunner,
    WriteBack,
    changes_of,
)
from legacy_core import instrument
from legacy_core.errors import ConfigurationError
from legacy_core.service import LegacyClient
from legacy_core.sync import ChangeEvent, LocalChange, SyncMapping

from .conftest import Fourd

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"
FIELDS = ["Bezeichnung", "Nummer", "modified_date", "modified_time"]


def mapping(policy: str) -> SyncMapping:
    """The variants' mapping with ``policy``."""
    return SyncMapping(TABLE, fields=FIELDS, conflict_policy=policy)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SqliteSink]:
    """A SQLite sink in a fresh file."""
    s = SqliteSink(tmp_path / "wb.db")
    yield s
    s.close()


def copy(client: LegacyClient, m: SyncMapping, sink: SqliteSink) -> list[ChangeEvent]:
    """One sync run; the events it announced."""
    events: list[ChangeEvent] = []
    runner = SyncRunner(client, m, sink, batch_size=1000)
    runner.add_handler(events.extend)
    runner.run()
    return events


def local_row(path: str, key: str) -> dict[str, Any]:
    """The sink's copy of ``key``, read straight from the file."""
    db = sqlite3.connect(path)
    try:
        cur = db.execute(f'SELECT * FROM "{TABLE}" WHERE "__KEY" = ?', (key,))
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
        return dict(zip(names, row, strict=True))
    finally:
        db.close()


def setup_conflict(
    client: LegacyClient,
    fourd: Fourd,
    sink: SqliteSink,
    m: SyncMapping,
    *,
    changed_at: dt.datetime | None = None,
) -> tuple[str, SqlChanges]:
    """Copy the table, record a local change of one row, then edit that row directly in 4D."""
    copy(client, m, sink)
    key = fourd.records(TABLE)[7]["__KEY"]
    base = local_row(sink.path, key)["__STAMP"]
    store = changes_of(sink)
    store.record_change(
        m.name, key, {"Bezeichnung": "local edit"}, base_stamp=base, changed_at=changed_at
    )
    fourd.update(TABLE, {"__KEY": key, "Bezeichnung": "edited in 4D"})
    return key, store


def fourd_row(fourd: Fourd, key: str) -> dict[str, Any]:
    """One entity as 4D holds it now."""
    return next(r for r in fourd.records(TABLE) if r["__KEY"] == key)


def test_push_without_conflict_updates_4d_and_the_copy_without_an_echo_event(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink
) -> None:
    """An unconflicted change lands in 4D, the sink takes its new stamp, the next run is quiet."""
    m = mapping("manual")
    copy(client, m, sink)
    key = fourd.records(TABLE)[3]["__KEY"]
    base = local_row(sink.path, key)["__STAMP"]
    store = changes_of(sink)
    store.record_change(m.name, key, {"Bezeichnung": "pushed"}, base_stamp=base)
    summary = WriteBack(client, m, sink).run()
    now = fourd_row(fourd, key)
    assert (summary.saved, summary.conflicts) == (1, 0)
    assert "pushed" == now["Bezeichnung"]
    assert now["__STAMP"] == local_row(sink.path, key)["__STAMP"] == base + 1
    assert "pushed" == local_row(sink.path, key)["Bezeichnung"]
    assert ["done"] == [o["status"] for o in store.outgoing(m.name)]
    assert [] == [e for e in copy(client, m, sink) if e.key == key]
    assert [] == store.pending(m.name)


def test_local_wins_resends_with_the_fresh_stamp(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink
) -> None:
    """local_wins: the local values overwrite the concurrent 4D edit."""
    m = mapping("local_wins")
    key, store = setup_conflict(client, fourd, sink, m)
    summary = WriteBack(client, m, sink).run()
    assert (summary.conflicts, summary.resent, summary.parked) == (1, 1, 0)
    assert "local edit" == fourd_row(fourd, key)["Bezeichnung"]
    assert fourd_row(fourd, key)["__STAMP"] == local_row(sink.path, key)["__STAMP"]
    assert ["done"] == [o["status"] for o in store.outgoing(m.name)]


def test_legacy_wins_keeps_4d_and_the_next_sync_brings_it_in(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink
) -> None:
    """legacy_wins: 4D's edit stays, the change is dropped, the next run announces 4D's edit."""
    m = mapping("legacy_wins")
    key, store = setup_conflict(client, fourd, sink, m)
    summary = WriteBack(client, m, sink).run()
    assert (summary.conflicts, summary.kept_legacy) == (1, 1)
    assert "edited in 4D" == fourd_row(fourd, key)["Bezeichnung"]
    assert ["dropped"] == [o["status"] for o in store.outgoing(m.name)]
    events = [e for e in copy(client, m, sink) if e.key == key]
    assert [("updated", "edited in 4D")] == [
        (e.kind, (e.after or {})["Bezeichnung"]) for e in events
    ]


@pytest.mark.parametrize(
    ("hours", "winner"), [(-2, "edited in 4D"), (+2, "local edit")], ids=["4d-newer", "local-newer"]
)
def test_newest_wins_compares_modification_times(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink, hours: int, winner: str
) -> None:
    """newest_wins: the later of 4D's modified_date+time and the local change's time wins."""
    m = mapping("newest_wins")
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    key, _store = setup_conflict(client, fourd, sink, m, changed_at=at)
    WriteBack(client, m, sink).run()
    assert winner == fourd_row(fourd, key)["Bezeichnung"]


def test_manual_parks_both_versions_and_a_resolution_pushes_later(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink
) -> None:
    """manual: 4D is untouched, both versions wait in the conflict table; resolving pushes."""
    m = mapping("manual")
    key, store = setup_conflict(client, fourd, sink, m)
    remote_stamp = fourd_row(fourd, key)["__STAMP"]
    summary = WriteBack(client, m, sink).run()
    assert summary.parked == 1
    assert "edited in 4D" == fourd_row(fourd, key)["Bezeichnung"]
    (conflict,) = store.conflicts(m.name)
    assert (conflict.key, dict(conflict.local)) == (key, {"Bezeichnung": "local edit"})
    assert ("edited in 4D", remote_stamp) == (conflict.remote["Bezeichnung"], conflict.remote_stamp)
    assert ["parked"] == [o["status"] for o in store.outgoing(m.name)]
    store.resolve(conflict.id, "local")
    assert [] == store.conflicts(m.name)
    again = WriteBack(client, m, sink).run()
    assert (again.saved, again.conflicts) == (1, 0)
    assert "local edit" == fourd_row(fourd, key)["Bezeichnung"]
    with pytest.raises(ConfigurationError, match="no open conflict"):
        store.resolve(conflict.id, "legacy")


class _FaultyOnce:
    """A source that switches on truncated answers once the run asks for its changes."""

    def __init__(self, inner: SqlChanges, server: EmulatorServer) -> None:
        self.inner = inner
        self.server = server

    def pending(self, mapping: str) -> list[LocalChange]:
        self.server.set_faults(truncate_rate=1.0)  # the write is applied, its answer cut
        return self.inner.pending(mapping)

    def mark(self, mapping: str, change: LocalChange, status: Any, **kw: Any) -> None:
        self.inner.mark(mapping, change, status, **kw)


def test_a_write_whose_answer_is_lost_is_neither_lost_nor_doubled(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink, emulator: EmulatorServer
) -> None:
    """A cut answer leaves the change to push; the next run finds it applied, writes nothing."""
    m = mapping("manual")
    copy(client, m, sink)
    key = fourd.records(TABLE)[5]["__KEY"]
    base = local_row(sink.path, key)["__STAMP"]
    store = changes_of(sink)
    store.record_change(m.name, key, {"Bezeichnung": "maybe"}, base_stamp=base)
    try:
        first = WriteBack(client, m, sink, source=_FaultyOnce(store, emulator)).run()
    finally:
        emulator.set_faults()
    assert (first.saved, first.unknown) == (0, 1)
    assert ["unknown"] == [o["status"] for o in store.outgoing(m.name)]
    second = WriteBack(client, m, sink).run()
    assert (second.applied, second.parked, second.saved) == (1, 0, 0)
    assert ["done"] == [o["status"] for o in store.outgoing(m.name)]
    writes = [a for a in emulator.audit() if a["key"] == key and a["action"] != "create"]
    assert 1 == len(writes)
    assert (
        "maybe" == fourd_row(fourd, key)["Bezeichnung"] == local_row(sink.path, key)["Bezeichnung"]
    )
    assert [] == store.conflicts(m.name)


def test_generic_iterable_source_and_memory_conflicts(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink
) -> None:
    """Changes given as an iterable are pushed; a manual conflict is kept in memory."""
    m = mapping("manual")
    copy(client, m, sink)
    first, second = (r["__KEY"] for r in fourd.records(TABLE)[10:12])
    stamps = {k: local_row(sink.path, k)["__STAMP"] for k in (first, second)}
    fourd.update(TABLE, {"__KEY": second, "Nummer": 4711})
    now = dt.datetime.now(dt.UTC)
    source = MemoryChanges(
        [
            LocalChange(first, {"Nummer": 1}, stamps[first], now),
            LocalChange(second, {"Nummer": 2}, stamps[second], now),
        ]
    )
    summary = WriteBack(client, m, sink, source=source, conflicts=source).run()
    assert (summary.saved, summary.parked) == (1, 1)
    assert 1 == fourd_row(fourd, first)["Nummer"]
    assert 4711 == fourd_row(fourd, second)["Nummer"]
    assert [(second, 4711)] == [(c.key, r["Nummer"]) for c, r, _s in source.parked]
    assert [] == source.pending(m.name)


def test_conflicts_are_counted_in_prometheus_and_logged(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink
) -> None:
    """Each decision increments legacy_api_sync_conflicts_total and logs one event."""
    prometheus = pytest.importorskip("prometheus_client")  # the metrics extra
    from legacy_adapters.observe._metrics import PrometheusInstrumentation  # noqa: PLC0415

    metrics = instrument.install(
        PrometheusInstrumentation.create(prometheus.CollectorRegistry(), add_to_default=False)
    )
    try:
        m = mapping("local_wins")
        _key, _store = setup_conflict(client, fourd, sink, m)
        # structlog's capture, not caplog: an earlier test may have routed structlog away
        # from the standard library's logging.
        with capture_logs() as logs:
            WriteBack(client, m, sink).run()
    finally:
        instrument.uninstall(metrics)
    labels = {"table": TABLE, "policy": "local_wins", "decision": "resend"}
    assert 1.0 == metrics.registry.get_sample_value("legacy_api_sync_conflicts_total", labels)
    logged = [e for e in logs if e["event"] == "legacy_api.sync.conflict"]
    assert 1 == len(logged)
    assert "resend" == logged[0]["decision"]


def test_a_bad_policy_is_refused() -> None:
    """An unknown policy name is a ConfigurationError naming the choices."""
    with pytest.raises(ConfigurationError, match="newest_wins"):
        SyncMapping(TABLE, conflict_policy="whoever")


def test_concurrent_4d_edits_never_lose_or_double_a_write(
    client: LegacyClient, fourd: Fourd, sink: SqliteSink, emulator: EmulatorServer
) -> None:
    """With a thread editing 4D meanwhile, every change is pushed once or parked, never both."""
    m = mapping("manual")
    copy(client, m, sink)
    keys = [r["__KEY"] for r in fourd.records(TABLE)[100:160]]
    store = changes_of(sink)
    for i, key in enumerate(keys):
        stamp = local_row(sink.path, key)["__STAMP"]
        store.record_change(m.name, key, {"Bezeichnung": f"local {i}"}, base_stamp=stamp)
    stop = threading.Event()
    editor = Fourd(emulator)
    edits: list[str] = []

    def edit() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            key = rng.choice(keys)
            editor.update(TABLE, {"__KEY": key, "Nummer": rng.randrange(10**6)})
            edits.append(key)

    thread = threading.Thread(target=edit)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(edits) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)  # some keys are edited in 4D before the first push
        summary = WriteBack(client, m, sink, batch_size=10).run()
    finally:
        stop.set()
        thread.join()
        editor.http.close()
    outcome = {o["key"]: o["status"] for o in store.outgoing(m.name)}
    parked = {c.key for c in store.conflicts(m.name)}
    ours = [
        a["key"]
        for a in emulator.audit()
        if str((a.get("values") or {}).get("Bezeichnung", "")).startswith("local ")
    ]
    assert Counter(ours) == Counter(k for k, s in outcome.items() if s == "done")
    assert parked == {k for k, s in outcome.items() if s == "parked"}
    assert set(outcome.values()) <= {"done", "parked"}
    assert summary.saved + summary.parked == len(keys)
    assert summary.parked > 0  # the editor really raced the pushes
    assert summary.saved > 0  # and some pushes got through
