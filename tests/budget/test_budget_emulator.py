"""The request budget over real HTTP: the emulator never sees more requests than the cap."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_api import build_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator answering each request after 20 ms, so parallel pages overlap."""
    with serve(EmulatorConfig(rows=60)) as server:
        server.set_faults(latency_ms=20)
        yield server


class TestBudgetOverHttp:
    """Eight parallel page workers under a shared cap of two (file store)."""

    def test_cap_is_never_exceeded(self, emulator: EmulatorServer, tmp_path: Path) -> None:
        """With max_concurrent=2 the emulator's peak of requests in flight stays at most 2."""
        client = build_client(
            {
                "environments": {"live": emulator.base_url},
                "session_store": "file",
                "session_dir": str(tmp_path / "s"),
                "page_size": 5,
                "workers": 8,
                "budget": {"max_concurrent": 2},
            }
        )
        frame = client.fetch_frame("Artikel_Variante", workers=8)
        assert 60 == len(frame)
        assert 1 <= emulator.stats()["peak_in_flight"] <= 2
