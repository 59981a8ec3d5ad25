"""Tests of the LegacyClient facade against the in-memory adapter, via a fault-injecting fake."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pandas as pd
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from legacy_adapters.memory import MemoryTable
from legacy_core.clock import ManualClock
from legacy_core.errors import (
    CircuitOpen,
    ConfigurationError,
    EntitySetExpired,
    InvalidQuery,
    LicenceExhausted,
    RecordNotFound,
    ServerBusy,
    ServerError,
    ServerUnavailable,
    StampConflict,
    UnknownTable,
)
from legacy_core.model import FieldUpdate, Query
from legacy_core.query import field
from legacy_core.resilience import RetryPolicy
from legacy_core.service import LegacyClient

from ._support import FaultyBackend, artikel_rows, make_client, make_memory


def numbers(frame: pd.DataFrame) -> list[int]:
    """The ``Nummer`` column as a plain list."""
    return [int(n) for n in frame["Nummer"]]


def expire_all(backend: FaultyBackend, clock: ManualClock) -> Any:
    """A read fault that lets every open snapshot time out (the clock jumps 2 hours)."""

    def fault(_query: Query) -> None:
        clock.advance(7200)

    return fault


def insert_rows(backend: FaultyBackend, start: int, n: int) -> Any:
    """A read fault that adds ``n`` rows (a concurrent writer) before the read runs."""

    def fault(_query: Query) -> None:
        for row in artikel_rows(n, start):
            backend.inner.create("live", "Artikel", row)

    return fault


class TestFetchFrame:
    """fetch_frame pages correctly, in server order, and converts to pandas."""

    def test_reads_every_row_in_order(self, client: LegacyClient, backend: FaultyBackend):
        """All 250 rows arrive once each, in key order, over 7 pages of 40."""
        frame = client.fetch_frame("Artikel")
        assert list(range(1, 251)) == numbers(frame)
        assert 1 == backend.calls["open_snapshot"]
        assert 6 == backend.calls["read_page"]

    def test_columns_in_server_order(self, client: LegacyClient):
        """Columns are the entity keys in the order the server sent them."""
        frame = client.fetch_frame("Artikel", limit=3)
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Name", "Preis", "Datum"] == list(
            frame.columns
        )

    @pytest.mark.parametrize("page_size", [1, 7, 40, 249, 250, 251, 1000])
    @pytest.mark.parametrize(
        ("skip", "limit"),
        [(0, None), (0, 0), (3, 10), (245, None), (249, 5), (250, None), (300, 2)],
    )
    def test_windows(self, client: LegacyClient, page_size: int, skip: int, limit: int | None):
        """Every page size, skip and limit combination returns exactly the selected slice."""
        expected = list(range(1, 251))[skip:][: limit if limit is not None else None]
        frame = client.fetch_frame("Artikel", skip=skip, limit=limit, page_size=page_size)
        assert expected == numbers(frame) if expected else frame.empty

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        n=st.integers(0, 60),
        page_size=st.integers(1, 25),
        skip=st.integers(0, 70),
        limit=st.none() | st.integers(0, 70),
        workers=st.integers(1, 3),
        consistent=st.booleans(),
    )
    def test_windows_property(
        self, n: int, page_size: int, skip: int, limit: int | None, workers: int, consistent: bool
    ):
        """For any table size and window the rows equal the Python slice of the table."""
        clock = ManualClock()
        backend = FaultyBackend(make_memory(n, clock))
        client = make_client(backend, clock)
        frame = client.fetch_frame(
            "Artikel", skip=skip, limit=limit, page_size=page_size, workers=workers,
            consistent=consistent,
        )  # fmt: skip
        assert list(range(1, n + 1))[skip:][:limit] == (numbers(frame) if len(frame) else [])
        assert sorted(backend.opened) == sorted(backend.released)

    @pytest.mark.parametrize("workers", [2, 3, 8])
    def test_workers_same_frame(self, client: LegacyClient, workers: int):
        """Parallel pages give the same frame, in the same order, as sequential ones."""
        sequential = client.fetch_frame("Artikel", page_size=9)
        parallel = client.fetch_frame("Artikel", page_size=9, workers=workers)
        pd.testing.assert_frame_equal(sequential, parallel)

    def test_workers_run_in_threads_with_context(
        self, client: LegacyClient, backend: FaultyBackend
    ):
        """Worker threads see the caller's structlog contextvars."""
        with structlog.contextvars.bound_contextvars(request_id="req-42"):
            client.fetch_frame("Artikel", page_size=10, workers=3)
        assert 24 == len(backend.contexts)
        assert all({"request_id": "req-42"} == c for c in backend.contexts)

    def test_filter_and_projection(self, client: LegacyClient):
        """A filter object and fields select rows and columns; managed columns stay first."""
        frame = client.fetch_frame(
            "Artikel", where=(field("Nummer") >= 10) & (field("Nummer") < 15), fields=["Name"]
        )
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "Name"] == list(frame.columns)
        assert ["Artikel 10", "Artikel 11", "Artikel 12", "Artikel 13", "Artikel 14"] == list(
            frame["Name"]
        )

    def test_dict_where_is_equalities(self, client: LegacyClient):
        """A dict means field == value for every item, combined with AND."""
        frame = client.fetch_frame("Artikel", where={"Nummer": 7, "Name": "Artikel 7"})
        assert [7] == numbers(frame)

    def test_plain_string_where_refused(self, client: LegacyClient, backend: FaultyBackend):
        """A plain str filter raises InvalidQuery pointing at Raw, before any request."""
        with pytest.raises(InvalidQuery, match=r"Raw\(\.\.\.\)"):
            client.fetch_frame("Artikel", where="Nummer = 1")  # type: ignore[arg-type]
        assert 0 == sum(backend.calls.values())

    def test_empty_result_keeps_requested_columns(self, client: LegacyClient):
        """No rows gives an empty frame whose columns are the requested fields."""
        frame = client.fetch_frame("Artikel", where={"Nummer": -1}, fields=["Name", "Preis"])
        assert frame.empty
        assert ["Name", "Preis"] == list(frame.columns)

    def test_order_by(self, client: LegacyClient):
        """order_by is passed through: descending order from the server."""
        frame = client.fetch_frame("Artikel", order_by="Nummer desc", limit=3)
        assert [250, 249, 248] == numbers(frame)

    def test_progress_reports_rows_and_total(self, client: LegacyClient):
        """The progress callback sees rows done and the total after every page, ending at total."""
        seen: list[tuple[int, int]] = []
        client.fetch_frame("Artikel", skip=10, progress=lambda d, t: seen.append((d, t)))
        assert (40, 240) == seen[0]
        assert (240, 240) == seen[-1]
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    def test_logs_start_and_done(self, client: LegacyClient):
        """One start and one done event carry the table, rows and pages."""
        with capture_logs() as logs:
            client.fetch_frame("Artikel", limit=100)
        events = [e for e in logs if e["event"].startswith("legacy_api.fetch")]
        assert ["legacy_api.fetch.start", "legacy_api.fetch.done"] == [e["event"] for e in events]
        done = events[1]
        assert (100, 3, "Artikel", "live") == (
            done["rows"],
            done["pages"],
            done["table"],
            done["environment"],
        )
        assert done["elapsed"] >= 0

    def test_unknown_table(self, client: LegacyClient):
        """An unknown table raises UnknownTable (a LookupError)."""
        with pytest.raises(UnknownTable):
            client.fetch_frame("Nope")

    @pytest.mark.parametrize("bad", [{"page_size": 0}, {"workers": 0}, {"skip": -1}, {"limit": -2}])
    def test_bad_arguments(self, client: LegacyClient, bad: dict[str, int]):
        """Non-positive page sizes and workers and negative windows fail before I/O."""
        with pytest.raises(InvalidQuery):
            client.fetch_frame("Artikel", **bad)

    def test_unknown_environment(self, client: LegacyClient):
        """A call naming an environment that is not configured raises ConfigurationError."""
        with pytest.raises(ConfigurationError, match="unknown environment 'prod'"):
            client.fetch_frame("Artikel", environment="prod")

    def test_inconsistent_read_uses_no_snapshot(self, client: LegacyClient, backend: FaultyBackend):
        """consistent=False pages the live selection without an entity set."""
        frame = client.fetch_frame("Artikel", consistent=False)
        assert 250 == len(frame)
        assert 0 == backend.calls["open_snapshot"]

    @pytest.mark.parametrize("workers", [1, 3])
    def test_server_sending_short_pages(
        self, backend: FaultyBackend, workers: int, clock: ManualClock
    ):
        """A server that caps pages below page_size is asked again for the rest of each window."""
        backend.page_cap = 15
        client = make_client(backend, clock)
        frame = client.fetch_frame("Artikel", workers=workers, skip=3, limit=200)
        assert list(range(4, 204)) == numbers(frame)

    def test_small_limit_needs_no_snapshot(self, client: LegacyClient, backend: FaultyBackend):
        """A limit that fits one page is one plain request."""
        client.fetch_frame("Artikel", limit=40)
        assert (0, 1) == (backend.calls["open_snapshot"], backend.calls["read_page"])


