"""Conformance: fault injection, admin endpoints, stats and HTTP keep-alive (items 6 and 7)."""

from __future__ import annotations

import io
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fourd_emulator import Emulator, EmulatorConfig, EmulatorServer, serve

pytestmark = pytest.mark.integration


class TestFaults:
    def test_503_rate(self, base: str, server: EmulatorServer) -> None:
        """error_503_rate=1 answers every REST request with 503 and opens no session."""
        server.set_faults(error_503_rate=1.0)
        r = requests.get(f"{base}/$info", timeout=5)
        assert 503 == r.status_code
        assert "__ERROR" in r.json()
        assert 0 == server.stats()["sessions_created"]

    def test_reset_closes_the_socket(self, base: str, server: EmulatorServer) -> None:
        """reset_rate=1 closes the connection without any response."""
        server.set_faults(reset_rate=1.0)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/$info", timeout=5)
        assert 1 == server.stats()["faults"]["reset"]

    def test_truncated_body(self, base: str, server: EmulatorServer) -> None:
        """truncate_rate=1 sends a valid status and Content-Length but only part of the body."""
        server.set_faults(truncate_rate=1.0)
        r = requests.get(f"{base}/Personal", stream=True, timeout=5)
        assert 200 == r.status_code
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _ = r.content

    def test_latency(self, base: str, server: EmulatorServer) -> None:
        """latency_ms delays each REST answer by at least that much."""
        server.set_faults(latency_ms=150)
        start = time.perf_counter()
        requests.get(f"{base}/$info", timeout=5)
        assert time.perf_counter() - start >= 0.15

    def test_latency_jitter_bounds(self, base: str, server: EmulatorServer) -> None:
        """latency_jitter_ms adds a uniform delay below the jitter."""
        server.set_faults(latency_ms=20, latency_jitter_ms=60)
        with requests.Session() as http:
            for _ in range(3):
                start = time.perf_counter()
                http.get(f"{base}/$info", timeout=5)
                assert 0.02 <= time.perf_counter() - start < 3  # loose: shared CI machines

    def test_faults_are_seeded(self, base: str, server: EmulatorServer) -> None:
        """The same fault seed gives the same sequence of outcomes."""

        def run() -> list[int]:
            server.set_faults(error_503_rate=0.5, seed=42)
            with requests.Session() as http:
                return [http.get(f"{base}/$info", timeout=5).status_code for _ in range(20)]

        first, second = run(), run()
        assert first == second
        assert {200, 503} == set(first)

    def test_faults_over_http(self, server: EmulatorServer) -> None:
        """POST /_emulator/faults sets the faults and answers them as JSON."""
        r = requests.post(
            f"{server.base_url}/_emulator/faults",
            json={"error_503_rate": 1.0, "seed": 3},
            timeout=5,
        )
        assert 1.0 == r.json()["error_503_rate"]
        assert 503 == requests.get(f"{server.base_url}/rest/$info", timeout=5).status_code
        requests.post(f"{server.base_url}/_emulator/faults", json={}, timeout=5)
        assert 200 == requests.get(f"{server.base_url}/rest/$info", timeout=5).status_code

    def test_licence_cap_over_http(self, server: EmulatorServer) -> None:
        """The licence cap is a fault too: {"licences": 0} refuses every new session."""
        requests.post(f"{server.base_url}/_emulator/faults", json={"licences": 0}, timeout=5)
        assert 402 == requests.get(f"{server.base_url}/rest/$info", timeout=5).status_code

    def test_admin_endpoints_ignore_faults(self, server: EmulatorServer) -> None:
        """Admin endpoints answer even when every REST request fails."""
        server.set_faults(reset_rate=1.0)
        assert 200 == requests.get(f"{server.base_url}/_emulator/stats", timeout=5).status_code

    def test_bad_fault_values(self, server: EmulatorServer) -> None:
        """Out-of-range fault settings are refused with 400."""
        r = requests.post(
            f"{server.base_url}/_emulator/faults", json={"error_503_rate": 2}, timeout=5
        )
        assert 400 == r.status_code
        r = requests.post(f"{server.base_url}/_emulator/faults", json={"nonsense": 1}, timeout=5)
        assert 400 == r.status_code


