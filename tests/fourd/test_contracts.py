"""The reader and writer contracts against FourDBackend over real HTTP to the emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs
import pytest

from fourd_emulator import EmulatorServer
from legacy_adapters.fourd import FourDBackend, HttpxAsyncTransport
from legacy_adapters.testing.contracts.asyncio import AsyncContractFixtures, EventLoopPortal
from legacy_adapters.testing.contracts.reader import (
    ContractFixtures,
    TableReaderContract,
    load_contract_tables,
)
from legacy_adapters.testing.contracts.writer import FieldWriterContract
from legacy_core.ports import FieldWriter, TableReader

from .conftest import BackendFactory

pytestmark = pytest.mark.integration


class FourDFixtures(ContractFixtures):
    """The contract fixtures served by FourDBackend and the shared emulator."""

    @pytest.fixture
    def contract_env(self) -> str:
        return "live"

    @pytest.fixture
    def contract_backend(self, emu: EmulatorServer, make_backend: BackendFactory) -> FourDBackend:
        load_contract_tables(emu.emulator)
        return make_backend(emu)

    @pytest.fixture
    def reader(self, contract_backend: FourDBackend) -> TableReader:
        return contract_backend

    @pytest.fixture
    def writer(self, contract_backend: FourDBackend) -> FieldWriter:
        return contract_backend

    @pytest.fixture
    def default_page_size(self) -> int | None:
        return 100

    @pytest.fixture
    def raw_filters(self) -> bool:
        return True

    @pytest.fixture
    def advance_time(self, emu: EmulatorServer) -> Callable[[float], None]:
        def advance(seconds: float) -> None:
            emu.advance_clock(seconds)

        return advance


class TestFourDReaderContract(TableReaderContract, FourDFixtures):
    """FourDBackend is a TableReader."""


class TestFourDWriterContract(FieldWriterContract, FourDFixtures):
    """FourDBackend is a FieldWriter."""


class AsyncFourDFixtures(AsyncContractFixtures, FourDFixtures):
    """FourDBackend on httpx's AsyncClient, its steps run by the asyncio driver."""

    @pytest.fixture
    def stepped_backend(
        self, contract_backend: FourDBackend, event_loop_portal: EventLoopPortal
    ) -> Iterator[FourDBackend]:
        transport = HttpxAsyncTransport(pool_size=4)
        yield attrs.evolve(contract_backend, transport=transport)
        event_loop_portal.call(transport.aclose())


class TestAsyncFourDReaderContract(TableReaderContract, AsyncFourDFixtures):
    """FourDBackend's steps under the async driver are a TableReader."""


class TestAsyncFourDWriterContract(FieldWriterContract, AsyncFourDFixtures):
    """FourDBackend's steps under the async driver are a FieldWriter."""