class TestGcPause:
    """fetch_frame pauses the cyclic GC while it assembles a frame, and restores it."""

    def observe(self, backend: FaultyBackend) -> list[bool]:
        """Record gc.isenabled() at every read."""
        seen: list[bool] = []
        backend.read_faults[:] = [lambda _q: seen.append(gc.isenabled())] * 20
        return seen

    def test_paused_during_and_restored_after(self, client: LegacyClient, backend: FaultyBackend):
        """Reads run with the collector off; it is on again afterwards."""
        seen = self.observe(backend)
        client.fetch_frame("Artikel")
        assert {False} == set(seen)
        assert gc.isenabled()

    def test_restored_after_error(self, client: LegacyClient, backend: FaultyBackend):
        """An error mid-read still switches the collector back on."""
        backend.read_faults[:] = [None, ServerError("boom")]
        with pytest.raises(ServerError):
            client.fetch_frame("Artikel")
        assert gc.isenabled()

    def test_left_off_when_it_was_off(self, client: LegacyClient):
        """A collector the application switched off stays off."""
        gc.disable()
        try:
            client.fetch_frame("Artikel")
            assert not gc.isenabled()
        finally:
            gc.enable()

    def test_opt_out(self, backend: FaultyBackend, clock: ManualClock):
        """pause_gc=False leaves the collector alone."""
        seen = self.observe(backend)
        make_client(backend, clock, pause_gc=False).fetch_frame("Artikel")
        assert {True} == set(seen)


