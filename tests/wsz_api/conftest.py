"""Fixtures of the wsz_api tests: a memory-backed client in-process, emulators for scripts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_core.service import LegacyClient
from wsz_api import use_client

ATTRIBUTES = {
    "UID": "string",
    "Nummer": "long",
    "alteNummer": "string",
    "Familie_": "string",
    "Preise": "object",
    "created_date": "date",
    "modified_date": "date",
    "Bezeichnung": "string",
}


def wire_date(day: dt.date) -> str:
    """Render a day as 4D sends it: ``D!M!YYYY`` without zero padding."""
    return f"{day.day}!{day.month}!{day.year}"


def make_rows(today: dt.date) -> list[dict[str, Any]]:
    """Six variants: two created recently, one modified recently, three old."""
    rows = []
    for i in range(6):
        created = today - dt.timedelta(days=[1, 3, 400, 500, 600, 700][i])
        modified = today - dt.timedelta(days=2) if i == 2 else None
        key = f"{i + 1:032X}"
        rows.append(
            {
                "__KEY": key,
                "__STAMP": 1,
                "__TIMESTAMP": "2025-01-27T19:35:41.801Z",
                "UID": key,
                "Nummer": 803721 + i,
                "alteNummer": f"11400-B{i}",
                "Familie_": "7464FEB39C516942B01E62F44B1ED454",
                "Preise": {"Coll": [{"Art": "Laden", "Preis": 39.5 + i, "VE": 1}]},
                "created_date": wire_date(created),
                "modified_date": wire_date(modified) if modified else None,
                "Bezeichnung": f"Filigranengel {i}",
            }
        )
    return rows


@pytest.fixture
def today() -> dt.date:
    """The day the memory data is relative to."""
    return dt.date.today()


@pytest.fixture
def memory_client(today: dt.date) -> Iterator[LegacyClient]:
    """A client over in-memory live/test tables, installed as the shim's client."""
    backend = MemoryBackend()
    for env in ("live", "test"):
        backend.add_table(env, MemoryTable("Artikel_Variante", ATTRIBUTES, make_rows(today)))
        backend.add_table(env, MemoryTable("Leer", {"Nummer": "long"}, []))
    client = LegacyClient(backend, backend, ("live", "test"), "live", page_size=2)
    use_client(client)
    try:
        yield client
    finally:
        use_client(None)


@pytest.fixture
def no_threshold_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the new-data threshold the documented default (no overrides from the shell)."""
    monkeypatch.delenv("LEGACY_API_NEW_DATA_SINCE", raising=False)
    monkeypatch.delenv("LEGACY_API_NEW_DATA_DAYS", raising=False)
