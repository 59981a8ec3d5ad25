"""The read cache over real HTTP to the emulator: hits, equal results, bypass, invalidation."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from structlog.testing import capture_logs
from tests.cache.conftest import TABLE, table_reads

from fourd_emulator import EmulatorServer
from legacy_adapters.stores import MemorySessionStore, RedisSessionStore
from legacy_adapters.testing import private_redis_server
from legacy_api import LegacyClient, build_async_client, build_client
from legacy_core.cache import ReadCache, StoreCache
from legacy_core.clock import ManualClock
from legacy_core.errors import InvalidQuery
from legacy_core.ports import SessionStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def make_client(
    emulator: EmulatorServer,
    store: SessionStore | None = None,
    *,
    clock: Any = None,
    **config: Any,
) -> LegacyClient:
    """A client of the emulator caching TABLE for an hour (memory sessions unless told)."""
    options: dict[str, Any] = {
        "environments": {"live": emulator.base_url},
        "session_store": "memory",
        "cache": {TABLE: 3600},
        "page_size": 7,
        **config,
    }
    return build_client(options, store=store or MemorySessionStore(), clock=clock)


def requests_for(emulator: EmulatorServer, read: Callable[[], Any]) -> tuple[Any, int]:
    """``read()``'s result and how many requests the emulator answered meanwhile."""
    before = emulator.stats()["requests_total"]
    result = read()
    return result, emulator.stats()["requests_total"] - before


