"""The emulator's HTTP messages: the request it routes, the answer it renders, header reading.

Only HTTP (statuses, headers, WSGI environ keys, JSON and ``__ERROR`` answers); what a
4D answer contains per version lives in ``_envelopes.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson

from fourd_emulator._errors import UNKNOWN_TABLE, FourDError, entry, error_body
from fourd_emulator._sessions import Session

__all__ = [
    "ENTITY_PATH",
    "FAULT_KEY",
    "SOCKET_KEY",
    "Request",
    "Response",
    "StartResponse",
    "content_length",
    "cookie_parts",
    "error",
    "json_answer",
    "unauthorized",
    "unknown_table",
    "utf8_header",
]

FAULT_KEY = "fourd_emulator.fault"
"""environ key the app sets to ``reset``/``truncate``; the emulator's server acts on it."""
SOCKET_KEY = "fourd_emulator.transport"
"""environ key the emulator's server sets: it can reset and truncate for real."""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
ENTITY_PATH = re.compile(
    r"^(?P<table>[^/()\[\]$]+)"
    r"(?:\((?P<pkey>[^)]*)\)|\[(?P<bkey>[^\]]*)\])?"
    r"(?:/(?P<rest>.*))?$"
)
"""``Table``, ``Table(key)`` or ``Table[key]``, then the rest of the path after ``/``."""


@attrs.frozen
class Response:
    """An HTTP answer of the app."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def status_line(self) -> str:
        """``200 OK``."""
        return f"{self.status} {_REASONS.get(self.status, 'Unknown')}"


@attrs.define
class Request:
    """One ``/rest/`` request: the path after ``/rest/``, its query and, once found, its session."""

    method: str
    path: str
    query: dict[str, str]
    environ: Mapping[str, Any]
    session: Session | None = None


def json_answer(status: int, value: Any) -> Response:
    """``value`` as a JSON answer."""
    return Response(status, orjson.dumps(value))


def error(status: int, entries: list[dict[str, Any]]) -> Response:
    """An ``{"__ERROR": [...]}`` answer."""
    return json_answer(status, error_body(entries))


def unauthorized() -> Response:
    """The 401 of a request that needs an authenticated session."""
    return error(401, [entry(None, "Unauthorized: log in with $directory/login first", "http")])


def unknown_table(name: str) -> FourDError:
    """The 404 of a dataclass the server does not have."""
    msg = f'The dataclass "{name}" does not exist or is not available via REST'
    return FourDError(404, [entry(UNKNOWN_TABLE, msg, "dbmg")])


def utf8_header(raw: object) -> str:
    """A header value as 4D reads it: WSGI hands over Latin-1, the client sent UTF-8."""
    text = str(raw or "")
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def cookie_parts(environ: Mapping[str, Any]) -> list[str]:
    """The ``name=value`` parts of the request's cookie header(s)."""
    header = str(environ.get("HTTP_COOKIE", "") or "")
    return [p for p in header.split(";") if p.strip()]


def content_length(environ: Mapping[str, Any]) -> int:
    """The request body's length (0 when absent or not a number)."""
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0
