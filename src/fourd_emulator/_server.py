"""The threaded HTTP/1.1 server: keep-alive, real connection resets and truncated bodies."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from fourd_emulator._app import FAULT_KEY, SOCKET_KEY, Emulator
from fourd_emulator._config import EmulatorConfig
from fourd_emulator._log import get_logger

__all__ = ["EmulatorServer", "make_server", "serve"]

log = get_logger()

_MAX_BODY = 256 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "4D/20.4"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.emulator.config.keepalive_timeout)
        self.served = 0
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and benchmarks make many requests."""

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        try:
            self._serve()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        env: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "utf-8", "replace"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            SOCKET_KEY: True,
        }
        for name in set(self.headers.keys()):
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in {"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"}:
                continue
            values = self.headers.get_all(name) or []
            # Several Cookie headers are one cookie list (RFC 6265); keep every value.
            env[key] = "; ".join(values) if name.lower() == "cookie" else ", ".join(values)
        return env

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self.send_error(413)
            return
        emulator = self.server.emulator
        env = self._environ(body)
        resp = emulator.handle(env)
        fault = env.get(FAULT_KEY)
        if fault == "reset":
            # SO_LINGER 0 makes close() send RST: the client sees a reset, not a response.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.served += 1
        if self.served >= emulator.config.max_requests_per_connection:
            self.close_connection = True
        lines = [
            f"HTTP/1.1 {resp.status_line}",
            f"Date: {formatdate(usegmt=True)}",
            f"Server: {self.server_version}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(resp.body)}",
            *(f"{k}: {v}" for k, v in resp.headers),
        ]
        lines.append("Connection: close" if self.close_connection else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = resp.body
        if fault == "truncate":
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        if len(payload) < 65536:
            self.wfile.write(head + payload)
        else:
            self.wfile.write(head)
            self.wfile.write(payload)
        if fault == "truncate":
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # server_close() would join every handler thread, and one still reading a request
    # (or sleeping a latency fault) held the CLI's Ctrl-C exit past 20 s in a busy CI
    # run; the threads are daemons and their sockets are shut down by close().
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so their threads end."""
        with self._conn_lock:
            conns = list(self._connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal here; log anything else once."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        log.warning("legacy_api.emulator.handler_error", error=repr(exc))


class EmulatorServer:
    """A running emulator: its base URL, the app, and the control methods."""

    def __init__(self, httpd: _HTTPServer) -> None:
        self._httpd = httpd
        self.emulator = httpd.emulator
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.base_url = f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<EmulatorServer {self.base_url}>"

    def stats(self) -> dict[str, Any]:
        """Return the same JSON as ``GET /_emulator/stats``."""
        return self.emulator.stats()

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """See :meth:`Emulator.set_faults`."""
        return self.emulator.set_faults(**faults)

    def expire_sessions(self, session_id: str | None = None) -> int:
        """End one session or all."""
        return self.emulator.expire_sessions(session_id)

    def reset_peak(self) -> int:
        """See :meth:`Emulator.reset_peak`."""
        return self.emulator.reset_peak()

    def licence_timeline(self) -> list[tuple[float, int]]:
        """See :meth:`Emulator.licence_timeline`."""
        return self.emulator.licence_timeline()

    def request_timeline(self) -> list[tuple[float, int]]:
        """See :meth:`Emulator.request_timeline`."""
        return self.emulator.request_timeline()

    def advance_clock(self, seconds: float) -> float:
        """Age sessions and entity sets."""
        return self.emulator.advance_clock(seconds)

    def audit(self) -> list[dict[str, Any]]:
        """Every applied write, in order."""
        return self.emulator.audit()

    def reset(self) -> None:
        """Back to the seeded state."""
        self.emulator.reset()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`shutdown`."""
        self._httpd.serve_forever(poll_interval=0.1)

    def shutdown(self) -> None:
        """Stop serving (from another thread) and close connections."""
        self._httpd.shutdown()
        self.close()

    def close(self) -> None:
        """Close the listening socket and open connections."""
        self._httpd.close_connections()
        self._httpd.server_close()


def make_server(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> EmulatorServer:
    """Bind a server (not yet serving) for ``config``."""
    emulator = Emulator(config or EmulatorConfig())
    return EmulatorServer(_HTTPServer((host, port), emulator))


@contextlib.contextmanager
def serve(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[EmulatorServer]:
    """Run the emulator on ``host:port`` (0: a free port) in a background thread."""
    server = make_server(config, host, port)
    thread = threading.Thread(target=server.serve_forever, name="fourd-emulator", daemon=True)
    thread.start()
    log.info("legacy_api.emulator.started", base_url=server.base_url)
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)
        log.info("legacy_api.emulator.stopped", base_url=server.base_url)
