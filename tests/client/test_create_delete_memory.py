"""create_many batches, per-row outcomes and the retry rules of creates and deletes (memory)."""

from __future__ import annotations

import pytest

from legacy_core.clock import ManualClock
from legacy_core.errors import (
    PartialWrite,
    RecordNotFound,
    ServerBusy,
    ServerUnavailable,
    UnknownField,
)
from legacy_core.service import LegacyClient

from ._support import FaultyBackend, make_client

TABLE = "Artikel"


class TestCreateMany:
    """create_many over the fault-injecting fake."""

    def test_batch_size_splits_requests(self, client: LegacyClient, backend: FaultyBackend):
        """Five rows with batch_size=2 are written as batches of 2, 2 and 1, keys in order."""
        rows = [{"Nummer": 5000 + i, "Name": f"N{i}"} for i in range(5)]
        results = client.create_many(TABLE, rows, batch_size=2)
        assert [2, 2, 1] == backend.write_sizes
        assert [str(5000 + i) for i in range(5)] == [r.key for r in results]

    def test_request_size_splits_requests(self, backend: FaultyBackend, clock: ManualClock) -> None:
        """Rows that do not fit one request under max_request_size go in several."""
        backend.max_request_size = 1200
        client = make_client(backend, clock)
        client.create_many(TABLE, [{"Nummer": 6000 + i, "Name": "x" * 200} for i in range(10)])
        assert len(backend.write_sizes) > 1
        assert 10 == sum(backend.write_sizes)

    def test_failed_request_after_sending_is_unknown_and_stops(
        self, client: LegacyClient, backend: FaultyBackend
    ):
        """A batch whose request failed after sending is unknown, not resent; later ones unsent."""
        backend.write_faults[:] = [None, ServerUnavailable("reset mid-request")]
        rows = [{"Nummer": 7000 + i} for i in range(5)]
        with pytest.raises(PartialWrite) as info:
            client.create_many(TABLE, rows, batch_size=2)
        statuses = [o.status for o in info.value.outcomes]
        assert ["saved", "saved", "unknown", "unknown", "not_sent"] == statuses
        assert 2 == backend.calls["create_many"]

    def test_refused_request_is_retried(self, client: LegacyClient, backend: FaultyBackend):
        """A request 4D certainly did not apply (503) is sent again."""
        backend.write_faults[:] = [ServerBusy("busy", not_applied=True)]
        (result,) = client.create_many(TABLE, [{"Nummer": 7100}])
        assert ("7100", 2) == (result.key, backend.calls["create_many"])

    def test_unknown_field_checked_against_memory_schema(
        self, backend: FaultyBackend, clock: ManualClock
    ) -> None:
        """The memory adapter describes its tables, so a typo fails before any write."""
        client = make_client(backend.inner, clock)
        with pytest.raises(UnknownField, match="did you mean 'Name'"):
            client.create_many(TABLE, [{"Nummer": 1}, {"Nmae": "x"}])
        assert 250 == client.count(TABLE)


class TestDelete:
    """delete's retry rules over the fault-injecting fake."""

    def test_refused_delete_is_retried(self, client: LegacyClient, backend: FaultyBackend):
        """A delete 4D did not process (503) is retried and goes through."""
        backend.write_faults[:] = [ServerBusy("busy", not_applied=True)]
        client.delete(TABLE, "3")
        assert 2 == backend.calls["delete"]
        with pytest.raises(RecordNotFound):
            client.get_record(TABLE, "3")

    def test_ambiguous_delete_is_not_resent(self, client: LegacyClient, backend: FaultyBackend):
        """A delete that failed after sending is raised and never sent again."""
        backend.write_faults[:] = [ServerUnavailable("reset mid-request")]
        with pytest.raises(ServerUnavailable):
            client.delete(TABLE, "4")
        assert 1 == backend.calls["delete"]

    def test_ambiguous_create_is_not_resent(self, client: LegacyClient, backend: FaultyBackend):
        """A create that failed after sending is raised and never sent again."""
        backend.write_faults[:] = [ServerUnavailable("reset mid-request")]
        with pytest.raises(ServerUnavailable):
            client.create(TABLE, {"Nummer": 7200})
        assert 1 == backend.calls["create"]