class TestSnapshots:
    """Multi-page reads use one snapshot, release it, and rebuild it when it expires."""

    def test_released_after_read(self, client: LegacyClient, backend: FaultyBackend):
        """The snapshot opened for a read is released once the read ends."""
        client.fetch_frame("Artikel")
        assert 1 == len(backend.opened)
        assert backend.opened == backend.released

    def test_released_on_error(self, client: LegacyClient, backend: FaultyBackend):
        """A non-retryable error mid-read still releases the snapshot, and propagates."""
        backend.read_faults[:] = [None, ServerError("boom", environment="live")]
        with pytest.raises(ServerError):
            client.fetch_frame("Artikel")
        assert 1 == len(backend.opened)
        assert backend.opened == backend.released

    def test_released_when_iteration_abandoned(self, client: LegacyClient, backend: FaultyBackend):
        """Closing a page iterator early releases its snapshot."""
        pages = client.iter_pages("Artikel", workers=2)
        next(pages)
        pages.close()
        assert backend.opened == backend.released

    def test_rows_of_the_snapshot_not_later_inserts(
        self, client: LegacyClient, backend: FaultyBackend
    ):
        """Rows created after the snapshot was taken are not part of the read."""
        backend.read_faults[:] = [None, insert_rows(backend, 1000, 30)]
        frame = client.fetch_frame("Artikel")
        assert list(range(1, 251)) == numbers(frame)

    def test_frame_rebuilt_from_new_snapshot(
        self, client: LegacyClient, backend: FaultyBackend, clock: ManualClock
    ):
        """An expired snapshot restarts the frame from a new one: no duplicates, no gaps."""
        backend.read_faults[:] = [
            None,
            None,
            None,
            insert_rows(backend, 1000, 5),
            expire_all(backend, clock),
        ]
        with capture_logs() as logs:
            frame = client.fetch_frame("Artikel", page_size=50)
        assert [*range(1, 251), *range(1000, 1005)] == numbers(frame)
        assert 2 == len(backend.opened)
        assert ["legacy_api.snapshot.rebuild"] == [
            e["event"] for e in logs if "rebuild" in e["event"]
        ]

    @pytest.mark.parametrize("workers", [1, 3])
    def test_stream_rebuild_skips_yielded_keys(
        self, client: LegacyClient, backend: FaultyBackend, clock: ManualClock, workers: int
    ):
        """Streaming readers yield each key of the new snapshot once, none twice."""
        backend.read_faults[:] = [
            None,
            None,
            insert_rows(backend, 1000, 3),
            expire_all(backend, clock),
        ]
        keys = [
            int(r["Nummer"]) for r in client.iter_records("Artikel", page_size=30, workers=workers)
        ]
        assert len(keys) == len(set(keys))
        assert {*range(1, 251), 1000, 1001, 1002} == set(keys)

    def test_repeated_expiry_gives_up(
        self, client: LegacyClient, backend: FaultyBackend, clock: ManualClock
    ):
        """A snapshot that keeps expiring raises EntitySetExpired after three rebuilds."""
        backend.read_faults[:] = [expire_all(backend, clock) if i % 2 else None for i in range(20)]
        with pytest.raises(EntitySetExpired):
            client.fetch_frame("Artikel")
        assert 4 == len(backend.opened)


