"""HttpxAsyncTransport against RequestsTransport on real sockets: the same wire, the same errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.fourd import HttpRequest, HttpResponse, HttpxAsyncTransport, RequestsTransport
from legacy_adapters.testing import free_port
from legacy_adapters.testing.contracts.asyncio import EventLoopPortal
from legacy_core.errors import InvalidQuery, ProtocolError, ServerUnavailable, Timeout

from .rawserver import RawRequest, RawServer, http_response

pytestmark = pytest.mark.integration

Send = Callable[[HttpRequest], HttpResponse]


@pytest.fixture(scope="module")
def portal() -> Iterator[EventLoopPortal]:
    """One event loop for the module's async transports."""
    loop = EventLoopPortal()
    yield loop
    loop.close()


@pytest.fixture(params=["requests", "httpx"])
def send(request: pytest.FixtureRequest, portal: EventLoopPortal) -> Iterator[Send]:
    """``send`` of either transport (pool of two), so each test checks both the same way."""
    if request.param == "requests":
        sync = RequestsTransport(pool_size=2)
        yield sync.send
        sync.close()
        return
    transport = HttpxAsyncTransport(pool_size=2)
    yield lambda r: portal.call(transport.send(r))
    portal.call(transport.aclose())


def get(server: RawServer | None, path: str = "/rest/$info", **kw: Any) -> HttpRequest:
    """A GET to ``server`` with one cookie and a request id (overridable)."""
    defaults: dict[str, Any] = {
        "method": "GET",
        "url": (server.base_url if server else "http://127.0.0.1:9") + path,
        "headers": {"Cookie": "WASID4D=ABC", "X-Request-ID": "r1"},
        "environment": "live",
        "timeout": (2.0, 2.0),
    }
    defaults.update(kw)
    return HttpRequest(**defaults)


class TestWire:
    def test_one_cookie_and_set_cookies_parsed(self, send: Send) -> None:
        """Set-Cookie never reaches a jar: every request carries only its own Cookie header."""
        server = RawServer(
            lambda r, n: http_response(
                headers=[("Set-Cookie", f"WASID4D=NEW{n}; path=/"), ("Set-Cookie", "4DSID_A=X")]
            )
        )
        try:
            first = send(get(server))
            send(get(server))
        finally:
            server.close()
        assert (("WASID4D", "NEW1"), ("4DSID_A", "X")) == first.set_cookies
        assert [["WASID4D=ABC"]] * 2 == [r.header_values("Cookie") for r in server.requests]

    def test_same_bytes_as_the_sync_transport(self, portal: EventLoopPortal) -> None:
        """Query string and a non-Latin-1 header arrive byte for byte as the sync one sends them."""
        server = RawServer(lambda r, n: http_response())
        text = 'Name = "A&B 100%" AND Nummer >= 5'
        request = get(
            server,
            "/rest/Artikel",
            params=(("$filter", text), ("$top", "10")),
            headers={"X-Request-ID": "r1", "Password": "Müller€"},
        )
        sync, asynchronous = RequestsTransport(), HttpxAsyncTransport()
        try:
            sync.send(request)
            portal.call(asynchronous.send(request))
        finally:
            sync.close()
            portal.call(asynchronous.aclose())
            server.close()
        first, second = server.requests
        assert first.target == second.target
        assert first.header_values("Password") == second.header_values("Password")

    def test_lone_surrogate_header_is_invalid_query(self, send: Send) -> None:
        """A header that cannot be encoded is refused before anything is sent."""
        with pytest.raises(InvalidQuery) as info:
            send(get(None, headers={"Password": "\ud800"}))
        assert info.value.not_applied


