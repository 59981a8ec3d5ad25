"""create, create_many, delete and describe over HTTP to the emulator, and the field-name checks."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import legacy_api
from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_core.clock import ManualClock
from legacy_core.errors import (
    InvalidQuery,
    PartialWrite,
    RecordNotFound,
    ServerUnavailable,
    StampConflict,
    UnknownField,
    UnknownTable,
)
from legacy_core.model import FieldUpdate
from legacy_core.query import Raw, field
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"
TYPO = "unknown field 'Bezeichung' of Artikel_Variante; did you mean 'Bezeichnung'?"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset between tests)."""
    with serve(EmulatorConfig(rows=200)) as srv:
        yield srv


@pytest.fixture
def emulator(server: EmulatorServer) -> EmulatorServer:
    """The module's emulator, reset to its seed data, sessions, counters and faults."""
    server.reset()
    return server


def config(server: EmulatorServer, **extra: Any) -> dict[str, Any]:
    """The configuration the clients are built from."""
    return {"environments": {"live": server.base_url}, "session_store": "memory", **extra}


def make(server: EmulatorServer, **overrides: Any) -> LegacyClient:
    """A client from the composition root with fast retries and a tolerant breaker."""
    overrides.setdefault("retry", RetryPolicy(attempts=6, base=0.001, cap=0.005))
    overrides.setdefault("breakers", lambda name: CircuitBreaker(name=name, failure_threshold=1000))
    cfg = config(server, **overrides.pop("config", {}))
    return legacy_api.build_client(cfg, **overrides)


def requests_to(emulator: EmulatorServer, label: str) -> int:
    """How many requests the emulator answered on route ``label`` (any status)."""
    by_status = emulator.stats()["requests"].get(label, {})
    return sum(by_status.values()) if isinstance(by_status, dict) else int(by_status)


CATALOG = "GET /rest/$catalog/{table}"
UPDATE = "POST /rest/{table}?$method=update"
DELETE = "POST /rest/{table}({key})?$method=delete"


def a_key(client: LegacyClient, n: int = 0) -> tuple[str, int]:
    """The key and stamp of the ``n``-th variant."""
    (row,) = client.iter_records(TABLE, fields=["Nummer"], order_by="Nummer", skip=n, limit=1)
    return str(row["__KEY"]), int(row["__STAMP"])


NEEDS_ARROW = pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None, reason="columnar reads need the arrow extra"
)


class TestCreate:
    """client.create and client.create_many against the emulator."""

    def test_create_returns_key_and_stamp(self, emulator: EmulatorServer) -> None:
        """A created entity's key and stamp come back and it reads back with its values."""
        client = make(emulator)
        result = client.create(TABLE, {"Nummer": 990001, "Bezeichnung": "Neu"})
        record = client.get_record(TABLE, result.key)
        assert (990001, "Neu", result.stamp) == (
            record["Nummer"],
            record["Bezeichnung"],
            record["__STAMP"],
        )
        assert 1 == result.stamp
        assert 1 == emulator.stats()["entities_created"]

    def test_create_many_in_batches(self, emulator: EmulatorServer) -> None:
        """Five rows with batch_size=2 are three requests; results come in input order."""
        client = make(emulator)
        rows = [{"Nummer": 990100 + i, "Bezeichnung": f"Neu {i}"} for i in range(5)]
        results = client.create_many(TABLE, rows, batch_size=2)
        assert 3 == requests_to(emulator, UPDATE)
        assert [r["Nummer"] for r in rows] == [
            client.get_record(TABLE, r.key)["Nummer"] for r in results
        ]
        assert 5 == len({r.key for r in results})

    def test_create_many_partial(self, emulator: EmulatorServer) -> None:
        """A row 4D refuses leaves the others created; PartialWrite names each outcome."""
        client = make(emulator)
        rows: list[dict[str, Any]] = [{"Nummer": 990201}, {"Nummer": "zwei"}, {"Nummer": 990203}]
        with pytest.raises(PartialWrite) as info:
            client.create_many(TABLE, rows)
        assert ["saved", "rejected", "saved"] == [o.status for o in info.value.outcomes]
        assert 2 == emulator.stats()["entities_created"]

    def test_create_not_resent_when_it_may_have_been_applied(
        self, emulator: EmulatorServer
    ) -> None:
        """A connection reset after sending a create is raised, not retried (no duplicate)."""
        client = make(emulator)
        client.describe(TABLE)  # the session and the schema first: only the create is faulted
        emulator.set_faults(reset_rate=1.0)
        with pytest.raises(ServerUnavailable):
            client.create(TABLE, {"Nummer": 990301})
        emulator.set_faults()
        assert (1, 1) == (requests_to(emulator, UPDATE), emulator.stats()["faults"]["reset"])

    def test_create_refuses_system_fields(self, emulator: EmulatorServer) -> None:
        """A create may not set __KEY: refused before any request."""
        client = make(emulator)
        with pytest.raises(InvalidQuery, match="__KEY"):
            client.create(TABLE, {"__KEY": "X", "Nummer": 1})
        assert 0 == emulator.stats()["requests_total"]


