"""An ASGI middleware binding the request id (``X-Request-ID``) for everything the app does.

``app = RequestIdMiddleware(app)``: the incoming header (or a fresh id) is bound while the
app handles the request — every 4D request sent meanwhile carries it, so do log lines —
and the response gets it back as ``X-Request-ID``. Framework-free (plain ASGI 3).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from legacy_adapters.observe._request_id import HEADER, accept_request_id, bind_request_id

__all__ = ["RequestIdMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = HEADER.lower().encode("latin-1")


class RequestIdMiddleware:
    """Wraps an ASGI app; HTTP and WebSocket scopes get a request id, others pass through."""

    def __init__(self, app: App) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection with its request id bound."""
        if scope.get("type") not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == _HEADER),
            None,
        )
        request_id = accept_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                headers.append((_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        with bind_request_id(request_id):
            await self.app(scope, receive, send_with_id)
