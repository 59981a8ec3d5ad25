"""FourDBackend against scripted raw answers: odd envelopes, hidden errors, 401-once, cookies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from legacy_adapters.fourd import FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import MemorySessionStore
from legacy_core.errors import InvalidQuery, ProtocolError, ServerError, SessionExpired
from legacy_core.model import Environment, FieldUpdate, Query
from legacy_core.sessions import SharedSessionProvider

from .rawserver import RawRequest, RawServer, http_response

pytestmark = pytest.mark.integration

CATALOG = {
    "name": "T",
    "attributes": [{"name": "Datum", "kind": "storage", "type": "date", "simpleDate": True}],
}
PAGE = {"__COUNT": 1, "__FIRST": 0, "__SENT": 1, "__ENTITIES": [{"__KEY": "1", "__STAMP": 1}]}


Answer = Callable[[RawRequest, int], Any]


class Script:
    """Answers $info with a new WASID4D cookie and everything else from ``answer``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.logins = 0

    def __call__(self, request: RawRequest, n: int) -> Any:
        if request.target.startswith("/rest/$info"):
            self.logins += 1
            cookie = f"WASID4D=SESSION{self.logins:027d}; path=/"
            return http_response(body=b'{"sessionInfo": []}', headers=[("Set-Cookie", cookie)])
        if request.target.startswith("/rest/$catalog/"):
            return http_response(body=orjson.dumps(CATALOG))
        return self.answer(request, n)


@pytest.fixture
def scripted() -> Iterator[Callable[[Answer], tuple[FourDBackend, Script, RawServer]]]:
    """Build backends on scripted raw servers; everything is closed after the test."""
    servers: list[RawServer] = []
    transports: list[RequestsTransport] = []

    def build(answer: Answer) -> tuple[FourDBackend, Script, RawServer]:
        script = Script(answer)
        server = RawServer(script)
        transport = RequestsTransport()
        servers.append(server)
        transports.append(transport)
        provider = SharedSessionProvider(MemorySessionStore(), FourDLogin(transport))
        env = Environment("live", server.base_url, connect_timeout=2.0, read_timeout=5.0)
        return FourDBackend({"live": env}, provider, transport), script, server

    yield build
    for t in transports:
        t.close()
    for s in servers:
        s.close()


def data_requests(server: RawServer) -> list[RawRequest]:
    return [r for r in server.requests if r.target.startswith("/rest/T")]


class TestEnvelopes:
    @pytest.mark.parametrize(
        "body",
        [
            {"__COUNT": 1},
            {"__ENTITIES": [], "__COUNT": "many"},
            {"__COUNT": 2, "__SENT": 5, "__ENTITIES": [{}]},
            [1, 2],
            {"__COUNT": 1, "__ENTITIES": ["not an object"]},
        ],
    )
    def test_bad_envelope_is_protocol_error(self, scripted: Any, body: Any) -> None:
        """A 200 whose envelope is malformed is a ProtocolError with status and request id."""
        backend, _, server = scripted(lambda r, n: http_response(body=orjson.dumps(body)))
        with pytest.raises(ProtocolError) as info:
            backend.read_page(Query("live", "T", top=1))
        err = info.value
        (sent,) = data_requests(server)
        assert (200, "T", True) == (err.status, err.table, err.transient)
        assert sent.header_values("X-Request-ID") == [err.request_id]

    def test_bad_typed_value_is_protocol_error(self, scripted: Any) -> None:
        """A value that does not fit its catalog type fails a typed read with ProtocolError."""
        page = {**PAGE, "__ENTITIES": [{"__KEY": "1", "__STAMP": 1, "Datum": "31!2!2025"}]}
        backend, _, _ = scripted(lambda r, n: http_response(body=orjson.dumps(page)))
        assert "31!2!2025" == backend.read_page(Query("live", "T")).records[0]["Datum"]
        with pytest.raises(ProtocolError, match=r"T\.Datum"):
            backend.read_page(Query("live", "T", typed=True))

    def test_error_hidden_in_200(self, scripted: Any) -> None:
        """An __ERROR inside an HTTP 200 is raised, by its 4D code."""
        hidden = {
            "__ERROR": [{"errCode": 1279, "message": "bad query", "componentSignature": "dbmg"}]
        }
        backend, _, _ = scripted(lambda r, n: http_response(body=orjson.dumps(hidden)))
        with pytest.raises(InvalidQuery) as info:
            backend.read_page(Query("live", "T"))
        assert (200, (1279,)) == (info.value.status, info.value.codes)

    def test_html_error_page(self, scripted: Any) -> None:
        """A 500 with an HTML body is a ServerError carrying the (truncated) body."""
        backend, _, _ = scripted(lambda r, n: http_response(500, b"<html>" + b"x" * 2000))
        with pytest.raises(ServerError) as info:
            backend.read_page(Query("live", "T"))
        assert info.value.body is not None
        assert 600 > len(info.value.body)