class TestDelete:
    """client.delete against the emulator's $method=delete."""

    def test_delete(self, emulator: EmulatorServer) -> None:
        """A deleted entity is gone, audited and counted; the count drops by one."""
        client = make(emulator)
        before = client.count(TABLE)
        key, _ = a_key(client)
        client.delete(TABLE, key)
        with pytest.raises(RecordNotFound):
            client.get_record(TABLE, key)
        assert before - 1 == client.count(TABLE)
        assert ("delete", key) == (emulator.audit()[-1]["action"], emulator.audit()[-1]["key"])
        assert 1 == emulator.stats()["entities_deleted"]

    def test_delete_with_stale_stamp(self, emulator: EmulatorServer) -> None:
        """A stale expected_stamp raises StampConflict with the current stamp; nothing deleted."""
        client = make(emulator)
        key, stamp = a_key(client, 1)
        saved = client.push_field(TABLE, key, "Bezeichnung", "geändert")
        with pytest.raises(StampConflict) as info:
            client.delete(TABLE, key, expected_stamp=stamp)
        assert saved.stamp == info.value.current_stamp
        assert 0 == requests_to(emulator, DELETE)
        assert "geändert" == client.get_record(TABLE, key)["Bezeichnung"]

    def test_delete_with_current_stamp(self, emulator: EmulatorServer) -> None:
        """The current expected_stamp deletes the entity."""
        client = make(emulator)
        key, stamp = a_key(client, 2)
        client.delete(TABLE, key, expected_stamp=stamp)
        with pytest.raises(RecordNotFound):
            client.get_record(TABLE, key)

    def test_delete_unknown_key(self, emulator: EmulatorServer) -> None:
        """An unknown key raises RecordNotFound (4D 1800), once: a 404 is not retried."""
        client = make(emulator)
        with pytest.raises(RecordNotFound) as info:
            client.delete(TABLE, "F" * 32)
        assert 1800 in info.value.codes
        assert 1 == requests_to(emulator, DELETE)

    def test_delete_not_resent_when_it_may_have_been_applied(
        self, emulator: EmulatorServer
    ) -> None:
        """A reset after sending the delete is raised and the delete is not sent again."""
        client = make(emulator)
        key, _ = a_key(client, 3)
        emulator.set_faults(reset_rate=1.0)
        with pytest.raises(ServerUnavailable):
            client.delete(TABLE, key)
        emulator.set_faults()
        assert (1, 1) == (requests_to(emulator, DELETE), emulator.stats()["faults"]["reset"])

    def test_delete_retried_when_not_applied(self, emulator: EmulatorServer) -> None:
        """A 503 (4D did nothing) is retried until the delete goes through."""
        client = make(emulator)
        key, _ = a_key(client, 4)
        emulator.set_faults(error_503_rate=0.6, seed=7)
        client.delete(TABLE, key)
        refused = emulator.stats()["faults"]["503"]
        emulator.set_faults()
        assert refused >= 1
        assert refused + 1 == requests_to(emulator, DELETE)
        with pytest.raises(RecordNotFound):
            client.get_record(TABLE, key)


