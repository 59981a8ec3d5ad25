"""A tiny raw-socket HTTP/1.1 server for transport tests: records requests byte for byte."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable
from typing import Any

import attrs


@attrs.define
class RawRequest:
    """One request as it arrived on the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


Handler = Callable[[RawRequest, int], Any]
"""Returns bytes to send, "reset" (RST), "close" (FIN without answer) or ("bytes", b, "close")."""


def http_response(
    status: int = 200,
    body: bytes = b"{}",
    headers: list[tuple[str, str]] | None = None,
    *,
    close: bool = False,
    content_length: int | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    for k, v in headers or []:
        lines.append(f"{k}: {v}")
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    lines.append("Content-Type: application/json")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RawServer:
    """Serve scripted answers on 127.0.0.1; every request is kept in ``requests``."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.requests: list[RawRequest] = []
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        scheme = "https" if tls is not None else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        buf = b""
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()  # the client refused our certificate
                return
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                request = RawRequest(method, target, headers, body, number)  # type: ignore[arg-type]
                self.requests.append(request)
                action = self.handler(request, len(self.requests))
                if action == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if action == "close":
                    return
                if isinstance(action, tuple):
                    conn.sendall(action[1])
                    if action[2] == "reset":
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return
                conn.sendall(action)

    def close(self) -> None:
        self._stop = True
        self._sock.close()
