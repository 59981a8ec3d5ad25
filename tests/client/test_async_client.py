"""AsyncLegacyClient over real HTTP to the emulator: the sync client's verbs, awaited."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pandas as pd
import pytest

import legacy_api
from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import HttpRequest, HttpResponse, RequestsTransport
from legacy_adapters.stores import MemorySessionStore
from legacy_core.errors import ConfigurationError, PartialWrite, RecordNotFound, StampConflict
from legacy_core.model import FieldUpdate
from legacy_core.resilience import CircuitBreaker, RetryPolicy

pytestmark = pytest.mark.integration

ROWS = 1200
TABLE = "Artikel_Variante"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset between tests)."""
    with serve(EmulatorConfig(rows=ROWS)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator, reset to its seed data, sessions, counters and faults."""
    server.reset()
    return server


def config(server: EmulatorServer) -> dict[str, Any]:
    """The configuration both clients are built from."""
    return {"environments": {"live": server.base_url}, "session_store": "memory"}


def make_async(server: EmulatorServer, **kw: Any) -> legacy_api.AsyncLegacyClient:
    """An async client from the composition root, patient retries, a tolerant breaker."""
    kw.setdefault("retry", RetryPolicy(attempts=12, base=0.001, cap=0.005))
    kw.setdefault("breakers", lambda name: CircuitBreaker(name=name, failure_threshold=1000))
    return legacy_api.build_async_client(config(server), **kw)


@attrs.define
class CountingTransport:
    """A sync transport that counts the requests in flight at once (for the bound)."""

    inner: RequestsTransport = attrs.field(factory=lambda: RequestsTransport(pool_size=16))
    in_flight: int = 0
    peak: int = 0

    def send(self, request: HttpRequest) -> HttpResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return self.inner.send(request)
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        self.inner.close()


class TestReads:
    def test_frame_equals_the_sync_clients(self, emulator: EmulatorServer) -> None:
        """fetch_frame awaited gives the very frame the sync client gives, parallel pages too."""
        expected = legacy_api.build_client(config(emulator)).fetch_frame(TABLE, page_size=250)

        async def main() -> pd.DataFrame:
            async with make_async(emulator) as client:
                return await client.fetch_frame(TABLE, page_size=250, workers=4)

        got = asyncio.run(main())
        pd.testing.assert_frame_equal(expected, got)
        assert ROWS == len(got)

    def test_iterators_count_get_record_tables_and_health(self, emulator: EmulatorServer) -> None:
        """Every read verb exists and answers like the sync one."""

        async def main() -> dict[str, Any]:
            async with make_async(emulator) as client:
                pages = [p async for p in client.iter_pages(TABLE, page_size=500, raw=True)]
                records = [r async for r in client.iter_records(TABLE, limit=7, raw=True)]
                key = str(records[3]["__KEY"])
                return {
                    "sizes": [len(p.records) for p in pages],
                    "records": records,
                    "one": await client.get_record(TABLE, key, raw=True),
                    "count": await client.count(TABLE),
                    "tables": await client.tables(),
                    "health": await client.health(),
                }

        out = asyncio.run(main())
        assert [500, 500, 200] == out["sizes"]
        assert 7 == len(out["records"])
        assert out["records"][3]["__KEY"] == out["one"]["__KEY"]
        assert ROWS == out["count"]
        assert TABLE in out["tables"]
        assert out["health"]["live"]["ok"] is True
        assert 0 == emulator.stats()["active_entity_sets"]

    def test_unknown_record_is_a_typed_error(self, emulator: EmulatorServer) -> None:
        """A missing key raises RecordNotFound naming the environment and table."""

        async def main() -> None:
            async with make_async(emulator) as client:
                await client.get_record(TABLE, "NOPE")

        with pytest.raises(RecordNotFound) as caught:
            asyncio.run(main())
        assert ("live", TABLE, 404) == (
            caught.value.environment,
            caught.value.table,
            caught.value.status,
        )

    def test_concurrent_pages_are_bounded_by_workers(self, emulator: EmulatorServer) -> None:
        """With workers=3, never more than three page requests are in flight at once."""
        emulator.set_faults(latency_ms=20)
        counting = CountingTransport()

        async def main() -> int:
            async with make_async(emulator, transport=counting) as client:
                frame = await client.fetch_frame(TABLE, page_size=100, workers=3)
                return len(frame)

        assert ROWS == asyncio.run(main())
        assert 3 == counting.peak
        counting.close()


class TestSessions:
    def test_one_session_shared_with_a_sync_client(self, emulator: EmulatorServer) -> None:
        """Sync and async clients over one store use one 4D session (one licence)."""
        store = MemorySessionStore()
        sync = legacy_api.build_client(config(emulator), store=store)
        sync.count(TABLE)

        async def main() -> None:
            async with legacy_api.build_async_client(config(emulator), store=store) as client:
                await asyncio.gather(*(client.count(TABLE) for _ in range(8)))

        asyncio.run(main())
        stats = emulator.stats()
        assert (1, 1) == (stats["sessions_created"], stats["active_sessions"])

    def test_concurrent_first_requests_log_in_once(self, emulator: EmulatorServer) -> None:
        """Sixteen tasks starting together open one session between them."""

        async def main() -> None:
            async with make_async(emulator) as client:
                await asyncio.gather(*(client.count(TABLE) for _ in range(16)))

        asyncio.run(main())
        assert 1 == emulator.stats()["sessions_created"]

    def test_session_loss_under_concurrency(self, emulator: EmulatorServer) -> None:
        """After the server drops the session, sixteen concurrent reads end on one licence."""

        async def main() -> list[int]:
            async with make_async(emulator) as client:
                await client.count(TABLE)
                emulator.expire_sessions()
                return await asyncio.gather(*(client.count(TABLE) for _ in range(16)))

        assert [ROWS] * 16 == asyncio.run(main())
        stats = emulator.stats()
        # Only the requests already on the wire (one per pooled connection, 4) carry the
        # dead cookie; the others wait for a slot and go out with the recovered session.
        assert stats["sessions_created"] <= 1 + 4
        assert 1 == stats["active_sessions"]  # every extra session was logged out


class TestCancellation:
    def test_cancelled_read_releases_its_entity_set(self, emulator: EmulatorServer) -> None:
        """Cancelling a paged read mid-way leaves no entity set on the server."""
        emulator.set_faults(latency_ms=15)

        async def main() -> None:
            async with make_async(emulator) as client:
                task = asyncio.ensure_future(client.fetch_frame(TABLE, page_size=50, workers=2))
                while emulator.stats()["active_entity_sets"] == 0:
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.05)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(main())
        stats = emulator.stats()
        assert 1 == stats["entity_sets_created"]
        assert 0 == stats["active_entity_sets"]

    def test_leaving_an_iterator_early_releases_its_entity_set(
        self, emulator: EmulatorServer
    ) -> None:
        """``break`` inside ``aclosing(iter_pages(...))`` releases the snapshot."""

        async def main() -> int:
            async with make_async(emulator) as client:
                pages = client.iter_pages(TABLE, page_size=100, workers=3)
                async with contextlib.aclosing(pages):
                    async for page in pages:
                        return len(page.records)
            return 0

        assert 100 == asyncio.run(main())
        assert 0 == emulator.stats()["active_entity_sets"]

    def test_timeout_around_a_read_releases_too(self, emulator: EmulatorServer) -> None:
        """``asyncio.timeout`` cancelling a read raises TimeoutError and leaves no entity set."""
        emulator.set_faults(latency_ms=30)

        async def main() -> None:
            async with make_async(emulator) as client:
                async with asyncio.timeout(0.2):
                    await client.fetch_frame(TABLE, page_size=50)

        with pytest.raises(TimeoutError):
            asyncio.run(main())
        assert 0 == emulator.stats()["active_entity_sets"]

    def test_cancel_while_the_snapshot_opens_releases_it(self, emulator: EmulatorServer) -> None:
        """A cancel during the request that creates the entity set still releases that set."""

        async def main() -> None:
            async with make_async(emulator) as client:
                await client.count(TABLE)  # logged in: the cancel lands in the open itself
                emulator.set_faults(latency_ms=300)
                async with asyncio.timeout(0.05):
                    await client.fetch_frame(TABLE, page_size=50)

        with pytest.raises(TimeoutError):
            asyncio.run(main())
        deadline = time.monotonic() + 5  # a cut request is still being served: wait for it
        while emulator.stats()["entity_sets_created"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # and for a release that would follow it
        stats = emulator.stats()
        assert stats["entity_sets_created"] == 1
        assert stats["active_entity_sets"] == 0


class TestWrites:
    def test_push_field_and_stamp_conflict(self, emulator: EmulatorServer) -> None:
        """push_field saves; a stale stamp raises StampConflict with the current stamp."""

        async def main() -> tuple[int, int | None]:
            async with make_async(emulator) as client:
                record = (await client.fetch_frame(TABLE, limit=1, raw=True)).iloc[0]
                key, stamp = str(record["__KEY"]), int(record["__STAMP"])
                saved = await client.push_field(
                    TABLE, key, "Bezeichnung", "async", expected_stamp=stamp
                )
                with pytest.raises(StampConflict) as caught:
                    await client.push_field(TABLE, key, "Bezeichnung", "late", expected_stamp=stamp)
                again = await client.get_record(TABLE, key)
                assert "async" == again["Bezeichnung"]
                return saved.stamp, caught.value.current_stamp

        new_stamp, current = asyncio.run(main())
        assert new_stamp == current

    def test_update_many_reports_partial_writes(self, emulator: EmulatorServer) -> None:
        """One bad update among good ones: PartialWrite with one outcome per update."""

        async def main() -> PartialWrite:
            async with make_async(emulator) as client:
                frame = await client.fetch_frame(TABLE, limit=3, raw=True)
                keys = [str(k) for k in frame["__KEY"]]
                updates = [
                    FieldUpdate(TABLE, k, {"Bezeichnung": f"n{i}"}) for i, k in enumerate(keys)
                ]
                updates[1] = FieldUpdate(TABLE, keys[1], {"Bezeichnung": "x"}, expected_stamp=1)
                with pytest.raises(PartialWrite) as caught:
                    await client.update_many(updates)
                return caught.value

        partial = asyncio.run(main())
        assert ["saved", "conflict", "saved"] == [o.status for o in partial.outcomes]


class TestConfiguration:
    def test_sync_client_on_an_async_transport_fails_clearly(
        self, emulator: EmulatorServer
    ) -> None:
        """A sync client handed an async transport raises ConfigurationError naming the fix."""

        class AsyncOnly:
            async def send(self, request: HttpRequest) -> HttpResponse:
                raise AssertionError("never awaited")

            def close(self) -> None:
                return None

        with pytest.raises(ConfigurationError, match="build_async_client"):
            legacy_api.build_client(config(emulator), transport=AsyncOnly())

    def test_facade_exports(self) -> None:
        """legacy_api re-exports the async client and its builder."""
        from legacy_core._async import AsyncLegacyClient  # noqa: PLC0415

        assert legacy_api.AsyncLegacyClient is AsyncLegacyClient
        assert callable(legacy_api.build_async_client)