class TestHits:
    """A second identical read comes from the cache: no request reaches 4D."""

    def test_second_frame_is_a_hit(self, emulator: EmulatorServer) -> None:
        """The first fetch_frame asks 4D, the second makes zero requests and equals it."""
        client = make_client(emulator)
        first, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0
        with capture_logs() as logs:
            second, again = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert 0 == again
        pd.testing.assert_frame_equal(first, second)
        assert any(e["event"] == "legacy_api.cache.hit" and e["table"] == TABLE for e in logs)

    def test_other_tables_are_not_cached(self, emulator: EmulatorServer) -> None:
        """A table not opted in is read from 4D every time."""
        client = make_client(emulator)
        client.fetch_frame("Artikel_Stamm")
        _, again = requests_for(emulator, lambda: client.fetch_frame("Artikel_Stamm"))
        assert again > 0

    def test_each_query_is_its_own_entry(self, emulator: EmulatorServer) -> None:
        """Different filters, fields, limits and raw/typed are cached apart, each one a hit."""
        client = make_client(emulator)
        nummer = int(client.fetch_frame(TABLE, cache=False)["Nummer"].iloc[2])
        reads: list[Callable[[], Any]] = [
            lambda: client.fetch_frame(TABLE),
            lambda: client.fetch_frame(TABLE, where={"Nummer": nummer}),
            lambda: client.fetch_frame(TABLE, fields=["Nummer", "Bezeichnung"]),
            lambda: client.fetch_frame(TABLE, order_by="-Nummer", limit=5),
            lambda: client.fetch_frame(TABLE, skip=3),
            lambda: client.fetch_frame(TABLE, raw=True),
        ]
        firsts = [requests_for(emulator, r) for r in reads]
        assert all(sent > 0 for _, sent in firsts)
        seconds = [requests_for(emulator, r) for r in reads]
        assert [0] * len(reads) == [sent for _, sent in seconds]
        for (a, _), (b, _) in zip(firsts, seconds, strict=True):
            pd.testing.assert_frame_equal(a, b)
        assert 1 == len(firsts[1][0])
        assert 5 == len(firsts[3][0])

    def test_threads_missing_at_once_fetch_once(self, emulator: EmulatorServer) -> None:
        """Eight threads of one process missing together make one fetch between them."""
        client = make_client(emulator)
        client.count("Artikel_Stamm")  # log in first: only the cached read is counted below
        baseline_client = make_client(emulator, cache={})
        before = table_reads(emulator)
        baseline_client.fetch_frame(TABLE)
        one_fetch = table_reads(emulator) - before
        emulator.set_faults(latency_ms=150)
        start = threading.Barrier(8)
        frames: list[pd.DataFrame] = []

        def read() -> None:
            start.wait()
            frames.append(client.fetch_frame(TABLE))

        before = table_reads(emulator)
        threads = [threading.Thread(target=read) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 8 == len(frames)
        assert one_fetch == table_reads(emulator) - before
        for frame in frames[1:]:
            pd.testing.assert_frame_equal(frames[0], frame)


class TestSameValues:
    """What a hit gives equals what an uncached read gives, on every read path."""

    @pytest.mark.parametrize("table", [TABLE, "Artikel_Variante", "Artikel_Stamm"])
    @pytest.mark.parametrize("raw", [False, True])
    def test_frames_records_pages_equal(
        self, emulator: EmulatorServer, table: str, *, raw: bool
    ) -> None:
        """Frames, records and pages from a hit equal the uncached ones (dates, objects)."""
        client = make_client(emulator, cache={table: 3600})
        direct_frame = client.fetch_frame(table, raw=raw, cache=False)
        direct_records = list(client.iter_records(table, raw=raw, cache=False))
        client.fetch_frame(table, raw=raw)  # the miss: stored
        client.iter_records(table, raw=raw)  # a generator: nothing is read until iterated
        list(client.iter_records(table, raw=raw))
        hit_frame, sent = requests_for(emulator, lambda: client.fetch_frame(table, raw=raw))
        hit_records, sent_records = requests_for(
            emulator, lambda: list(client.iter_records(table, raw=raw))
        )
        pages = list(client.iter_pages(table, raw=raw))
        assert (0, 0) == (sent, sent_records)
        pd.testing.assert_frame_equal(direct_frame, hit_frame)
        assert direct_records == hit_records
        assert [type(v) for v in direct_records[0].values()] == [
            type(v) for v in hit_records[0].values()
        ]
        assert direct_records == [r for p in pages for r in p.records]
        assert all(len(p.records) <= 7 for p in pages)
        assert {len(direct_records)} == {p.count for p in pages}

    def test_get_record_and_count(self, emulator: EmulatorServer) -> None:
        """get_record and count are cached too and equal the uncached answers."""
        client = make_client(emulator)
        key, nummer = next(
            (r["__KEY"], r["Nummer"]) for r in client.iter_records(TABLE, cache=False)
        )
        record = client.get_record(TABLE, key, cache=False)
        total = client.count(TABLE, cache=False)
        client.get_record(TABLE, key)
        client.count(TABLE, {"Nummer": nummer})
        client.count(TABLE)
        (hit_record, hit_count, hit_filtered), sent = requests_for(
            emulator,
            lambda: (
                client.get_record(TABLE, key),
                client.count(TABLE),
                client.count(TABLE, {"Nummer": nummer}),
            ),
        )
        assert 0 == sent
        assert record == hit_record
        assert (total, 1) == (hit_count, hit_filtered)

    @pytest.mark.parametrize("table", [TABLE, "Artikel_Variante", "Artikel_Stamm"])
    def test_arrow_paths_equal(self, emulator: EmulatorServer, table: str) -> None:
        """fetch_arrow, Arrow-backed frames and iter_batches from a hit equal uncached ones."""
        pa = pytest.importorskip("pyarrow")
        client = make_client(emulator, cache={table: 3600})
        direct = client.fetch_arrow(table, cache=False)
        direct_frame = client.fetch_frame(table, dtype_backend="pyarrow", cache=False)
        client.fetch_arrow(table)
        hit, sent = requests_for(emulator, lambda: client.fetch_arrow(table))
        hit_frame = client.fetch_frame(table, dtype_backend="pyarrow")
        batches, sent_batches = requests_for(emulator, lambda: list(client.iter_batches(table)))
        assert (0, 0) == (sent, sent_batches)
        assert direct.schema == hit.schema
        assert direct.equals(hit)
        pd.testing.assert_frame_equal(direct_frame, hit_frame)
        assert direct.equals(pa.Table.from_batches(batches).select(direct.column_names))


class TestBypassAndRefresh:
    """``cache=False`` goes to 4D and stores nothing; ``cache="refresh"`` re-reads and stores."""

    def test_bypass(self, emulator: EmulatorServer) -> None:
        """Bypassed reads always ask 4D, are logged, and leave no entry behind."""
        client = make_client(emulator)
        with capture_logs() as logs:
            client.fetch_frame(TABLE, cache=False)
        assert any(e["event"] == "legacy_api.cache.bypass" for e in logs)
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE, cache=False))
        assert sent > 0
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0  # the bypasses stored nothing: this was a miss

    def test_refresh_sees_another_clients_write(self, emulator: EmulatorServer) -> None:
        """A write by another client is only seen after refresh (or the TTL), then cached."""
        client = make_client(emulator)
        other = make_client(emulator, cache={})  # another 4D client: no invalidation
        first = client.fetch_frame(TABLE)
        key = first["__KEY"].iloc[0]
        other.push_field(TABLE, key, "Bezeichnung", "Von anderswo")
        stale = client.fetch_frame(TABLE)
        assert first["Bezeichnung"].iloc[0] == stale["Bezeichnung"].iloc[0]
        fresh, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE, cache="refresh"))
        assert sent > 0
        assert "Von anderswo" == fresh["Bezeichnung"].iloc[0]
        after, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert 0 == sent
        assert "Von anderswo" == after["Bezeichnung"].iloc[0]

    def test_bad_cache_argument(self, emulator: EmulatorServer) -> None:
        """``cache="yes"`` is an InvalidQuery naming the table, before any request."""
        client = make_client(emulator)
        with pytest.raises(InvalidQuery, match="cache must be") as info:
            client.fetch_frame(TABLE, cache="yes")  # type: ignore[arg-type]
        assert TABLE == info.value.table