class TestAdmin:
    def test_stats_shape(self, base: str, server: EmulatorServer) -> None:
        """GET /_emulator/stats counts requests by endpoint and status."""
        requests.get(f"{base}/$info", timeout=5)
        requests.get(f"{base}/Nirgends", timeout=5)
        stats = requests.get(f"{server.base_url}/_emulator/stats", timeout=5).json()
        assert {
            "sessions_created",
            "active_sessions",
            "logins",
            "requests",
            "writes_applied",
        } <= set(stats)
        assert {"200": 1} == stats["requests"]["GET /rest/$info"]
        assert {"404": 1} == stats["requests"]["GET /rest/{table}"]
        assert stats == server.stats() | {"clock_offset": stats["clock_offset"]}

    def test_clock_over_http(self, base: str, server: EmulatorServer) -> None:
        """POST /_emulator/clock advances the clock that ages sessions."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        r = requests.post(f"{server.base_url}/_emulator/clock", json={"seconds": 3601}, timeout=5)
        assert 3601 == r.json()["offset"]
        r = requests.get(f"{base}/$info", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5)
        assert cookie != r.cookies["WASID4D"]

    def test_reset_clears_everything(self, base: str, server: EmulatorServer) -> None:
        """reset() clears sessions, faults, stats and the clock."""
        requests.get(f"{base}/$info", timeout=5)
        server.set_faults(latency_ms=5)
        server.advance_clock(10)
        server.reset()
        stats = server.stats()
        assert (0, 0, 0.0, 0.0) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["clock_offset"],
            stats["faults_config"]["latency_ms"],
        )

    def test_unknown_admin_endpoint(self, server: EmulatorServer) -> None:
        """Unknown admin paths answer 404."""
        assert 404 == requests.get(f"{server.base_url}/_emulator/nothing", timeout=5).status_code

    def test_paths_outside_rest(self, server: EmulatorServer) -> None:
        """The server only serves /rest/ (and the admin paths)."""
        assert 404 == requests.get(f"{server.base_url}/index.html", timeout=5).status_code


class TestHTTP:
    def test_keep_alive_with_requests_session(self, base: str, server: EmulatorServer) -> None:
        """A requests.Session reuses one connection across requests."""
        with requests.Session() as http:
            first = http.get(f"{base}/$info", timeout=5)
            assert "keep-alive" == first.headers["Connection"]
            sock = first.raw._connection.sock if first.raw._connection else None
            http.get(f"{base}/Personal", timeout=5)
            assert 2 == sum(
                server.stats()["requests"][k].get("200", 0)
                for k in ("GET /rest/$info", "GET /rest/{table}")
            )
            assert sock is None or sock.fileno() != -1

    def test_connection_closes_after_100_requests(self, server: EmulatorServer) -> None:
        """Like 4D, the server closes a connection after 100 requests."""
        request = (
            b"GET /rest/Personal?$top=1 HTTP/1.1\r\nHost: x\r\nCookie: WASID4D="
            + b"0" * 32
            + b"\r\n\r\n"
        )
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            stream = sock.makefile("rb")
            for n in range(1, 101):
                sock.sendall(request)
                headers = {}
                status = stream.readline()
                assert status.startswith(b"HTTP/1.1 200")
                while (line := stream.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.lower()] = value.strip()
                stream.read(int(headers["content-length"]))
                assert ("close" if n == 100 else "keep-alive") == headers["connection"]
            assert b"" == stream.read()

    def test_session_survives_new_connections(self, base: str, server: EmulatorServer) -> None:
        """The session is the cookie, not the connection: the cookie works on a new connection."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        request = (
            f"GET /rest/$info HTTP/1.1\r\nHost: x\r\nCookie: WASID4D={cookie}\r\n"
            "Connection: close\r\n\r\n"
        )
        with socket.create_connection((server.host, server.port), timeout=5) as s:
            s.sendall(request.encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200")
        assert b"Set-Cookie" not in data

    def test_concurrent_clients(self, base: str, server: EmulatorServer) -> None:
        """Parallel clients are served by the threaded server."""

        def fetch(skip: int) -> int:
            with requests.Session() as http:
                return len(
                    http.get(
                        f"{base}/Artikel_Variante", params={"$skip": skip, "$top": 50}, timeout=10
                    ).json()["__ENTITIES"]
                )

        with ThreadPoolExecutor(8) as pool:
            assert [50] * 16 == list(pool.map(fetch, range(0, 800, 50)))


class TestWSGI:
    def test_emulator_is_a_wsgi_app(self) -> None:
        """Emulator(cfg) can be called as a plain WSGI application."""
        emu = Emulator(EmulatorConfig(rows=10))
        seen: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen.append(status)

        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/rest/Personal",
            "QUERY_STRING": "$top=2",
            "wsgi.input": io.BytesIO(),
        }
        body = b"".join(emu(environ, start_response))
        assert ["200 OK"] == seen
        assert b'"__SENT":2' in body


