"""The reader and writer contracts through the recorded fake: recorded live, replayed stopped.

How the contract suite is made replayable: every contract test runs twice. The first
class, ``TestContractRecording``, runs it through the real 4D adapter against a running
emulator (fresh contract dataset per test) with a Recorder in mode ``all``, one cassette
per test named after the test, in a session temp directory. The emulator is class-scoped,
so it is stopped when that class ends. The second class, ``TestContractReplayed``, runs
the same test again through the same adapter on a Replayer in mode ``none`` with a base
URL where nothing listens. Per-test cassettes make the replay independent of the order
of the tests; within one test the code repeats its requests in the recorded order, which
is what ordered playback of identical requests needs. Deselecting the recording class
makes the replay class fail with a clear message (nothing to replay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from recorded_support import DEAD_URL, build_backend

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import FourDBackend, RequestsTransport
from legacy_adapters.recorded import Cassette, Recorder, Replayer
from legacy_adapters.testing.contracts import (
    ContractFixtures,
    FieldWriterContract,
    TableReaderContract,
    load_contract_tables,
)
from legacy_core.ports import FieldWriter, TableReader

pytestmark = pytest.mark.integration

ENV = "live"


@pytest.fixture(scope="session")
def contract_cassettes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the recording class writes its per-test cassettes to."""
    return tmp_path_factory.mktemp("contract-cassettes")


def cassette_path(directory: Path, request: pytest.FixtureRequest) -> Path:
    """The cassette of this contract test: the same for both classes."""
    # Not the node name: pytest escapes non-ASCII parameter ids differently per class.
    node = request.node
    callspec = getattr(node, "callspec", None)
    indices = sorted(callspec.indices.items()) if callspec is not None else []
    suffix = "".join(f"-{name}{index}" for name, index in indices)
    return directory / f"{node.originalname}{suffix}.json"


@pytest.fixture(scope="class")
def contract_server() -> Iterator[EmulatorServer]:
    """The emulator of the recording class: it stops when that class is done."""
    with serve(EmulatorConfig(rows=0, seed=0), port=0) as server:
        yield server


class _Fixtures(ContractFixtures):
    """What both classes share: the environment and the adapter's declared capabilities."""

    @pytest.fixture
    def contract_env(self) -> str:
        return ENV

    @pytest.fixture
    def reader(self, backend: FourDBackend) -> TableReader:
        return backend

    @pytest.fixture
    def writer(self, backend: FourDBackend) -> FieldWriter:
        return backend

    @pytest.fixture
    def default_page_size(self) -> int | None:
        return 100

    @pytest.fixture
    def raw_filters(self) -> bool:
        return True


class RecordingFixtures(_Fixtures):
    """The 4D adapter against a running emulator, every request recorded."""

    @pytest.fixture
    def backend(
        self,
        contract_server: EmulatorServer,
        contract_cassettes: Path,
        request: pytest.FixtureRequest,
    ) -> Iterator[FourDBackend]:
        contract_server.reset()
        load_contract_tables(contract_server.emulator)
        recorder = Recorder(RequestsTransport(), Cassette())
        yield build_backend(recorder, contract_server.base_url)
        recorder.save(cassette_path(contract_cassettes, request))
        recorder.close()

    @pytest.fixture
    def advance_time(self, contract_server: EmulatorServer) -> Callable[[float], None]:
        return contract_server.advance_clock


class ReplayFixtures(_Fixtures):
    """The same adapter on a Replayer (mode none); nothing listens at its base URL."""

    @pytest.fixture
    def backend(
        self, contract_cassettes: Path, request: pytest.FixtureRequest
    ) -> Iterator[FourDBackend]:
        path = cassette_path(contract_cassettes, request)
        if not path.exists():
            pytest.fail(
                f"no recording of {request.node.name} in this session: "
                "TestContractRecording must run first (do not deselect it)"
            )
        replayer = Replayer(Cassette.load(path))
        yield build_backend(replayer, DEAD_URL)
        # Every recorded request was asked for again: the replay is the same conversation.
        unplayed = replayer.unplayed()
        assert not unplayed, f"recorded interactions never replayed: {unplayed}"

    @pytest.fixture
    def advance_time(self) -> Callable[[float], None]:
        # The recorded answers already carry what the server's clock did.
        return lambda seconds: None


class TestContractRecording(TableReaderContract, FieldWriterContract, RecordingFixtures):
    """The contracts through the 4D adapter and a Recorder against the emulator."""


class TestContractReplayed(TableReaderContract, FieldWriterContract, ReplayFixtures):
    """The same contracts replayed from the recordings, with the emulator stopped."""