def _push(client: LegacyClient, key: str) -> None:
    client.push_field(TABLE, key, "Bezeichnung", "Geändert")


def _update(client: LegacyClient, key: str) -> None:
    client.update_many([{"table": TABLE, "key": key, "field": "Bezeichnung", "value": "Geändert"}])


def _create(client: LegacyClient, _key: str) -> None:
    client.create(TABLE, {"Bezeichnung": "Geändert", "Nummer": 990001})


def _create_many(client: LegacyClient, _key: str) -> None:
    client.create_many(TABLE, [{"Bezeichnung": "Geändert", "Nummer": 990002 + i} for i in range(2)])


def _delete(client: LegacyClient, key: str) -> None:
    client.delete(TABLE, key)


WRITES = {
    "push_field": (_push, 0),
    "update_many": (_update, 0),
    "create": (_create, 1),
    "create_many": (_create_many, 2),
    "delete": (_delete, -1),
}


class TestInvalidation:
    """The client's own writes to a cached table make the next read fetch again."""

    @pytest.mark.parametrize("verb", sorted(WRITES))
    def test_write_invalidates(self, emulator: EmulatorServer, verb: str) -> None:
        """After push_field/update_many/create/create_many/delete the read sees the change."""
        write, rows_added = WRITES[verb]
        client = make_client(emulator)
        before = client.fetch_frame(TABLE)
        client.count(TABLE)
        key = str(before["__KEY"].iloc[0])
        with capture_logs() as logs:
            write(client, key)
        assert any(e["event"] == "legacy_api.cache.invalidated" for e in logs)
        after, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0
        assert len(before) + rows_added == len(after)
        assert len(after) == client.count(TABLE)
        if verb == "delete":
            assert key not in set(after["__KEY"])
        else:
            assert "Geändert" in set(after["Bezeichnung"])

    def test_write_to_another_table_keeps_entries(self, emulator: EmulatorServer) -> None:
        """A write to a table that is not cached leaves the cached table's entries alone."""
        client = make_client(emulator)
        client.fetch_frame(TABLE)
        key = next(client.iter_records("Artikel_Stamm"))["__KEY"]
        client.push_field("Artikel_Stamm", key, "Bezeichnung", "Anders")
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert 0 == sent

    def test_failed_write_still_invalidates(self, emulator: EmulatorServer) -> None:
        """A write that failed (a stamp conflict) still invalidates: 4D may have changed."""
        client = make_client(emulator)
        frame = client.fetch_frame(TABLE)
        key = str(frame["__KEY"].iloc[0])
        with pytest.raises(Exception, match=r"(?i)stamp"):
            client.push_field(TABLE, key, "Bezeichnung", "x", expected_stamp=999_999)
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0


