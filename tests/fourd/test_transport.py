"""RequestsTransport over real loopback sockets: headers, cookies, encoding, closes and failures."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from legacy_adapters.fourd import HttpRequest, RequestsTransport
from legacy_adapters.testing import free_port
from legacy_core.errors import ProtocolError, ServerUnavailable, Timeout

from .rawserver import RawRequest, RawServer, http_response

pytestmark = pytest.mark.integration


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    t = RequestsTransport(pool_size=2)
    yield t
    t.close()


def get(server: RawServer, path: str = "/rest/$info", **kw: object) -> HttpRequest:
    defaults: dict[str, object] = {
        "method": "GET",
        "url": server.base_url + path,
        "headers": {"Cookie": "WASID4D=ABC", "X-Request-ID": "r1"},
        "environment": "live",
        "timeout": (2.0, 2.0),
    }
    defaults.update(kw)
    return HttpRequest(**defaults)  # type: ignore[arg-type]


class TestHeaders:
    def test_exactly_one_cookie_even_after_set_cookie(self, transport: RequestsTransport) -> None:
        """Cookies the server sets never reach the jar: each request carries only its own Cookie."""
        server = RawServer(
            lambda r, n: http_response(
                headers=[
                    ("Set-Cookie", f"WASID4D=NEW{n}; path=/"),
                    ("Set-Cookie", "4DSID_APP=X; path=/"),
                ]
            )
        )
        try:
            first = transport.send(get(server))
            transport.send(get(server))
        finally:
            server.close()
        assert (("WASID4D", "NEW1"), ("4DSID_APP", "X")) == first.set_cookies
        assert [["WASID4D=ABC"], ["WASID4D=ABC"]] == [
            r.header_values("Cookie") for r in server.requests
        ]

    def test_request_id_and_lowercased_headers(self, transport: RequestsTransport) -> None:
        """X-Request-ID goes out as given; response header names come back lower-cased."""
        server = RawServer(lambda r, n: http_response(headers=[("X-Thing", "1")]))
        try:
            response = transport.send(get(server))
        finally:
            server.close()
        assert ["r1"] == server.requests[0].header_values("X-Request-ID")
        assert "1" == response.headers["x-thing"]

    def test_filter_percent_encoded_once(self, transport: RequestsTransport) -> None:
        """Query parameters are encoded exactly once, spaces as %20, and decode to the original."""
        server = RawServer(lambda r, n: http_response())
        text = 'Name = "A&B 100%" AND Nummer >= 5'
        try:
            transport.send(get(server, "/rest/Artikel", params=(("$filter", text), ("$top", "10"))))
        finally:
            server.close()
        target = server.requests[0].target
        query = target.split("?", 1)[1]
        assert "+" not in query
        assert "%25" in query
        assert "%2525" not in query
        pairs = [tuple(unquote(x) for x in p.split("=", 1)) for p in query.split("&")]
        assert [("$filter", text), ("$top", "10")] == pairs


class TestConnections:
    def test_pooled_keep_alive(self, transport: RequestsTransport) -> None:
        """Consecutive requests reuse one pooled connection."""
        server = RawServer(lambda r, n: http_response())
        try:
            for _ in range(5):
                transport.send(get(server))
        finally:
            server.close()
        assert {1} == {r.connection for r in server.requests}

    def test_pool_bounds_connections(self) -> None:
        """Six concurrent requests through a pool of two use at most two connections."""

        def handler(request: RawRequest, n: int) -> object:
            time.sleep(0.05)
            return http_response()

        server = RawServer(handler)
        transport = RequestsTransport(pool_size=2)
        try:
            threads = [
                threading.Thread(target=transport.send, args=(get(server),)) for _ in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=10)
        finally:
            transport.close()
            server.close()
        assert 6 == len(server.requests)
        assert 2 == len({r.connection for r in server.requests})

    def test_get_on_dropped_keep_alive_is_resent_once(self, transport: RequestsTransport) -> None:
        """A GET on a connection the server dropped is transparently sent again on a new one."""

        def handler(request: RawRequest, n: int) -> object:
            return "close" if n == 2 else http_response()

        server = RawServer(handler)
        try:
            transport.send(get(server))
            response = transport.send(get(server))
        finally:
            server.close()
        assert 200 == response.status
        assert [1, 1, 2] == [r.connection for r in server.requests]

    def test_post_on_dropped_connection_is_never_resent(self, transport: RequestsTransport) -> None:
        """A POST whose connection broke may have been applied: it fails and is not resent."""

        def handler(request: RawRequest, n: int) -> object:
            return "close" if request.method == "POST" else http_response()

        server = RawServer(handler)
        try:
            transport.send(get(server))
            with pytest.raises(ServerUnavailable) as info:
                transport.send(get(server, "/rest/T", method="POST", body=b"[]"))
        finally:
            server.close()
        assert (False, 1) == (
            info.value.not_applied,
            sum(r.method == "POST" for r in server.requests),
        )
        assert ("live", "POST", "/rest/T", "r1") == (
            info.value.environment,
            info.value.method,
            info.value.path,
            info.value.request_id,
        )

    def test_refused_is_not_applied(self, transport: RequestsTransport) -> None:
        """A refused connection raises ServerUnavailable marked not applied."""
        port = free_port()  # nobody listens there any more
        request = HttpRequest(
            "POST",
            f"http://127.0.0.1:{port}/rest/T",
            (),
            {"X-Request-ID": "r9"},
            b"[]",
            "live",
            (1.0, 1.0),
        )
        with pytest.raises(ServerUnavailable) as info:
            transport.send(request)
        assert (True, "r9", True) == (
            info.value.not_applied,
            info.value.request_id,
            info.value.transient,
        )
        assert "refused" in str(info.value)

    def test_read_timeout(self, transport: RequestsTransport) -> None:
        """A server that does not answer in time raises Timeout (maybe applied), never resent."""

        def handler(request: RawRequest, n: int) -> object:
            time.sleep(0.6)
            return http_response()

        server = RawServer(handler)
        try:
            with pytest.raises(Timeout) as info:
                transport.send(get(server, timeout=(1.0, 0.2)))
            time.sleep(0.5)
        finally:
            server.close()
        assert (False, 1) == (info.value.not_applied, len(server.requests))

    def test_truncated_body(self, transport: RequestsTransport) -> None:
        """A body shorter than its Content-Length is a ProtocolError, transient on GET."""
        partial = http_response(body=b'{"__COUNT": 5, "__ENT', content_length=500)
        server = RawServer(lambda r, n: ("bytes", partial, "close"))
        try:
            with pytest.raises(ProtocolError) as info:
                transport.send(get(server, "/rest/T"))
        finally:
            server.close()
        assert (False, True, "/rest/T") == (
            info.value.not_applied,
            info.value.transient,
            info.value.path,
        )

    def test_reset_mid_body(self, transport: RequestsTransport) -> None:
        """A connection reset while the body arrives raises ServerUnavailable, maybe applied."""
        partial = http_response(body=b'{"__COUNT": 5, "__ENT' + b" " * 70000, content_length=900000)
        server = RawServer(lambda r, n: ("bytes", partial, "reset"))
        try:
            with pytest.raises(ServerUnavailable) as info:
                transport.send(get(server, "/rest/T"))
        finally:
            server.close()
        assert (False, "/rest/T") == (info.value.not_applied, info.value.path)

    def test_reset_before_answer_on_get_retried_then_raised(
        self, transport: RequestsTransport
    ) -> None:
        """A GET whose every connection is reset is tried twice, then raises ServerUnavailable."""
        server = RawServer(lambda r, n: "reset")
        try:
            with pytest.raises(ServerUnavailable):
                transport.send(get(server))
        finally:
            server.close()
        assert 2 == len(server.requests)


class TestValues:
    def test_reprs_hide_cookie(self) -> None:
        """Request and response reprs never show the cookie value."""
        request = HttpRequest(
            "GET", "http://h/rest/T", (), {"Cookie": "WASID4D=SECRETVALUE"}, None, "live"
        )
        assert not re.search("SECRETVALUE", repr(request))
        assert "/rest/T" == request.path


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


class TestTls:
    @pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
    def test_verification_on_by_default(self, tls_context: ssl.SSLContext) -> None:
        """An untrusted certificate fails (not applied, not transient) unless verify is off."""
        server = RawServer(lambda r, n: http_response(), tls=tls_context)
        strict, lax = RequestsTransport(), RequestsTransport(verify=False)
        try:
            with pytest.raises(ServerUnavailable) as info:
                strict.send(get(server))
            answer = lax.send(get(server))
        finally:
            strict.close()
            lax.close()
            server.close()
        assert (True, False) == (info.value.not_applied, info.value.transient)
        assert 200 == answer.status
        assert 1 == len(server.requests)  # the refused handshake never carried the request