class TestResilience:
    """Retries and the breaker wrap every request."""

    def test_transient_read_errors_retried(
        self, client: LegacyClient, backend: FaultyBackend, clock: ManualClock
    ):
        """A 503 and a reset mid-read are retried with backoff and the frame is complete."""
        backend.read_faults[:] = [None, ServerBusy("busy"), ServerUnavailable("reset")]
        frame = client.fetch_frame("Artikel")
        assert list(range(1, 251)) == numbers(frame)
        assert 2 == len(clock.sleeps)

    def test_retries_give_up(self, client: LegacyClient, backend: FaultyBackend):
        """After the policy's attempts the last error propagates."""
        backend.read_faults[:] = [ServerBusy("busy")] * 4
        with pytest.raises(ServerBusy):
            client.count("Artikel")
        assert 4 == backend.calls["read_page"]

    def test_write_not_retried_when_maybe_applied(
        self, client: LegacyClient, backend: FaultyBackend
    ):
        """A write that failed after it may have reached the server is not repeated."""
        backend.write_faults[:] = [ServerUnavailable("reset mid-request")]
        with pytest.raises(ServerUnavailable):
            client.push_field("Artikel", 1, "Name", "neu")
        assert 1 == backend.calls["write"]
        assert "Artikel 1" == client.get_record("Artikel", "1")["Name"]

    def test_write_retried_when_not_applied(self, client: LegacyClient, backend: FaultyBackend):
        """A write refused before sending (not_applied) is retried and succeeds."""
        backend.write_faults[:] = [ServerUnavailable("connection refused", not_applied=True)]
        result = client.push_field("Artikel", 1, "Name", "neu")
        assert (2, 2) == (backend.calls["write"], result.stamp)

    def test_breaker_opens(self, backend: FaultyBackend, clock: ManualClock):
        """After the failure threshold the breaker fails fast without a request."""
        client = make_client(backend, clock, retry=RetryPolicy(attempts=1, clock=clock))
        backend.read_faults[:] = [ServerUnavailable("refused")] * 5
        for _ in range(5):
            with pytest.raises(ServerUnavailable):
                client.count("Artikel")
        with pytest.raises(CircuitOpen):
            client.count("Artikel")
        assert 5 == backend.calls["read_page"]
        assert "open" == client.health()["live"]["breaker"]

    def test_licence_exhausted_opens_breaker(self, client: LegacyClient, backend: FaultyBackend):
        """A 402 with the provider's backoff is not retried and opens the breaker for as long."""
        backend.read_faults[:] = [LicenceExhausted("no licence", status=402, retry_after=30.0)]
        with pytest.raises(LicenceExhausted):
            client.count("Artikel")
        with pytest.raises(CircuitOpen) as caught:
            client.count("Artikel")
        assert 1 == backend.calls["read_page"]
        assert caught.value.retry_after is not None
        assert 29.0 <= caught.value.retry_after <= 30.0

    def test_licence_exhausted_without_backoff_keeps_breaker_closed(
        self, client: LegacyClient, backend: FaultyBackend
    ):
        """A 402 that no shared backoff stands behind opens no breaker of its own (ADR 0013)."""
        backend.read_faults[:] = [LicenceExhausted("no licence", status=402)]
        with pytest.raises(LicenceExhausted):
            client.count("Artikel")
        client.count("Artikel")  # answered: no breaker stands in the way
        assert 2 == backend.calls["read_page"]

    def test_caller_mistakes_do_not_open_breaker(
        self, client: LegacyClient, backend: FaultyBackend
    ):
        """Not-found errors prove the server answers: the breaker stays closed."""
        for _ in range(8):
            with pytest.raises(RecordNotFound):
                client.get_record("Artikel", "99999")
        assert "closed" == client.health()["live"]["breaker"]


