"""The facade over the real 4D adapter and the emulator: paging under faults, batching, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.bootstrap import build_client
from legacy_core.errors import InvalidQuery, RecordNotFound, StampConflict, UnknownTable
from legacy_core.model import FieldUpdate
from legacy_core.query import Raw, field
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

pytestmark = pytest.mark.integration

ROWS = 3000
TABLE = "Artikel_Variante"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset between tests)."""
    with serve(EmulatorConfig(rows=ROWS, max_request_size=60_000)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator, reset to its seed data, sessions and counters."""
    server.reset()
    return server


def make(server: EmulatorServer, **overrides: Any) -> LegacyClient:
    """A client built by the composition root, patient retries, a tolerant breaker."""
    return build_client(
        {"environments": {"live": server.base_url}, "session_store": "memory"},
        retry=RetryPolicy(attempts=12, base=0.001, cap=0.005),
        breakers=lambda name: CircuitBreaker(name=name, failure_threshold=1000),
        **overrides,
    )


@pytest.fixture
def reference(server: EmulatorServer) -> pd.DataFrame:
    """The table read once without faults (raw values), the expected result."""
    server.reset()
    return make(server, page_size=250).fetch_frame(TABLE, raw=True)


class TestPagingOverHttp:
    """Multi-page reads over real HTTP return exactly the snapshot's rows."""

    def test_reads_whole_table(self, reference: pd.DataFrame):
        """The reference read has every row once."""
        assert ROWS == len(reference)
        assert reference["__KEY"].is_unique

    @pytest.mark.parametrize("workers", [1, 4])
    def test_under_faults_no_duplicates_or_gaps(
        self, emulator: EmulatorServer, reference: pd.DataFrame, workers: int
    ):
        """503 bursts, resets and truncated bodies are retried: same frame as without faults."""
        emulator.reset()
        client = make(emulator, page_size=250, workers=workers)
        emulator.set_faults(error_503_rate=0.15, reset_rate=0.1, truncate_rate=0.1, seed=workers)
        frame = client.fetch_frame(TABLE, raw=True)
        faults = emulator.stats()["faults"]
        emulator.set_faults()
        pd.testing.assert_frame_equal(reference, frame)
        assert faults["503"] > 0
        assert faults["reset"] > 0
        assert faults["truncate"] > 0
        assert 0 == emulator.stats()["active_entity_sets"]

    def test_entity_set_expiry_rebuilds(self, emulator: EmulatorServer, reference: pd.DataFrame):
        """A snapshot that expires mid-read is rebuilt; the frame is complete, nothing twice."""
        client = make(emulator, page_size=250)
        fired: list[int] = []

        def expire(done: int, _total: int) -> None:
            if done >= 1000 and not fired:
                fired.append(done)
                emulator.advance_clock(client.snapshot_timeout + 5)

        before = emulator.stats()["entity_sets_created"]
        frame = client.fetch_frame(TABLE, raw=True, progress=expire)
        pd.testing.assert_frame_equal(reference, frame)
        assert 2 == emulator.stats()["entity_sets_created"] - before

    def test_session_killed_mid_read(self, emulator: EmulatorServer, reference: pd.DataFrame):
        """A session killed mid-read costs one new login and the read completes correctly."""
        client = make(emulator, page_size=500)
        fired: list[int] = []

        def kill(done: int, _total: int) -> None:
            if done >= 1000 and not fired:
                fired.append(emulator.expire_sessions())  # the reference's and ours

        before = emulator.stats()["sessions_created"]
        frame = client.fetch_frame(TABLE, raw=True, progress=kill)
        assert fired[0] >= 1
        assert set(reference["__KEY"]) == set(frame["__KEY"])
        assert frame["__KEY"].is_unique
        assert 2 == emulator.stats()["sessions_created"] - before

    def test_typed_and_raw(self, emulator: EmulatorServer):
        """Typed reads decode dates; raw reads keep 4D's D!M!YYYY text."""
        client = make(emulator)
        typed = client.fetch_frame(TABLE, limit=5, fields=["created_date"])
        raw = client.fetch_frame(TABLE, limit=5, fields=["created_date"], raw=True)
        assert "date" == type(typed["created_date"].dropna().iloc[0]).__name__
        assert "!" in raw["created_date"].dropna().iloc[0]

    def test_filter_and_raw_filter_agree(self, emulator: EmulatorServer):
        """A built filter and the same condition as Raw text select the same rows."""
        client = make(emulator)
        built = client.fetch_frame(TABLE, where=field("Typ") == 1, fields=["Typ"], raw=True)
        raw = client.fetch_frame(TABLE, where=Raw("Typ = 1"), fields=["Typ"], raw=True)
        assert 0 < len(built) == len(raw) == client.count(TABLE, field("Typ") == 1)
        assert list(built["__KEY"]) == list(raw["__KEY"])

    def test_bad_filter_and_unknown_table(self, emulator: EmulatorServer):
        """Rejected filters, unknown tables and missing keys raise their typed errors."""
        client = make(emulator)
        with pytest.raises(InvalidQuery):
            client.fetch_frame(TABLE, where=Raw("Nummer eq 5"))
        with pytest.raises(UnknownTable):
            client.fetch_frame("Gibtsnicht")
        with pytest.raises(RecordNotFound):
            client.get_record(TABLE, "0" * 31 + "1")


class TestWritesOverHttp:
    """update_many batches under the server's request size; stamps are enforced."""

    def test_update_many_batches(self, emulator: EmulatorServer):
        """2000 updates (~130 kB) go out in 3 POSTs under the server's 60 kB limit and all apply."""
        client = make(emulator, max_request_size=60_000)
        keys = list(client.fetch_frame(TABLE, limit=2000, fields=["Nummer"], raw=True)["__KEY"])
        results = client.update_many(
            FieldUpdate(TABLE, key, {"Bezeichnung": f"Batch {i:05d}"}) for i, key in enumerate(keys)
        )
        stats = emulator.stats()
        posts = sum(
            sum(by_status.values())
            for name, by_status in stats["requests"].items()
            if name.startswith("POST")
        )
        assert keys == [r.key for r in results]
        assert 2000 == stats["writes_applied"]
        assert 3 == posts
        assert "Batch 01999" == client.get_record(TABLE, keys[-1])["Bezeichnung"]

    def test_push_field_with_stamp(self, emulator: EmulatorServer):
        """push_field with the current stamp saves; with a stale one raises StampConflict."""
        client = make(emulator)
        record = client.fetch_frame(TABLE, limit=1, raw=True).iloc[0]
        saved = client.push_field(
            TABLE, record["__KEY"], "Bezeichnung", "X", expected_stamp=int(record["__STAMP"])
        )
        assert int(record["__STAMP"]) < saved.stamp
        with pytest.raises(StampConflict) as info:
            client.push_field(
                TABLE, record["__KEY"], "Bezeichnung", "Y", expected_stamp=int(record["__STAMP"])
            )
        assert saved.stamp == info.value.current_stamp

    def test_one_login_for_everything(self, emulator: EmulatorServer):
        """Reads, writes and health on one client cost exactly one session."""
        client = make(emulator, workers=4, page_size=300)
        client.fetch_frame(TABLE, limit=1500)
        client.push_field(TABLE, client.fetch_frame(TABLE, limit=1)["__KEY"].iloc[0], "neu", True)
        assert client.health()["live"]["ok"]
        assert 1 == emulator.stats()["sessions_created"]