class TestExpiry:
    """Entries live for their table's TTL from the configuration."""

    def test_ttl(self, emulator: EmulatorServer) -> None:
        """A hit until the TTL runs out (manual clock), then a miss that stores it anew."""
        clock = ManualClock()
        store = MemorySessionStore(clock=clock)
        client = make_client(emulator, store, clock=clock, cache={TABLE: 60})
        client.fetch_frame(TABLE)
        clock.advance(59)
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert 0 == sent
        clock.advance(2)
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert 0 == sent


class TestDegrading:
    """A cache that cannot help never fails a read."""

    def test_stopped_redis_degrades_to_direct_reads(self, emulator: EmulatorServer) -> None:
        """With its Redis stopped, reads and writes still work (warnings logged), from 4D."""
        if os.environ.get("REDIS_URL"):
            pytest.skip("a shared REDIS_URL server is not stopped by the test")
        with private_redis_server() as url:
            client = make_client(emulator, cache={})
            client.read_cache = ReadCache(StoreCache(RedisSessionStore(url)), {"live": {TABLE: 60}})
            first = client.fetch_frame(TABLE)
            _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
            assert 0 == sent
        with capture_logs() as logs:
            again, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
            client.push_field(TABLE, str(first["__KEY"].iloc[0]), "Bezeichnung", "Trotzdem")
        assert sent > 0
        pd.testing.assert_frame_equal(first, again)
        events = {e["event"] for e in logs}
        assert {"legacy_api.cache.store_failed", "legacy_api.cache.invalidate_failed"} <= events
        assert all("redis://" not in str(e) for e in logs)

    def test_too_big_is_not_stored(self, emulator: EmulatorServer) -> None:
        """A result over cache_max_bytes is read from 4D each time and logged as refused."""
        client = make_client(emulator, cache_max_bytes=3000)  # one row fits, ten do not
        with capture_logs() as logs:
            client.fetch_frame(TABLE)
        refused = [e for e in logs if e["event"] == "legacy_api.cache.refused"]
        assert refused
        assert "too big" == refused[0]["reason"]
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0
        small, _ = requests_for(emulator, lambda: client.fetch_frame(TABLE, limit=1))
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE, limit=1))
        assert (1, 0) == (len(small), sent)

    def test_slow_fetch_waiter_reads_directly(self, emulator: EmulatorServer) -> None:
        """A miss waiting longer than cache_wait for another's fetch reads 4D itself."""
        store = MemorySessionStore()
        slow = make_client(emulator, store, cache_wait=0.05)
        quick = make_client(emulator, store, cache_wait=0.05)
        slow.count("Artikel_Stamm")
        quick.count("Artikel_Stamm")
        emulator.set_faults(latency_ms=400)
        frames: list[pd.DataFrame] = []
        holder = threading.Thread(target=lambda: frames.append(slow.fetch_frame(TABLE)))
        holder.start()
        with capture_logs() as logs:
            threading.Event().wait(0.2)  # the holder has claimed the fetch by now
            frames.append(quick.fetch_frame(TABLE))
        holder.join()
        assert any(e["event"] == "legacy_api.cache.wait_exceeded" for e in logs)
        pd.testing.assert_frame_equal(frames[0], frames[1])


