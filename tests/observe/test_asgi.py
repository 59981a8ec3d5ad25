"""The ASGI request-id middleware around an app that uses the client against the emulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fourd_emulator import EmulatorServer
from legacy_adapters.observe.asgi import RequestIdMiddleware
from legacy_core import instrument
from legacy_core.instrument import HttpEvent, NoInstrumentation

from .workload import TABLE, client_for

pytestmark = pytest.mark.integration


class HttpIds(NoInstrumentation):
    """Keeps the request id of every HTTP request sent to 4D."""

    def __init__(self) -> None:
        self.ids: list[str | None] = []

    def http(self, event: HttpEvent) -> None:
        self.ids.append(event.request_id)


def _call(app: Any, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """Run one HTTP request through ``app``; the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def _app_reading(emulator: EmulatorServer, seen: dict[str, Any]) -> Any:
    client = client_for(emulator.base_url)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        # A read in a worker thread: the request id must follow into it.
        seen["count"] = await asyncio.to_thread(client.count, TABLE)
        seen["bound"] = instrument.current_request_id()
        record = await asyncio.to_thread(client.get_record, TABLE, seen["key"])
        seen["echo"] = record["__KEY"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_incoming_id_is_bound_sent_to_4d_and_returned(emulator: EmulatorServer):
    """X-Request-ID is bound in the app, sent to 4D (echoed back) and set on the response."""
    key = str(client_for(emulator.base_url).fetch_frame(TABLE, limit=1)["__KEY"].iloc[0])
    seen: dict[str, Any] = {"key": key}
    sent = _call(RequestIdMiddleware(_app_reading(emulator, seen)), [(b"x-request-id", b"asgi-77")])
    assert "asgi-77" == seen["bound"]
    assert key == seen["echo"]
    start = sent[0]
    assert (b"x-request-id", b"asgi-77") in start["headers"]


def test_unusable_id_is_replaced():
    """A header that is not an id is replaced by a fresh one."""
    seen: dict[str, Any] = {"key": "1"}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["bound"] = instrument.current_request_id()
        await send({"type": "http.response.start", "status": 204, "headers": []})

    sent = _call(RequestIdMiddleware(app), [(b"x-request-id", b"<script>")])
    made = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert made == seen["bound"]
    assert 32 == len(made)
