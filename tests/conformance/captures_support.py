"""The real 4D captures and a loopback server that answers with them.

The captures under ``captures/`` are facts recorded from real 4D servers and printed in
4D's docs (see ``captures/SOURCES.md``); nothing here edits them. ``CaptureServer``
serves one capture body per test on a real socket so that the adapter decodes it on its
real path: transport, exchange, error mapping, reader or writer, converter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

CAPTURES = Path(__file__).parent / "captures"
INDEX: list[dict[str, Any]] = json.loads((CAPTURES / "index.json").read_text("utf-8"))
BY_FILE: dict[str, dict[str, Any]] = {e["file"]: e for e in INDEX}
LOGIN_COOKIE = "C0FFEE00C0FFEE00C0FFEE00C0FFEE00"


def load(name: str) -> Any:
    """The decoded body of capture ``name``."""
    return json.loads((CAPTURES / name).read_text("utf-8"))


def raw(name: str) -> bytes:
    """The bytes of capture ``name`` exactly as stored."""
    return (CAPTURES / name).read_bytes()


def of_kind(kind: str) -> list[str]:
    """The capture files of one kind, in index order."""
    return [e["file"] for e in INDEX if e["kind"] == kind]


@attrs.define
class Seen:
    """One request the capture server received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, list[tuple[str, str]], bytes]
Route = Callable[[Seen], Answer | None]


@attrs.define
class CaptureServer:
    """Answers REST requests from ``routes`` (first match wins); logs in with ``$info``."""

    base_url: str = ""
    routes: list[Route] = attrs.field(factory=list)
    seen: list[Seen] = attrs.field(factory=list)

    def answer(self, request: Seen) -> Answer:
        """The answer of the first route that takes ``request``; a cookie-setting ``$info``."""
        self.seen.append(request)
        for route in self.routes:
            found = route(request)
            if found is not None:
                return found
        if request.path == "/rest/$info":
            cookie = f"WASID4D={LOGIN_COOKIE}; Path=/; Max-Age=3600; HttpOnly; Version=1"
            return 200, [("Set-Cookie", cookie)], b"{}"
        return 599, [], b'{"__ERROR": [{"message": "no route in the conformance server"}]}'

    def data_requests(self) -> list[Seen]:
        """The requests other than the login ``$info`` and catalog lookups."""
        return [s for s in self.seen if s.path != "/rest/$info" and "$catalog" not in s.path]


def body_route(
    status: int,
    body: bytes,
    *,
    headers: list[tuple[str, str]] | None = None,
    match: Callable[[Seen], bool] | None = None,
) -> Route:
    """A route answering ``body`` with ``status`` for every data request ``match`` accepts."""

    def route(request: Seen) -> Answer | None:
        if request.path == "/rest/$info" or "$catalog" in request.path:
            return None
        if match is not None and not match(request):
            return None
        return status, list(headers or []), body

    return route


def catalog_route(table: str, catalog: bytes) -> Route:
    """A route answering ``$catalog/{table}`` with ``catalog``."""

    def route(request: Seen) -> Answer | None:
        if request.path == f"/rest/$catalog/{table}":
            return 200, [], catalog
        return None

    return route


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    """Run a :class:`CaptureServer` on a free loopback port for one test."""
    state = CaptureServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command,
                url.path,
                dict(parse_qsl(url.query, keep_blank_values=True)),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            status, headers, body = state.answer(seen)
            self.send_response(status)
            names = {k.lower() for k, _ in headers}
            if "content-type" not in names:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            for key, value in headers:
                if key.lower() not in {"content-length", "connection"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve  # noqa: N815 - the names BaseHTTPRequestHandler calls

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