class TestDescribe:
    """client.describe and the field-name checks built on it."""

    def test_describe_variant(self, emulator: EmulatorServer) -> None:
        """The schema names fields, types, simple dates, relations with targets and the key."""
        schema = make(emulator).describe(TABLE)
        assert ("UID",) == schema.primary_key
        assert "string" == schema.attributes["Bezeichnung"].type
        assert schema.attributes["Auslaufdatum"].simple_date
        relations = {a.name: (a.kind, a.related_table) for a in schema.relations}
        assert ("relatedEntity", "Artikel_Familie") == relations["ArtikelFamilie"]
        assert ("relatedEntities", "Artikel_Variante") == relations["Teile"]
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            schema.table = "x"  # type: ignore[misc]

    def test_describe_unknown_table(self, emulator: EmulatorServer) -> None:
        """An unknown table raises UnknownTable."""
        with pytest.raises(UnknownTable):
            make(emulator).describe("Gibt_es_nicht")

    def test_one_catalog_fetch_per_ttl(self, emulator: EmulatorServer) -> None:
        """Describe, checked reads and writes share one $catalog fetch until the TTL runs out."""
        clock = ManualClock()
        client = make(emulator, clock=clock, config={"schema_ttl": 600})
        key, _ = a_key(client)
        client.describe(TABLE)
        client.fetch_frame(TABLE, fields=["Nummer"], where={"Aktiv": True}, limit=5)
        client.count(TABLE, field("Nummer") > 0)
        client.push_field(TABLE, key, "Bezeichnung", "x")
        client.create(TABLE, {"Nummer": 990401})
        assert 1 == requests_to(emulator, CATALOG)
        clock.advance(601)
        client.describe(TABLE)
        client.describe(TABLE)
        assert 2 == requests_to(emulator, CATALOG)

    @pytest.mark.parametrize(
        "call",
        [
            lambda c: c.fetch_frame(TABLE, fields=["Nummer", "Bezeichung"]),
            lambda c: c.fetch_frame(TABLE, where={"Bezeichung": "x"}),
            lambda c: list(c.iter_records(TABLE, order_by="Bezeichung desc")),
            lambda c: c.count(TABLE, (field("Nummer") > 1) & (field("Bezeichung") == "x")),
            pytest.param(lambda c: c.fetch_arrow(TABLE, fields=["Bezeichung"]), marks=NEEDS_ARROW),
            pytest.param(
                lambda c: list(c.iter_batches(TABLE, order_by=["Bezeichung"])), marks=NEEDS_ARROW
            ),
            lambda c: c.push_field(TABLE, "1", "Bezeichung", "x"),
            lambda c: c.update_many([FieldUpdate(TABLE, "1", {"Bezeichung": "x"})]),
            lambda c: c.create(TABLE, {"Bezeichung": "x"}),
            lambda c: c.create_many(TABLE, [{"Nummer": 1}, {"Bezeichung": "x"}]),
        ],
        ids=[
            *("fields", "where", "order_by", "filter", "arrow", "batches"),
            *("push", "update_many", "create", "many"),
        ],
    )
    def test_unknown_field_before_any_data_request(
        self, emulator: EmulatorServer, call: Any
    ) -> None:
        """A misspelt field fails with a did-you-mean hint; only the catalog was asked."""
        client = make(emulator)
        with pytest.raises(UnknownField) as info:
            call(client)
        assert TYPO == info.value.message
        assert ("Bezeichung", "Bezeichnung") == (info.value.field, info.value.suggestions[0])
        assert isinstance(info.value, InvalidQuery)
        assert {CATALOG} == set(emulator.stats()["requests"]) - {"GET /rest/$info"}

    def test_system_attributes_and_raw_filters_pass(self, emulator: EmulatorServer) -> None:
        """__KEY/__STAMP/__TIMESTAMP are always allowed; Raw filters are not checked."""
        client = make(emulator)
        frame = client.fetch_frame(
            TABLE, fields=["__KEY", "__STAMP", "Nummer"], where=Raw("Nummer > 0"), limit=3
        )
        assert 3 == len(frame)


class TestAsync:
    """The async client has the same verbs over the same steps."""

    def test_create_describe_delete(self, emulator: EmulatorServer) -> None:
        """Create, describe and delete awaited behave as the sync client's."""

        async def main() -> tuple[str, list[str]]:
            async with legacy_api.build_async_client(config(emulator)) as client:
                schema = await client.describe(TABLE)
                created = await client.create_many(TABLE, [{"Nummer": 990501}, {"Nummer": 2}])
                await client.delete(TABLE, created[0].key, expected_stamp=created[0].stamp)
                with pytest.raises(UnknownField):
                    await client.create(TABLE, {"Bezeichung": "x"})
                return created[0].key, list(schema.primary_key)

        key, primary = asyncio.run(main())
        assert ["UID"] == primary
        with pytest.raises(RecordNotFound):
            legacy_api.build_client(config(emulator)).get_record(TABLE, key)


class TestDescribeCommand:
    """``legacy-api describe TABLE`` (the console script, as a user runs it)."""

    @pytest.fixture
    def env(self, tmp_path: Path, emulator: EmulatorServer) -> dict[str, str]:
        """A clean shell environment configured for the emulator (file sessions)."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LEGACY_")}
        return {
            **clean,
            "LEGACY_API_LIVE_URL": emulator.base_url,
            "LEGACY_API_SESSION_STORE": "file",
            "LEGACY_API_SESSION_DIR": str(tmp_path / "sessions"),
        }

    def run(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``legacy-api`` with ``args``; never raises on a non-zero exit."""
        script = str(Path(sys.executable).with_name("legacy-api"))
        return subprocess.run(
            [script, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def test_table_output(self, env: dict[str, str]) -> None:
        """The text output has a header, one line per field and the relations with targets."""
        result = self.run(env, "describe", TABLE)
        assert 0 == result.returncode, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith(f"{TABLE}: ")
        assert "primary key UID" in lines[0]
        assert any(line.split()[:2] == ["Bezeichnung", "string"] for line in lines)
        assert any("ArtikelFamilie" in line and "-> Artikel_Familie" in line for line in lines)

    def test_json_output(self, env: dict[str, str]) -> None:
        """``--json`` prints the schema as JSON."""
        result = self.run(env, "describe", TABLE, "--json")
        assert 0 == result.returncode, result.stderr
        data = json.loads(result.stdout)
        assert (TABLE, ["UID"]) == (data["table"], data["primary_key"])
        by_name = {a["name"]: a for a in data["attributes"]}
        assert "Artikel_Familie" == by_name["ArtikelFamilie"]["related_table"]

    def test_unknown_table_exit_status(self, env: dict[str, str]) -> None:
        """An unknown table is one error line and exit status 1."""
        result = self.run(env, "describe", "Gibt_es_nicht")
        assert 1 == result.returncode
        assert result.stderr.startswith("error: ")
