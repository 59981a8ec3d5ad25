"""The async HTTP seam of the 4D adapter: one httpx ``AsyncClient`` per environment.

The async client's twin of :class:`~legacy_adapters.fourd.RequestsTransport`, with the
same semantics so both clients put the same bytes on the wire and map the same failures
to the same errors: a pool of ``pool_size`` connections per environment, the request's
``(connect, read)`` timeouts, exactly one ``Cookie`` header (the jar keeps nothing), no
redirects, no proxies or credentials from the environment, a GET resent once when a
kept-alive connection was dropped before any answer (4D closes one after 100 requests),
a POST never. No 4D semantics live here.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import time
import urllib.request
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import attrs
import httpx

from legacy_adapters.wire import (
    HttpRequest,
    HttpResponse,
    encode_query,
    header_bytes,
    parse_set_cookies,
)
from legacy_core.errors import ProtocolError, ServerUnavailable, Timeout

__all__ = ["AsyncTransport", "HttpxAsyncTransport"]

_IDEMPOTENT = frozenset({"GET", "HEAD"})


@runtime_checkable
class AsyncTransport(Protocol):
    """Sends one :class:`HttpRequest` on the running event loop."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; connection failures raise ServerUnavailable / Timeout."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """Stores and returns nothing: the session cookie is the adapter's to send."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


class _BodyCut(Exception):
    """The answer's headers arrived, its body did not all arrive."""


class _BodyBroken(Exception):
    """The answer's headers arrived, then the connection broke (a reset) mid-body."""


@attrs.define
class HttpxAsyncTransport:
    """One httpx ``AsyncClient`` per environment, ``pool_size`` connections each.

    The clients belong to the event loop they were first used on; :meth:`aclose` (or
    ``async with``) closes them there.
    """

    pool_size: int = 4
    verify: bool = True
    _clients: dict[str, httpx.AsyncClient] = attrs.field(init=False, factory=dict)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _client(self, environment: str) -> httpx.AsyncClient:
        client = self._clients.get(environment)  # one loop thread: no lock needed
        if client is None:
            limits = httpx.Limits(
                max_connections=self.pool_size, max_keepalive_connections=self.pool_size
            )
            client = httpx.AsyncClient(
                limits=limits,
                verify=self.verify,
                trust_env=False,  # no proxies or .netrc credentials from the environment
                follow_redirects=False,
            )
            client.cookies.jar.set_policy(_RejectAllCookies())
            self._clients[environment] = client
        return client

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` on the environment's pool and return the raw answer."""
        client = self._client(request.environment)
        connect, read = request.timeout
        # write and pool waits are bounded by the read timeout: a request never hangs
        # longer than the caller allowed for its answer.
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=read)
        query = encode_query(request.params)
        url = request.url + ("?" + query if query else "")
        headers = [(k.encode("ascii"), header_bytes(k, v)) for k, v in request.headers.items()]
        context: dict[str, Any] = {
            "environment": request.environment,
            "method": request.method,
            "path": request.path,
            "request_id": request.request_id,
        }
        started = time.perf_counter()
        attempts = 2 if request.method in _IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._once(
                    client, request, url=url, headers=headers, timeout=timeout, started=started
                )
            except httpx.ConnectTimeout as exc:
                msg = f"connect to {request.environment} timed out after {connect:g}s"
                raise Timeout(msg, not_applied=True, **context) from exc
            except httpx.ConnectError as exc:
                if _is_tls(exc):
                    msg = f"TLS handshake with {request.environment} failed: {exc}"
                    raise ServerUnavailable(
                        msg, not_applied=True, transient=False, **context
                    ) from exc
                if attempt < attempts:
                    continue  # a refused connect is resent once, as the sync transport does
                msg = f"{request.environment} refused the connection"
                raise ServerUnavailable(msg, not_applied=True, **context) from exc
            except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
                msg = f"{request.environment} did not answer within {read:g}s"
                raise Timeout(msg, not_applied=False, **context) from exc
            except _BodyCut as cut:
                msg = f"truncated answer from {request.environment}: the body ended early"
                raise ProtocolError(
                    msg, transient=request.method in _IDEMPOTENT, not_applied=False, **context
                ) from cut.__cause__
            except _BodyBroken as broken:
                cause = broken.__cause__
                msg = f"{request.environment} broke off the response: {type(cause).__name__}"
                raise ServerUnavailable(msg, not_applied=False, **context) from cause
            except httpx.TransportError as exc:
                if attempt < attempts:
                    continue  # a dropped keep-alive connection before any answer: resend a GET
                msg = f"{request.environment} dropped the connection"
                raise ServerUnavailable(msg, not_applied=False, **context) from exc
        msg = "unreachable: the attempt loop returns or raises"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    async def _once(
        self,
        client: httpx.AsyncClient,
        request: HttpRequest,
        *,
        url: str,
        headers: list[tuple[bytes, bytes]],
        timeout: httpx.Timeout,
        started: float,
    ) -> HttpResponse:
        built = client.build_request(
            request.method, url, headers=headers, content=request.body, timeout=timeout
        )
        response = await client.send(built, stream=True)
        try:
            try:
                body = await response.aread()
            except httpx.RemoteProtocolError as exc:
                raise _BodyCut from exc
            except httpx.TransportError as exc:
                raise _BodyBroken from exc
        finally:
            await response.aclose()
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            set_cookies=parse_set_cookies(response.headers.get_list("set-cookie")),
            elapsed=time.perf_counter() - started,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(c.aclose() for c in clients.values()), return_exceptions=True)

    def close(self) -> None:
        """Forget the clients without awaiting (outside a loop); prefer :meth:`aclose`."""
        self._clients = {}

    def __repr__(self) -> str:
        return f"<HttpxAsyncTransport pool_size={self.pool_size} verify={self.verify}>"


def _is_tls(exc: BaseException) -> bool:
    import ssl  # noqa: PLC0415 - only on a failure

    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ssl.SSLError):
            return True
        current = current.__cause__ or current.__context__
    return False