class TestAsync:
    """The async client runs the same cached steps and shares the store with sync clients."""

    def test_async_hits_and_invalidates(self, emulator: EmulatorServer) -> None:
        """A sync miss is an async hit; an async write makes the next sync read fetch again."""
        store = MemorySessionStore()
        sync = make_client(emulator, store)
        first = sync.fetch_frame(TABLE)
        key = str(first["__KEY"].iloc[0])

        async def main() -> tuple[pd.DataFrame, int, list[Any]]:
            config = {
                "environments": {"live": emulator.base_url},
                "session_store": "memory",
                "cache": {TABLE: 3600},
                "page_size": 7,
            }
            async with build_async_client(config, store=store) as client:
                before = emulator.stats()["requests_total"]
                frame = await client.fetch_frame(TABLE)
                records = [r async for r in client.iter_records(TABLE)]
                sent = emulator.stats()["requests_total"] - before
                await client.push_field(TABLE, key, "Bezeichnung", "Asynchron")
                return frame, sent, records

        frame, sent, records = asyncio.run(main())
        assert 0 == sent
        pd.testing.assert_frame_equal(first, frame)
        assert len(first) == len(records)
        after, sent = requests_for(emulator, lambda: sync.fetch_frame(TABLE))
        assert sent > 0
        assert "Asynchron" in set(after["Bezeichnung"])


class TestFileStore:
    """The file store (one host's processes) holds entries too."""

    def test_two_clients_share_entries(self, emulator: EmulatorServer, tmp_path: Path) -> None:
        """A second client on the same session directory hits the first one's entry."""
        options = {
            "environments": {"live": emulator.base_url},
            "session_store": "file",
            "session_dir": str(tmp_path / "s"),
            "cache": {TABLE: 60},
        }
        one = build_client(options)
        two = build_client(options)
        first = one.fetch_frame(TABLE)
        second, sent = requests_for(emulator, lambda: two.fetch_frame(TABLE))
        assert 0 == sent
        pd.testing.assert_frame_equal(first, second)


class TestAbandonedReads:
    """A miss whose consumer stops early stores nothing and frees its claim."""

    def test_sync_break(self, emulator: EmulatorServer) -> None:
        """Breaking out of iter_records on a miss: the next read fetches, without waiting."""
        client = make_client(emulator, cache_wait=5)
        for _record in client.iter_records(TABLE):
            break
        with capture_logs() as logs:
            records, sent = requests_for(emulator, lambda: list(client.iter_records(TABLE)))
        assert sent > 0
        assert not any(e["event"] == "legacy_api.cache.wait_exceeded" for e in logs)
        assert any(e["event"] == "legacy_api.cache.store" for e in logs)
        assert records == list(client.iter_records(TABLE, cache=False))

    def test_async_miss_break_and_hit(self, emulator: EmulatorServer) -> None:
        """Async: a broken-off miss stores nothing; a full miss stores; then a hit is free."""
        config = {
            "environments": {"live": emulator.base_url},
            "session_store": "memory",
            "cache": {TABLE: 3600},
            "page_size": 7,
        }

        async def main() -> tuple[list[int], list[Any], pd.DataFrame]:
            sent: list[int] = []
            async with build_async_client(config, store=MemorySessionStore()) as client:
                pages = client.iter_pages(TABLE)
                async for _page in pages:
                    break
                await pages.aclose()
                before = emulator.stats()["requests_total"]
                records = [r async for r in client.iter_records(TABLE)]
                sent.append(emulator.stats()["requests_total"] - before)
                before = emulator.stats()["requests_total"]
                frame = await client.fetch_frame(TABLE)
                sent.append(emulator.stats()["requests_total"] - before)
            return sent, records, frame

        sent, records, frame = asyncio.run(main())
        assert sent[0] > 0
        assert 0 == sent[1]
        assert len(records) == len(frame)
        direct = make_client(emulator, cache={}).fetch_frame(TABLE)
        pd.testing.assert_frame_equal(direct, frame)


