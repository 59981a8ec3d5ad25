"""Fixtures of the sync tests: an emulator over loopback, a client, 4D read independently."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.bootstrap import build_client
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

ROWS = 2000


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset by ``emulator``)."""
    with serve(EmulatorConfig(rows=ROWS)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator back to its seed data, sessions and counters."""
    server.reset()
    return server


def make_client(server: EmulatorServer) -> LegacyClient:
    """A client built by the composition root (memory sessions, quick retries)."""
    return build_client(
        {"environments": {"live": server.base_url}, "session_store": "memory"},
        retry=RetryPolicy(attempts=6, base=0.001, cap=0.005),
        breakers=lambda name: CircuitBreaker(name=name, failure_threshold=1000),
    )


@pytest.fixture
def client(emulator: EmulatorServer) -> LegacyClient:
    """A client of the reset emulator."""
    return make_client(emulator)


class Fourd:
    """Reads and changes the emulator's tables over plain HTTP, independently of the client."""

    def __init__(self, server: EmulatorServer) -> None:
        self.rest = f"{server.base_url}/rest"
        self.http = requests.Session()

    def catalog(self, table: str) -> dict[str, str]:
        """Storage attribute name -> 4D type."""
        body = self.http.get(f"{self.rest}/$catalog/{table}", timeout=10).json()
        attrs = body["dataClasses"][0]["attributes"]
        return {a["name"]: a["type"] for a in attrs if a["kind"] == "storage"}

    def records(self, table: str) -> list[dict[str, Any]]:
        """Every entity as 4D sends it."""
        r = self.http.get(f"{self.rest}/{table}", params={"$top": 1_000_000}, timeout=30)
        assert 200 == r.status_code, r.text
        return list(r.json()["__ENTITIES"])

    def table(self, table: str, *, objects_as_text: bool = True) -> dict[str, dict[str, Any]]:
        """The table as the sinks should hold it: key -> column -> stored value."""
        types = self.catalog(table)
        out = {}
        for rec in self.records(table):
            row = {"__KEY": rec["__KEY"], "__STAMP": rec["__STAMP"]}
            for name, type_ in types.items():
                row[name] = expected_value(rec.get(name), type_, objects_as_text=objects_as_text)
            out[rec["__KEY"]] = row
        return out

    def update(self, table: str, body: dict[str, Any]) -> dict[str, Any]:
        """Save one entity with ``$method=update``."""
        r = self.http.post(
            f"{self.rest}/{table}", params={"$method": "update"}, json=body, timeout=10
        )
        assert 200 == r.status_code, r.text
        saved: dict[str, Any] = r.json()
        return saved

    def delete(self, table: str, key: str) -> None:
        """Delete one entity."""
        r = self.http.post(f"{self.rest}/{table}({key})", params={"$method": "delete"}, timeout=10)
        assert 200 == r.status_code, r.text


def expected_value(value: Any, type_: str, *, objects_as_text: bool) -> Any:
    """The stored form of a wire value, written out here (not taken from the sinks' code)."""
    if value is None:
        return None
    if type_ == "date":
        d, m, y = (int(p) for p in value.split("!"))
        return None if y == 0 else f"{y:04d}-{m:02d}-{d:02d}"
    if type_ == "duration":
        seconds, millis = divmod(int(value), 1000)
        clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return clock if not millis else f"{clock}.{millis * 1000:06d}"
    if isinstance(value, dict | list):
        return (
            json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if (objects_as_text)
            else value
        )
    return value


@pytest.fixture
def fourd(emulator: EmulatorServer) -> Iterator[Fourd]:
    """Plain-HTTP access to the reset emulator."""
    f = Fourd(emulator)
    yield f
    f.http.close()


def today_iso() -> str:
    """Today's UTC date (what the emulator stamps modified_date with)."""
    return dt.datetime.now(dt.UTC).date().isoformat()