class TestConnections:
    def test_keep_alive_and_pool_bound(self, send: Send) -> None:
        """Six concurrent requests through a pool of two use two kept-alive connections."""

        def slow(request: RawRequest, n: int) -> object:
            time.sleep(0.05)
            return http_response()

        server = RawServer(slow)
        try:
            threads = [threading.Thread(target=send, args=(get(server),)) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=10)
        finally:
            server.close()
        assert 6 == len(server.requests)
        assert 2 == len({r.connection for r in server.requests})

    def test_get_on_dropped_keep_alive_is_resent_once(self, send: Send) -> None:
        """A GET on a connection the server dropped is sent again on a new one."""
        server = RawServer(lambda r, n: "close" if n == 2 else http_response())
        try:
            send(get(server))
            assert 200 == send(get(server)).status
        finally:
            server.close()
        assert [1, 1, 2] == [r.connection for r in server.requests]

    def test_post_on_dropped_connection_is_never_resent(self, send: Send) -> None:
        """A POST whose connection broke may have been applied: it fails once, not applied=False."""
        server = RawServer(lambda r, n: "close" if r.method == "POST" else http_response())
        try:
            with pytest.raises(ServerUnavailable) as info:
                send(get(server, "/rest/T", method="POST", body=b"[]"))
        finally:
            server.close()
        assert (False, 1) == (info.value.not_applied, len(server.requests))
        assert ("live", "POST", "/rest/T") == (
            info.value.environment,
            info.value.method,
            info.value.path,
        )

    def test_refused_is_not_applied(self, send: Send) -> None:
        """A refused connection raises a transient ServerUnavailable marked not applied."""
        request = get(None, method="POST", url=f"http://127.0.0.1:{free_port()}/rest/T", body=b"")
        with pytest.raises(ServerUnavailable) as info:
            send(request)
        assert (True, True) == (info.value.not_applied, info.value.transient)
        assert "refused" in str(info.value)

    def test_read_timeout(self, send: Send) -> None:
        """A server that does not answer in time raises Timeout (maybe applied), never resent."""

        def late(request: RawRequest, n: int) -> object:
            time.sleep(0.6)
            return http_response()

        server = RawServer(late)
        try:
            with pytest.raises(Timeout) as info:
                send(get(server, timeout=(1.0, 0.2)))
            time.sleep(0.5)
        finally:
            server.close()
        assert (False, 1) == (info.value.not_applied, len(server.requests))

    def test_truncated_body(self, send: Send) -> None:
        """A body shorter than its Content-Length is a ProtocolError, transient on GET."""
        partial = http_response(body=b'{"__COUNT": 5, "__ENT', content_length=500)
        server = RawServer(lambda r, n: ("bytes", partial, "close"))
        try:
            with pytest.raises(ProtocolError) as info:
                send(get(server, "/rest/T"))
        finally:
            server.close()
        assert (False, True) == (info.value.not_applied, info.value.transient)

    def test_reset_mid_body(self, send: Send) -> None:
        """A reset while the body arrives raises ServerUnavailable, maybe applied."""
        body = b'{"__COUNT": 5, "__ENT' + b" " * 70000
        partial = http_response(body=body, content_length=900000)
        server = RawServer(lambda r, n: ("bytes", partial, "reset"))
        try:
            with pytest.raises((ServerUnavailable, ProtocolError)) as info:
                send(get(server, "/rest/T"))
        finally:
            server.close()
        assert info.value.not_applied is False

    def test_reset_before_answer_get_tried_twice(self, send: Send) -> None:
        """A GET whose every connection is reset is tried twice, then raises ServerUnavailable."""
        server = RawServer(lambda r, n: "reset")
        try:
            with pytest.raises(ServerUnavailable):
                send(get(server))
        finally:
            server.close()
        assert 2 == len(server.requests)


class TestAsyncOnly:
    def test_cancel_mid_request_propagates_and_frees_the_connection(self) -> None:
        """A cancelled send raises CancelledError; the next request still gets through."""

        def handler(request: RawRequest, n: int) -> object:
            if request.target.startswith("/slow"):
                time.sleep(0.5)
            return http_response()

        server = RawServer(handler)

        async def main() -> int:
            async with HttpxAsyncTransport(pool_size=1) as transport:
                task = asyncio.ensure_future(transport.send(get(server, "/slow")))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                return (await transport.send(get(server))).status

        try:
            assert 200 == asyncio.run(main())
        finally:
            server.close()

    def test_keep_alive_run_against_the_emulator(self) -> None:
        """150 requests on one connection to the emulator (it closes after 100) all succeed."""

        async def main(base: str) -> set[int]:
            async with HttpxAsyncTransport(pool_size=1) as transport:
                request = HttpRequest("GET", base + "/rest/$info", environment="live")
                return {(await transport.send(request)).status for _ in range(150)}

        with serve(EmulatorConfig(rows=10)) as emu:
            assert {200} == asyncio.run(main(emu.base_url))