class TestSessionRules:
    def test_401_relogs_once_and_resends(self, scripted: Any) -> None:
        """A 401 invalidates the session, logs in once more and resends with the new cookie."""
        backend, script, server = scripted(_first_data_request_401())
        page = backend.read_page(Query("live", "T"))
        sent = data_requests(server)
        assert (1, 2) == (page.count, script.logins)
        assert [["WASID4D=SESSION" + "0" * 26 + "1"], ["WASID4D=SESSION" + "0" * 26 + "2"]] == [
            r.header_values("Cookie") for r in sent
        ]

    def test_second_401_raises(self, scripted: Any) -> None:
        """When the resend is refused too, SessionExpired is raised after exactly two logins."""
        backend, script, server = scripted(lambda r, n: http_response(401))
        with pytest.raises(SessionExpired) as info:
            backend.read_page(Query("live", "T"))
        assert (2, 2, 401) == (script.logins, len(data_requests(server)), info.value.status)

    def test_cookie_of_other_name_is_adopted(self, scripted: Any) -> None:
        """A server switching to a 4DSID_<App> cookie has it adopted and sent alone next time."""
        cookie = [("Set-Cookie", "4DSID_MyApp=ABCDEF0123456789; path=/")]
        backend, script, server = scripted(
            lambda r, n: http_response(body=orjson.dumps(PAGE), headers=cookie)
        )
        backend.read_page(Query("live", "T"))
        backend.read_page(Query("live", "T"))
        first, second = data_requests(server)
        assert ["4DSID_MyApp=ABCDEF0123456789"] == second.header_values("Cookie")
        assert (1, 1) == (len(first.header_values("Cookie")), script.logins)


def _first_data_request_401() -> Answer:
    seen = {"data": 0}

    def answer(request: RawRequest, n: int) -> Any:
        seen["data"] += 1
        if seen["data"] == 1:
            return http_response(401, b'{"__ERROR": [{"message": "Unauthorized"}]}')
        return http_response(body=orjson.dumps(PAGE))

    return answer


class TestWriteAnswers:
    def test_unsendable_value_refused_before_io(self, scripted: Any) -> None:
        """A value JSON cannot carry is an InvalidQuery before any request."""
        backend, _, server = scripted(lambda r, n: http_response())
        with pytest.raises(InvalidQuery, match="cannot send"):
            backend.write([FieldUpdate("T", "1", {"A": {1, 2}})])
        assert [] == data_requests(server)

    def test_error_status_without_cause(self, scripted: Any) -> None:
        """An array answer under HTTP 500 without any error entry is still a ServerError."""
        saved = {"__ENTITIES": [{"__KEY": "1", "__STAMP": 2}]}
        backend, _, _ = scripted(lambda r, n: http_response(500, orjson.dumps(saved)))
        with pytest.raises(ServerError) as info:
            backend.write([FieldUpdate("T", "1", {"A": 1})])
        assert 500 == info.value.status

    def test_answer_count_mismatch(self, scripted: Any) -> None:
        """An answer with fewer entities than sent is a ProtocolError, not a partial success."""
        saved = {"__ENTITIES": [{"__KEY": "1", "__STAMP": 2}]}
        backend, _, _ = scripted(lambda r, n: http_response(body=orjson.dumps(saved)))
        with pytest.raises(ProtocolError) as info:
            backend.write([FieldUpdate("T", "1", {"A": 1}), FieldUpdate("T", "2", {"A": 1})])
        assert False is info.value.transient

    def test_body_sent(self, scripted: Any) -> None:
        """The update goes as one JSON array with __KEY, __STAMP and the values, $method=update."""
        saved = {"__ENTITIES": [{"__KEY": "1", "__STAMP": 8}, {"__KEY": "2", "__STAMP": 3}]}
        backend, _, server = scripted(lambda r, n: http_response(body=orjson.dumps(saved)))
        results = backend.write(
            [FieldUpdate("T", "1", {"A": 1}, 7), FieldUpdate("T", "2", {"B": None})], atomic=True
        )
        (sent,) = data_requests(server)
        assert "/rest/T?$method=update&$atomic=true" == sent.target
        assert [{"__KEY": "1", "__STAMP": 7, "A": 1}, {"__KEY": "2", "B": None}] == orjson.loads(
            sent.body
        )
        assert [("1", 8), ("2", 3)] == [(r.key, r.stamp) for r in results]
