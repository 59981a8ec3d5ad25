"""The 4D writer's delete over a scripted server: the stamp read, its failures, the answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from legacy_adapters.bootstrap import build_client
from legacy_core.errors import ProtocolError, ServerUnavailable, StampConflict
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

from .rawserver import RawRequest, RawServer, http_response

pytestmark = pytest.mark.integration

ENTITY = json.dumps({"__KEY": "7", "__STAMP": 4, "Name": "x"}).encode()
LOGIN = [("Set-Cookie", "WASID4D=0123456789ABCDEF0123456789ABCDEF; Path=/")]


def scripted(*, entity_answers: list[Any], delete_answer: bytes) -> Callable[..., Any]:
    """Logins succeed; GET Artikel(7) answers ``entity_answers`` in turn; the delete as given."""

    def handle(request: RawRequest, _n: int) -> Any:
        if "$info" in request.target:
            return http_response(200, b'{"sessionInfo": []}', LOGIN)
        if request.method == "GET" and "/rest/Artikel(7)" in request.target:
            return entity_answers.pop(0) if len(entity_answers) > 1 else entity_answers[0]
        if request.method == "POST" and "$method=delete" in request.target:
            return delete_answer
        return http_response(404, b'{"__ERROR": [{"errCode": 1800, "message": "?"}]}')

    return handle


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[..., Any]], tuple[RawServer, LegacyClient]]]:
    """Start a scripted server and a client on it (memory sessions, fast retries)."""
    servers: list[RawServer] = []

    def start(handler: Callable[..., Any]) -> tuple[RawServer, LegacyClient]:
        server = RawServer(handler)
        servers.append(server)
        client = build_client(
            {"environments": {"live": server.base_url}, "session_store": "memory"},
            retry=RetryPolicy(attempts=3, base=0.001, cap=0.002),
            breakers=lambda name: CircuitBreaker(name=name, failure_threshold=100),
        )
        return server, client

    yield start
    for server in servers:
        server.close()


def sent(server: RawServer, method: str) -> list[str]:
    """The targets of the requests of ``method`` that reached the server."""
    return [r.target for r in server.requests if r.method == method and "$info" not in r.target]


def test_failed_stamp_read_is_retried_as_not_applied(serve: Any) -> None:
    """A truncated stamp read means nothing was deleted: the whole delete is retried."""
    truncated = ("bytes", http_response(200, ENTITY, content_length=10_000), "close")
    server, client = serve(
        scripted(
            entity_answers=[truncated, http_response(200, ENTITY)],
            delete_answer=(http_response(200, b'{"ok": true}')),
        )
    )
    client.delete("Artikel", "7", expected_stamp=4)
    assert 2 == len(sent(server, "GET"))
    assert ["/rest/Artikel(7)?$method=delete"] == sent(server, "POST")


def test_stale_stamp_sends_no_delete(serve: Any) -> None:
    """A different __STAMP raises StampConflict carrying the entity; no POST is sent."""
    server, client = serve(scripted(entity_answers=[http_response(200, ENTITY)], delete_answer=b""))
    with pytest.raises(StampConflict) as info:
        client.delete("Artikel", "7", expected_stamp=3)
    assert (4, "x", True) == (
        info.value.current_stamp,
        info.value.current["Name"],
        info.value.not_applied,
    )
    assert [] == sent(server, "POST")


def test_reset_on_the_delete_is_not_resent(serve: Any) -> None:
    """A reset on the delete itself may have been applied: raised, sent once."""
    server, client = serve(scripted(entity_answers=[http_response(200, ENTITY)], delete_answer=b""))
    server.handler = _reset_deletes(server.handler)
    with pytest.raises(ServerUnavailable):
        client.delete("Artikel", "7")
    assert 1 == len(sent(server, "POST"))


def test_unexpected_answer_is_a_protocol_error(serve: Any) -> None:
    """A 2xx answer that is not {"ok": true} is a ProtocolError, not a silent success."""
    _, client = serve(
        scripted(
            entity_answers=[http_response(200, ENTITY)],
            delete_answer=http_response(200, b'{"ok": false}'),
        )
    )
    with pytest.raises(ProtocolError, match="ok"):
        client.delete("Artikel", "7")


def _reset_deletes(inner: Callable[..., Any]) -> Callable[..., Any]:
    def handle(request: RawRequest, n: int) -> Any:
        if request.method == "POST":
            return "reset"
        return inner(request, n)

    return handle
