"""The instrumentation port (legacy_core.instrument) as the client really calls it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from legacy_core import instrument
from legacy_core.errors import RecordNotFound, ServerBusy, ServerUnavailable
from legacy_core.instrument import Call, HttpEvent, NoInstrumentation
from legacy_core.resilience import CircuitBreaker

from ._support import make_client


@attrs.define
class Recorder(NoInstrumentation):
    """Keeps every event it is told about, in order."""

    events: list[tuple[str, Any]] = attrs.field(factory=list)

    @contextlib.contextmanager
    def client_call(self, call: Call) -> Iterator[None]:
        self.events.append(("start", (call.environment, call.verb, call.table)))
        try:
            yield
        finally:
            self.events.append(("end", (call.outcome, call.rows, call.elapsed is not None)))

    def http(self, event: HttpEvent) -> None:
        self.events.append(("http", event))

    def session_event(self, environment: str, name: str) -> None:
        self.events.append(("session", (environment, name)))

    def breaker_transition(self, environment: str, state: str) -> None:
        self.events.append(("breaker", (environment, state)))

    def retry(self, environment: str, verb: str, table: str | None, reason: str) -> None:
        self.events.append(("retry", (environment, verb, table, reason)))


class Broken(NoInstrumentation):
    """An instrumentation whose hooks all fail."""

    def client_call(self, call: Call) -> contextlib.AbstractContextManager[None]:
        raise RuntimeError("bug in a plug-in")

    def retry(self, environment: str, verb: str, table: str | None, reason: str) -> None:
        raise RuntimeError("bug in a plug-in")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = instrument.install(Recorder())
    yield rec  # type: ignore[misc]
    instrument.uninstall(rec)


def test_reads_report_verb_table_rows_and_outcome(client, recorder):
    """A paged read reports one call per request with the rows each returned."""
    client.fetch_frame("Artikel", consistent=False, limit=100)
    starts = [e[1] for e in recorder.events if e[0] == "start"]
    ends = [e[1] for e in recorder.events if e[0] == "end"]
    assert {("live", "read", "Artikel")} == set(starts)
    assert 100 == sum(rows for _, rows, _ in ends)
    assert all(outcome == "ok" and timed for outcome, _, timed in ends)


def test_creates_and_deletes_report_their_verb_and_entities(backend, clock):
    """create/create_many count the entities they created; delete is its own verb."""
    calls: list[Call] = []

    class Keep(NoInstrumentation):
        @contextlib.contextmanager
        def client_call(self, call: Call) -> Iterator[None]:
            yield
            calls.append(call)

    keep = instrument.install(Keep())
    try:
        client = make_client(backend, clock)
        client.create_many("Artikel", [{"Nummer": 9001}, {"Nummer": 9002}], batch_size=1)
        client.create("Artikel", {"Nummer": 9003})
        client.delete("Artikel", "9003")
    finally:
        instrument.uninstall(keep)
    assert [("create", 1), ("create", 1), ("create", 1), ("delete", None)] == [
        (c.verb, c.entities) for c in calls
    ]


def test_a_failed_call_reports_its_error_class(client, backend, recorder):
    """A RecordNotFound is the outcome of a get, and the call still ends."""
    with pytest.raises(RecordNotFound):
        client.get_record("Artikel", 999_999)
    assert ("start", ("live", "get", "Artikel")) in recorder.events
    assert ("end", ("RecordNotFound", None, True)) == recorder.events[-1]


def test_retries_and_breaker_transitions_are_reported(backend, clock, recorder):
    """A retried read reports the retry; enough failures report the breaker opening."""
    client = make_client(
        backend,
        clock,
        breakers=lambda name: CircuitBreaker(name=name, failure_threshold=2, clock=clock),
    )
    backend.read_faults.extend([ServerBusy("busy", environment="live"), None])
    client.count("Artikel")
    assert ("retry", ("live", "count", "Artikel", "ServerBusy")) in recorder.events
    backend.read_faults.extend([ServerUnavailable("down", environment="live")] * 8)
    with pytest.raises(Exception):  # noqa: B017 - either the last error or CircuitOpen
        client.count("Artikel")
    assert ("breaker", ("live", "open")) in recorder.events


def test_fan_out_survives_a_broken_part(client, recorder):
    """A plug-in raising in its hooks neither fails the call nor silences the others."""
    broken = instrument.install(Broken())
    try:
        assert 250 == client.count("Artikel")
    finally:
        instrument.uninstall(broken)
    assert "end" == recorder.events[-1][0]
    assert "ok" == recorder.events[-1][1][0]


def test_nothing_installed_costs_one_check(client):
    """With no instrumentation the hooks return the shared null scope and record nothing."""
    assert () == instrument.installed()
    scope = instrument.client_call("live", "read Artikel")
    with scope as call:
        assert 3 == call.done(3)
    assert scope is instrument.client_call("test", "write X")
    assert instrument.current_call() is None


def test_request_scope_binds_the_id_for_the_block():
    """request_scope binds the id in the context and restores the previous one after."""
    assert instrument.current_request_id() is None
    with instrument.request_scope("abc"):
        assert "abc" == instrument.current_request_id()
        with instrument.request_scope("inner"):
            assert "inner" == instrument.current_request_id()
        assert "abc" == instrument.current_request_id()
    assert instrument.current_request_id() is None


@pytest.mark.parametrize(
    ("describe", "verb", "table"),
    [
        ("read ART", "read", "ART"),
        ("open snapshot of ART", "open snapshot", "ART"),
        ("release snapshot of ART", "release snapshot", "ART"),
        ("list tables", "list tables", None),
        ("write Artikel_Variante", "write", "Artikel_Variante"),
    ],
)
def test_descriptions_split_into_verb_and_table(describe, verb, table):
    """The retry descriptions the client uses become a bounded verb and the table."""
    assert (verb, table) == instrument.parse_describe(describe)