class TestWrites:
    """push_field and update_many."""

    def test_push_field(self, client: LegacyClient):
        """One field is written and read back with a new stamp."""
        result = client.push_field("Artikel", "3", "Name", "Neu")
        assert 2 == result.stamp
        assert "Neu" == client.get_record("Artikel", 3)["Name"]

    def test_push_field_stale_stamp(self, client: LegacyClient):
        """A stale expected stamp raises StampConflict with the current values."""
        with pytest.raises(StampConflict) as info:
            client.push_field("Artikel", "3", "Name", "Neu", expected_stamp=7)
        assert 1 == info.value.current_stamp

    def test_update_many_batches_by_size(self, backend: FaultyBackend, clock: ManualClock):
        """Updates are batched under the request size; results come back in input order."""
        backend.max_request_size = 4096
        client = make_client(backend, clock)
        updates = [FieldUpdate("Artikel", str(i), {"Name": f"x{i:04d}" * 4}) for i in range(1, 201)]
        results = client.update_many(updates)
        assert [str(i) for i in range(1, 201)] == [r.key for r in results]
        assert 200 == sum(backend.write_sizes)
        assert 1 < backend.calls["write"] < 20
        assert "x0200" * 4 == client.get_record("Artikel", "200")["Name"]

    def test_update_many_batch_size(self, client: LegacyClient, backend: FaultyBackend):
        """batch_size caps the updates per request."""
        client.update_many(
            [{"table": "Artikel", "key": i, "field": "Preis", "value": 1.5} for i in range(1, 26)],
            batch_size=10,
        )
        assert [10, 10, 5] == backend.write_sizes

    def test_update_many_groups_tables(self, client: LegacyClient, backend: FaultyBackend):
        """Updates of two tables become one request per table, results in input order."""
        backend.inner.add_table(
            "live", MemoryTable("Kunde", {"Name": "string"}, [{"__KEY": "K1", "Name": "a"}])
        )
        results = client.update_many(
            [
                {"table": "Artikel", "key": 1, "values": {"Preis": 2.0}},
                {"table": "Kunde", "key": "K1", "values": {"Name": "b"}},
                {"table": "Artikel", "key": 2, "values": {"Preis": 3.0}, "environment": "live"},
            ]
        )
        assert [("Artikel", "1"), ("Kunde", "K1"), ("Artikel", "2")] == [
            (r.table, r.key) for r in results
        ]
        assert [2, 1] == backend.write_sizes

    def test_atomic_too_big_refused_before_sending(
        self, backend: FaultyBackend, clock: ManualClock
    ):
        """An atomic update that needs more than one request is refused up front."""
        backend.max_request_size = 2048
        client = make_client(backend, clock)
        updates = [FieldUpdate("Artikel", str(i), {"Name": "y" * 50}) for i in range(1, 101)]
        with pytest.raises(InvalidQuery, match="atomic"):
            client.update_many(updates, atomic=True)
        assert 0 == backend.calls["write"]

    def test_atomic_all_or_nothing(self, client: LegacyClient):
        """An atomic batch with a stale stamp applies nothing."""
        with pytest.raises(StampConflict):
            client.update_many(
                [
                    FieldUpdate("Artikel", "1", {"Name": "a"}),
                    FieldUpdate("Artikel", "2", {"Name": "b"}, expected_stamp=9),
                ],
                atomic=True,
            )
        assert "Artikel 1" == client.get_record("Artikel", "1")["Name"]

    def test_bad_update_mapping(self, client: LegacyClient):
        """A mapping without a table or key is refused with the missing name."""
        with pytest.raises(InvalidQuery, match="'key'"):
            client.update_many([{"table": "Artikel", "field": "Name", "value": 1}])


class TestSmallReads:
    """get_record, count, tables and health."""

    def test_get_record(self, client: LegacyClient):
        """An int key is accepted and sent as the 4D string key."""
        assert 42 == client.get_record("Artikel", 42)["Nummer"]

    def test_count(self, client: LegacyClient):
        """count is the size of the selection."""
        assert 10 == client.count("Artikel", field("Nummer") <= 10)

    def test_tables(self, client: LegacyClient):
        """tables lists the environment's tables."""
        assert ["Artikel"] == client.tables()

    def test_health_reports_each_environment(self, client: LegacyClient, backend: FaultyBackend):
        """health probes each environment and reports errors instead of raising."""
        backend.read_faults[:] = [None, ServerUnavailable("refused", environment="test")]
        report = client.health()
        assert {"live", "test"} == set(report)
        assert (True, None, "closed") == (
            report["live"]["ok"],
            report["live"]["error"],
            report["live"]["breaker"],
        )
        assert report["test"]["ok"] is False
        assert report["test"]["error"].startswith("ServerUnavailable: refused")

    def test_default_environment_must_be_configured(self, backend: FaultyBackend):
        """A default environment outside the configured ones is a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            LegacyClient(backend, backend, ["test"], default_environment="live")

    def test_thread_safe_breaker_creation(self, client: LegacyClient):
        """Concurrent first calls share one breaker per environment."""
        seen: list[object] = []
        threads = [
            threading.Thread(target=lambda: seen.append(client.breaker("live"))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 1 == len({id(b) for b in seen})
