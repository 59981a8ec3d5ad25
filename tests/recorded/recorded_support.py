"""Helpers of the recorded fake's tests: a scripted 4D stand-in, request builders, 4D backends."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, HttpRequest, HttpResponse
from legacy_adapters.stores import MemorySessionStore
from legacy_core.model import Environment
from legacy_core.sessions import SharedSessionProvider

COOKIE = "0123456789ABCDEF0123456789ABCDEF"
"""The cookie value the scripted server hands out first (a realistic WASID4D)."""


@attrs.define
class ScriptedTransport:
    """A hand-written stand-in for a 4D server: answers from ``handler``, counts the calls."""

    handler: Callable[[HttpRequest], HttpResponse]
    sent: list[HttpRequest] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def send(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.sent.append(request)
        return self.handler(request)

    def close(self) -> None:
        pass


def json_response(
    body: Any,
    status: int = 200,
    *,
    cookies: tuple[tuple[str, str], ...] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """An HttpResponse with a JSON body and optional cookies."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    if cookies:
        all_headers["set-cookie"] = ", ".join(f"{n}={v}; path=/; HttpOnly" for n, v in cookies)
    return HttpResponse(
        status=status,
        headers=all_headers,
        body=json.dumps(body).encode(),
        set_cookies=cookies,
        elapsed=0.001,
    )


def make_request(
    path: str,
    params: tuple[tuple[str, str], ...] = (),
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    environment: str = "live",
    base_url: str = "http://127.0.0.1:8080",
) -> HttpRequest:
    """An HttpRequest as the 4D adapter builds it."""
    return HttpRequest(
        method=method,
        url=base_url + path,
        params=params,
        headers={"X-Request-ID": "req-1", **(headers or {})},
        body=None if body is None else json.dumps(body).encode(),
        environment=environment,
    )


# -- the emulator and the real 4D adapter -------------------------------------------------

USER = "recording-user"
PASSWORD = "s3cret-Recording-Pa55"
DEAD_URL = "http://127.0.0.1:9"
"""A base URL nothing listens on: replays point here to prove nothing is sent."""


@attrs.define
class CookieSpy:
    """Wraps the real transport and remembers every cookie value the server set."""

    inner: Any
    seen: set[str] = attrs.field(factory=set)

    def send(self, request: HttpRequest) -> HttpResponse:
        response = self.inner.send(request)
        self.seen.update(value for _, value in response.set_cookies)
        return response

    def close(self) -> None:
        self.inner.close()


def build_backend(transport: Any, base_url: str, *, credentials: bool = False) -> FourDBackend:
    """The real 4D adapter (shared session provider, memory store) over ``transport``."""
    creds = {"live": Credentials(USER, PASSWORD)} if credentials else None
    provider = SharedSessionProvider(MemorySessionStore(), FourDLogin(transport, creds))
    return FourDBackend({"live": Environment("live", base_url)}, provider, transport)
