"""One HTTP request and its answer as the 4D adapter means them; the query encoding.

Plain values, no I/O: transports (requests today, httpx for the async client) carry
them, the exchange builds and reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

import attrs

from legacy_core.errors import InvalidQuery

__all__ = ["HttpRequest", "HttpResponse", "encode_query", "header_bytes", "parse_set_cookies"]


@attrs.frozen(repr=False)
class HttpRequest:
    """One HTTP request as the adapter means it; the transport only carries it."""

    method: str
    url: str
    """``base_url`` + path (percent-encoded once), without a query string."""
    params: tuple[tuple[str, str], ...] = ()
    """Decoded query parameters, in order."""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    """Includes ``Cookie`` (one session cookie) and ``X-Request-ID``."""
    body: bytes | None = None
    environment: str = ""
    timeout: tuple[float, float] = (5.0, 60.0)

    @property
    def path(self) -> str:
        """The URL path (what errors and logs show; never the query or the cookie)."""
        return urlsplit(self.url).path

    @property
    def request_id(self) -> str | None:
        """The ``X-Request-ID`` header, if set."""
        for name, value in self.headers.items():
            if name.lower() == "x-request-id":
                return value
        return None

    def __repr__(self) -> str:
        # Headers carry the cookie: never part of the repr.
        return f"<HttpRequest {self.method} {self.path} env={self.environment}>"


@attrs.frozen(repr=False)
class HttpResponse:
    """The server's answer: status, lower-cased headers, raw body and the cookies it set."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    set_cookies: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    """``(name, value)`` pairs from ``Set-Cookie`` headers, in order."""
    elapsed: float = 0.0

    def __repr__(self) -> str:
        names = ",".join(name for name, _ in self.set_cookies)
        return f"<HttpResponse {self.status} {len(self.body)} bytes cookies=[{names}]>"


def encode_query(params: tuple[tuple[str, str], ...]) -> str:
    """Percent-encode query parameters exactly once (spaces as ``%20``, ``$`` kept in names).

    ``%20`` rather than ``+``: 4D's decoding of ``+`` in a query is not documented, while
    every server decodes ``%20``.
    """
    return "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params)


def header_bytes(name: str, value: str) -> bytes:
    """A header value as sent: Latin-1 when it can be, else UTF-8 (a password with "€").

    http.client sends str header values as Latin-1 and httpx as ASCII; 4D reads the login
    headers as UTF-8 when they are not Latin-1. Both transports send these bytes, so the
    wire is the same whichever client sends. A lone surrogate cannot be sent at all.
    """
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"header {name} holds a character that cannot be sent (a lone surrogate)"
        raise InvalidQuery(msg, not_applied=True) from None


def parse_set_cookies(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``(name, value)`` of every ``Set-Cookie`` header value, in order (attributes dropped)."""
    out: list[tuple[str, str]] = []
    for header in values:
        first = header.split(";", 1)[0]
        name, sep, value = first.partition("=")
        name = name.strip()
        if sep and name:
            out.append((name, value.strip().strip('"')))
    return tuple(out)
