"""The shipped example: pyERP-style code tested against a committed cassette (replayed in CI).

It runs in the default mode ``none``: nothing listens at the base URL and every answer
comes from ``cassettes/test_recorded_example/<test>.json``. To record it again, run
``pytest tests/recorded/test_recorded_example.py --legacy-record=all``; the fixture below
then starts the emulator (a real project would point at its 4D test server instead).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from recorded_support import DEAD_URL, build_backend

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.recorded import Recorder, RecordMode, Replayer
from legacy_core.errors import StampConflict
from legacy_core.model import Environment
from legacy_core.query import field
from legacy_core.service import LegacyClient

ARTIKEL = "Artikel_Variante"


@pytest.fixture
def legacy_base_url(legacy_record_mode: RecordMode) -> Iterator[str]:
    """Where recordings go: an emulator while recording, a dead address while replaying."""
    if legacy_record_mode is RecordMode.NONE:
        yield DEAD_URL
        return
    with serve(EmulatorConfig(rows=200, seed=0), port=0) as server:
        yield server.base_url


@pytest.fixture
def client(legacy_cassette: Recorder | Replayer, legacy_base_url: str) -> LegacyClient:
    """The facade pyERP injects, wired to the cassette's transport."""
    backend = build_backend(legacy_cassette, legacy_base_url)
    return LegacyClient(
        backend, backend, environments={"live": Environment("live", legacy_base_url)}
    )


def cheapest_active(client: LegacyClient, limit: int) -> list[int]:
    """Code under test (pyERP style): the numbers of the first active variants."""
    frame = client.fetch_frame(
        ARTIKEL,
        where=field("Aktiv") == True,  # noqa: E712 - builds a filter
        fields=["Nummer", "Bezeichnung"],
        order_by="Nummer",
        limit=limit,
    )
    return [int(n) for n in frame["Nummer"]]


class TestExampleCassette:
    def test_example_session(self, client: LegacyClient, legacy_cassette):
        """A filtered frame, a record, a stamped write and a conflict replay from the cassette."""
        numbers = cheapest_active(client, 5)
        assert 5 == len(numbers)
        assert numbers == sorted(numbers)
        (first,) = client.iter_records(ARTIKEL, where=field("Nummer") == numbers[0], limit=1)
        record = client.get_record(ARTIKEL, first["__KEY"])
        saved = client.push_field(
            ARTIKEL, record["__KEY"], "Bezeichnung", "Beispiel", expected_stamp=record["__STAMP"]
        )
        assert record["__STAMP"] < saved.stamp
        with pytest.raises(StampConflict) as info:
            client.push_field(
                ARTIKEL, record["__KEY"], "Bezeichnung", "zu spät", expected_stamp=record["__STAMP"]
            )
        assert saved.stamp == info.value.current_stamp
        if isinstance(legacy_cassette, Replayer):
            assert [] == legacy_cassette.unplayed()