class TestServerLimits:
    def test_concurrency_limit_answers_503(self) -> None:
        """max_concurrent_requests answers 503 to requests beyond the limit in progress."""
        with serve(EmulatorConfig(rows=10, max_concurrent_requests=1)) as srv:
            srv.set_faults(latency_ms=1000)

            def fetch(_: int) -> int:
                return requests.get(f"{srv.base_url}/rest/$info", timeout=5).status_code

            with ThreadPoolExecutor(3) as pool:
                statuses = sorted(pool.map(fetch, range(3)))
            assert 200 == statuses[0]
            assert 503 == statuses[-1]

    def test_legacy_sessions_serialise(self) -> None:
        """With serialize_sessions, two requests of one session take twice the latency."""
        with serve(EmulatorConfig(rows=10, serialize_sessions=True)) as srv:
            cookie = requests.get(f"{srv.base_url}/rest/$info", timeout=5).cookies["WASID4D"]
            srv.set_faults(latency_ms=600)

            def fetch(c: str | None) -> None:
                headers = {"Cookie": f"WASID4D={c}"} if c else {}
                requests.get(f"{srv.base_url}/rest/Personal", headers=headers, timeout=5)

            start = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(fetch, [cookie, cookie]))
            same_session = time.perf_counter() - start
            start = time.perf_counter()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(fetch, [None, None]))
            two_sessions = time.perf_counter() - start
        assert same_session >= 1.2
        assert two_sessions < 1.1

    def test_request_id_is_echoed_and_audited(self, base: str, server: EmulatorServer) -> None:
        """X-Request-ID is echoed in the response and recorded with applied writes."""
        r = requests.get(
            f"{base}/Personal", params={"$top": 1}, headers={"X-Request-ID": "rid-1"}, timeout=5
        )
        assert "rid-1" == r.headers["X-Request-ID"]
        key = r.json()["__ENTITIES"][0]["__KEY"]
        requests.post(
            f"{base}/Personal",
            params={"$method": "update"},
            json={"__KEY": key, "Aktiv": False},
            headers={"X-Request-ID": "rid-2"},
            timeout=5,
        )
        assert ["rid-2"] == [a["request_id"] for a in server.audit()]

    def test_idle_connection_is_closed(self) -> None:
        """A keep-alive connection idle longer than keepalive_timeout is closed by the server."""
        with serve(EmulatorConfig(rows=10, keepalive_timeout=0.3)) as srv:
            with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
                sock.sendall(b"GET /rest/$info HTTP/1.1\r\nHost: x\r\n\r\n")
                stream = sock.makefile("rb")
                assert stream.readline().startswith(b"HTTP/1.1 200")
                while stream.readline() not in (b"\r\n", b""):
                    pass
                start = time.perf_counter()
                rest = stream.read()  # the body, then EOF once the server closed (or a timeout)
                assert rest.endswith(b"}")
                assert time.perf_counter() - start < 3

    def test_pregenerate(self) -> None:
        """pregenerate=True generates every row of every table at start-up."""
        with serve(EmulatorConfig(rows=300, pregenerate=True)) as srv:
            materialized = srv.stats()["materialized_rows"]
            counts = {
                t: requests.get(f"{srv.base_url}/rest/{t}", params={"$top": 0}, timeout=5).json()[
                    "__COUNT"
                ]
                for t in materialized
            }
        assert counts == materialized
