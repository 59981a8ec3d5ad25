"""Honest batch outcomes (issue 11, item 1): every update's fate, as the server saw it."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.bootstrap import build_client
from legacy_core.errors import CircuitOpen, InvalidQuery, PartialWrite, StampConflict
from legacy_core.model import FieldUpdate
from legacy_core.service import LegacyClient

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"
FIELD = "Bezeichnung_FS"


@pytest.fixture
def server() -> Any:
    """A fresh emulator per test: the audit and the counters belong to this test."""
    with serve(EmulatorConfig(rows=60)) as srv:
        yield srv


def _client(server: EmulatorServer, tmp_path: Any) -> LegacyClient:
    return build_client({"environments": {"live": server.base_url}, "session_dir": str(tmp_path)})


@attrs.define
class _StopAfter:
    """A writer that shuts the emulator down after ``batches`` batches went through."""

    inner: Any
    server: EmulatorServer
    batches: int
    max_request_size: int = 2_000_000

    def write(self, updates: Any, *, atomic: bool = False) -> Any:
        """Pass the batch on; once the count is reached the server is gone for the next."""
        if self.batches == 0:
            self.server.close()
        self.batches -= 1
        return self.inner.write(updates, atomic=atomic)

    def create(self, environment: str, table: str, values: Any) -> Any:
        """Pass a create on."""
        return self.inner.create(environment, table, values)


def _rows(client: LegacyClient, n: int) -> list[dict[str, Any]]:
    return list(client.iter_records(TABLE, fields=["__KEY", "__STAMP"], limit=n))


class TestOutcomes:
    """update_many reports saved, conflict, rejected and unsent updates one by one."""

    def test_counts_match_what_the_emulator_applied(
        self, server: EmulatorServer, tmp_path: Any
    ) -> None:
        """30 updates in batches of 5 with 3 stale stamps and an unknown key: counts agree."""
        client = _client(server, tmp_path)
        rows = _rows(client, 30)
        updates = [
            FieldUpdate(TABLE, str(r["__KEY"]), {FIELD: f"v{i}"}, expected_stamp=r["__STAMP"])
            for i, r in enumerate(rows)
        ]
        for i in (3, 11, 27):
            updates[i] = FieldUpdate(
                TABLE, updates[i].key, {FIELD: "stale"}, expected_stamp=rows[i]["__STAMP"] + 9
            )
        updates[18] = FieldUpdate(TABLE, "F" * 32, {FIELD: "nobody"})
        before = server.stats()
        with pytest.raises(PartialWrite) as info:
            client.update_many(updates, batch_size=5)
        outcomes = info.value.outcomes
        after = server.stats()
        statuses = [o.status for o in outcomes]
        assert list(range(30)) == [o.index for o in outcomes]
        assert [u.key for u in updates] == [o.key for o in outcomes]
        assert {3, 11, 27} == {i for i, s in enumerate(statuses) if s == "conflict"}
        assert [18] == [i for i, s in enumerate(statuses) if s == "rejected"]
        assert 26 == statuses.count("saved")
        assert 26 == after["writes_applied"] - before["writes_applied"]
        assert 3 == after["stamp_conflicts"] - before["stamp_conflicts"]
        for o in outcomes:
            if o.status == "conflict":
                assert isinstance(o.error, StampConflict)
                assert o.error.current_stamp == rows[o.index]["__STAMP"]
        audited = {a["key"] for a in server.audit()}
        assert {o.key for o in outcomes if o.applied} == audited
        assert "26 of 30 updates" in str(info.value).splitlines()[0]

    def test_a_failed_request_leaves_later_batches_unsent(
        self, server: EmulatorServer, tmp_path: Any
    ) -> None:
        """After the server goes away mid-run, unsent updates are ``not_sent``, never saved."""
        client = _client(server, tmp_path)
        rows = _rows(client, 12)
        updates = [FieldUpdate(TABLE, str(r["__KEY"]), {FIELD: "x"}) for r in rows]
        stopping = LegacyClient(
            client.reader, _StopAfter(client.writer, server, 1), client.environments, "live"
        )
        with pytest.raises(PartialWrite) as info:
            stopping.update_many(updates, batch_size=4)
        statuses = [o.status for o in info.value.outcomes]
        assert ["saved"] * 4 == statuses[:4]
        assert set(statuses[4:8]) <= {"not_sent", "unknown"}
        assert ["not_sent"] * 4 == statuses[8:]
        assert not info.value.not_applied

    def test_one_update_raises_its_own_error(self, server: EmulatorServer, tmp_path: Any) -> None:
        """A single stale update is a StampConflict, not a PartialWrite of one."""
        client = _client(server, tmp_path)
        (row,) = _rows(client, 1)
        stale = FieldUpdate(TABLE, str(row["__KEY"]), {FIELD: "y"}, row["__STAMP"] + 5)
        with pytest.raises(StampConflict):
            client.update_many([stale])


class TestRefusedBeforeSending:
    """Values JSON cannot carry are refused before any request; nothing is sent."""

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"Coll": [math.nan]}])
    def test_non_finite_numbers(self, server: EmulatorServer, tmp_path: Any, value: Any) -> None:
        """NaN and infinities (also nested) raise InvalidQuery naming field and key."""
        client = _client(server, tmp_path)
        (row,) = _rows(client, 1)
        requests_before = server.stats()["requests_total"]
        with pytest.raises(InvalidQuery, match=rf"{FIELD}.*not a finite number") as info:
            client.push_field(TABLE, str(row["__KEY"]), FIELD, value)
        assert str(row["__KEY"]) in str(info.value)
        assert info.value.not_applied
        assert requests_before == server.stats()["requests_total"]


class TestCircuitOpen:
    """An open breaker sends nothing, and says so."""

    def test_circuit_open_is_not_applied(self, server: EmulatorServer, tmp_path: Any) -> None:
        """A write refused by the open breaker carries not_applied=True."""
        client = _client(server, tmp_path)
        client.breaker("live").open_for(30.0, "test")
        with pytest.raises(CircuitOpen) as info:
            client.push_field(TABLE, "1", FIELD, "z")
        assert info.value.not_applied


class TestUnicodeCredentials:
    """Credentials with any Unicode character log in (sent as UTF-8)."""

    def test_password_beyond_latin1_logs_in(self, tmp_path: Any) -> None:
        """A password with "€", quotes and a backslash opens an authenticated session."""
        password = 'pä"ss\\w€rd ✓'
        config = EmulatorConfig(rows=10, require_login=True, users={"admin": password})
        with serve(config) as srv:
            client = build_client(
                {
                    "environments": {"live": srv.base_url},
                    "session_dir": str(tmp_path),
                    "credentials": {"live": ("admin", password)},
                }
            )
            assert client.count(TABLE) == 10
            stats = srv.stats()
        assert (1, 0) == (stats["logins"], stats["login_failures"])


class TestLeftoverInputs:
    """Server words and create values that used to escape as untyped errors or nulls."""

    def test_stamp_conflict_with_a_unicode_digit_stamp(self) -> None:
        """A ``__STAMP`` of "²" gives no current stamp instead of a ValueError."""
        assert None is StampConflict("x", current={"__STAMP": "²"}).current_stamp
        assert 7 == StampConflict("x", current={"__STAMP": " 7 "}).current_stamp

    def test_create_refuses_nan(self, server: EmulatorServer, tmp_path: Any) -> None:
        """A create with NaN is refused before sending, like an update."""
        client = _client(server, tmp_path)
        before = server.stats()["requests_total"]
        with pytest.raises(InvalidQuery, match="not a finite number") as info:
            client.writer.create("live", TABLE, {FIELD: math.nan})
        assert info.value.not_applied
        assert before == server.stats()["requests_total"]


def test_a_stamp_conflict_answer_to_a_schema_read_is_an_unknown_table() -> None:
    """A 404 with a stamp-conflict body on ``$catalog/T`` is UnknownTable, not a TypeError."""
    from legacy_adapters.fourd import FourDBackend, FourDLogin, RequestsTransport  # noqa: PLC0415
    from legacy_adapters.stores import MemorySessionStore  # noqa: PLC0415
    from legacy_core.errors import UnknownTable  # noqa: PLC0415
    from legacy_core.model import Environment  # noqa: PLC0415
    from legacy_core.sessions import SharedSessionProvider  # noqa: PLC0415

    from .rawserver import RawServer, http_response  # noqa: PLC0415

    body = b'{"__STATUS": {"success": false, "status": 2, "statusText": "Stamp has changed"}}'

    def answer(request: Any, _n: int) -> bytes:
        if "$info" in request.target:
            return http_response(200, b"{}", [("Set-Cookie", "WASID4D=" + "A" * 32)])
        return http_response(404, body)

    server = RawServer(answer)
    transport = RequestsTransport()
    try:
        env = Environment("live", server.base_url, connect_timeout=2.0, read_timeout=5.0)
        provider = SharedSessionProvider(MemorySessionStore(), FourDLogin(transport))
        backend = FourDBackend({"live": env}, provider, transport)
        with pytest.raises(UnknownTable):
            backend.schema("live", "T")
    finally:
        transport.close()
        server.close()