class TestRedisExpiry:
    """On Redis the server expires entries by their TTL (real time, a short TTL)."""

    def test_short_ttl(self, emulator: EmulatorServer, redis_url: str) -> None:
        """A hit within 0.4 s, a miss after the TTL has run out on the Redis server."""
        client = make_client(
            emulator,
            RedisSessionStore(redis_url),
            session_store="redis",
            redis_url=redis_url,
            cache={TABLE: 0.4},
        )
        client.fetch_frame(TABLE)
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert 0 == sent
        threading.Event().wait(0.6)
        _, sent = requests_for(emulator, lambda: client.fetch_frame(TABLE))
        assert sent > 0


class TestMetricsOverHttp:
    """legacy_api_cache_events_total counts what the client's reads did."""

    def test_hits_misses_bypasses(self, emulator: EmulatorServer) -> None:
        """One miss, two hits, one bypass and one invalidation, counted per table."""
        prometheus = pytest.importorskip("prometheus_client")  # the metrics extra
        from legacy_adapters.observe._metrics import PrometheusInstrumentation  # noqa: PLC0415
        from legacy_core import instrument  # noqa: PLC0415

        made = PrometheusInstrumentation.create(
            prometheus.CollectorRegistry(), add_to_default=False
        )
        client = make_client(emulator)
        instrument.install(made)
        try:
            frame = client.fetch_frame(TABLE)
            client.fetch_frame(TABLE)
            list(client.iter_records(TABLE))
            client.fetch_frame(TABLE, cache=False)
            client.push_field(TABLE, str(frame["__KEY"].iloc[0]), "Bezeichnung", "Gezählt")
        finally:
            instrument.uninstall(made)

        def count(event: str) -> float | None:
            labels = {"environment": "live", "table": TABLE, "event": event}
            return made.registry.get_sample_value("legacy_api_cache_events_total", labels)

        assert (1.0, 2.0, 1.0, 1.0, 1.0) == (
            count("misses"),
            count("hits"),
            count("stored"),
            count("bypassed"),
            count("invalidations"),
        )


class TestTypedTables:
    """``client.table(...)`` reads share the cache; expanded reads go to 4D."""

    def test_table_reads_are_hits(self, emulator: EmulatorServer) -> None:
        """A second ``table(...).iter()`` of a cached table sends nothing and equals the first."""
        client = make_client(emulator)
        table = client.table(TABLE)
        first, sent = requests_for(emulator, lambda: list(table.iter()))
        assert sent > 0
        second, again = requests_for(emulator, lambda: list(table.iter()))
        assert 0 == again
        assert first == second

    def test_a_table_write_invalidates(self, emulator: EmulatorServer) -> None:
        """``table(...).update`` bumps the generation: the next read asks 4D and sees it."""
        client = make_client(emulator)
        table = client.table(TABLE)
        row = table.query().first()
        assert row is not None
        table.update(row["__KEY"], {"Bezeichnung": "nach dem Cache"})
        rows, sent = requests_for(emulator, lambda: list(table.iter()))
        assert sent > 0
        assert {"nach dem Cache"} == {r["Bezeichnung"] for r in rows if r["__KEY"] == row["__KEY"]}

    def test_expanded_reads_are_not_cached(self, emulator: EmulatorServer) -> None:
        """An expanded read holds another table's rows: it is read from 4D every time."""
        client = make_client(emulator, cache={"Artikel_Variante": 3600})
        query = client.table("Artikel_Variante").query().expand("ArtikelFamilie").limit(5)
        list(query.iter())
        _, again = requests_for(emulator, lambda: list(query.iter()))
        assert again > 0
