"""The HTTP seam of the 4D adapter: request/response values and the pooled requests transport.

Everything the adapter sends goes through :meth:`Transport.send`, so a recorder or a
replayer can wrap it. No 4D semantics live here (no status mapping, no JSON): only
pooling, timeouts, one explicit ``Cookie`` header and the translation of connection
failures into :mod:`legacy_core.errors`.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import threading
import time
import urllib.request
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import attrs
import requests
import requests.adapters
from urllib3.exceptions import (
    ConnectTimeoutError,
    IncompleteRead,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import DecodeError as Urllib3DecodeError
from urllib3.exceptions import ProtocolError as Urllib3ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util.retry import Retry

from legacy_adapters.wire import (
    HttpRequest,
    HttpResponse,
    encode_query,
    header_bytes,
    parse_set_cookies,
)
from legacy_core.errors import ProtocolError, ServerUnavailable, Timeout

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "RequestsTransport",
    "Transport",
    "encode_query",
]


@runtime_checkable
class Transport(Protocol):
    """Sends one :class:`HttpRequest` and returns its :class:`HttpResponse`."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; connection failures raise ServerUnavailable / Timeout."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """A jar policy that stores and returns nothing: the session cookie is ours to send."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


class _StaleConnectionRetry(Retry):
    """Retry a refused connect once, and a GET once when a pooled connection was dropped.

    4D closes a keep-alive connection after 100 requests: the next request on it fails
    with "connection aborted" before any answer. Repeating a GET is harmless; a POST is
    never repeated (it may have reached the server). Read timeouts are never retried here:
    the caller's retry policy decides.
    """

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if error is not None and not isinstance(error, (ConnectTimeoutError, Urllib3ProtocolError)):
            raise error.with_traceback(_stacktrace)
        if (
            error is not None
            and isinstance(error, ConnectTimeoutError)
            and not isinstance(error, NewConnectionError)
        ):
            # A connect *timeout* already waited the full connect timeout: do not double it.
            raise error.with_traceback(_stacktrace)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _new_retry() -> Retry:
    return _StaleConnectionRetry(
        total=None,
        connect=1,
        read=1,
        status=0,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def _set_cookies(raw: Any) -> tuple[tuple[str, str], ...]:
    headers = getattr(raw, "headers", None)
    return parse_set_cookies(headers.getlist("Set-Cookie") if headers is not None else [])


@attrs.define
class RequestsTransport:
    """One pooled ``requests.Session`` per environment, sized to the worker count.

    Every call has ``(connect, read)`` timeouts; the session's cookie jar rejects every
    cookie, so the only ``Cookie`` header is the one the adapter put on the request.
    """

    pool_size: int = 4
    verify: bool = True
    _sessions: dict[str, requests.Session] = attrs.field(init=False, factory=dict)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def _session(self, environment: str) -> requests.Session:
        with self._lock:
            session = self._sessions.get(environment)
            if session is None:
                session = requests.Session()
                session.cookies = requests.cookies.RequestsCookieJar(policy=_RejectAllCookies())
                session.trust_env = False  # no proxies or .netrc credentials from the env
                session.verify = self.verify
                adapter = requests.adapters.HTTPAdapter(
                    pool_connections=self.pool_size,
                    pool_maxsize=self.pool_size,
                    # More workers than connections wait for one instead of opening (and
                    # discarding) extra connections: the 4D server sees at most pool_size.
                    pool_block=True,
                    max_retries=_new_retry(),
                )
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._sessions[environment] = session
            return session

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` on the environment's pool and return the raw answer."""
        session = self._session(request.environment)
        started = time.perf_counter()
        context: dict[str, Any] = {
            "environment": request.environment,
            "method": request.method,
            "path": request.path,
            "request_id": request.request_id,
        }
        try:
            response = session.request(
                request.method,
                request.url,
                params=encode_query(request.params) or None,
                headers=_wire_headers(request.headers),
                data=request.body,
                timeout=request.timeout,
                allow_redirects=False,
                stream=True,
            )
            body = _read_body(response)
        except requests.exceptions.ConnectTimeout as exc:
            msg = f"connect to {request.environment} timed out after {request.timeout[0]:g}s"
            raise Timeout(msg, not_applied=True, **context) from exc
        except requests.exceptions.ReadTimeout as exc:
            msg = f"{request.environment} did not answer within {request.timeout[1]:g}s"
            raise Timeout(msg, not_applied=False, **context) from exc
        except requests.exceptions.SSLError as exc:
            msg = f"TLS handshake with {request.environment} failed: {exc}"
            raise ServerUnavailable(msg, not_applied=True, transient=False, **context) from exc
        except requests.exceptions.ConnectionError as exc:
            refused = _is_refused(exc)
            what = "refused the connection" if refused else "dropped the connection"
            msg = f"{request.environment} {what}"
            raise ServerUnavailable(msg, not_applied=refused, **context) from exc
        except requests.exceptions.RequestException as exc:
            if _is_incomplete(exc):
                # The server closed before Content-Length bytes arrived: a truncated body.
                msg = f"truncated answer from {request.environment}: the body ended early"
                raise ProtocolError(
                    msg, transient=request.method == "GET", not_applied=False, **context
                ) from exc
            # ChunkedEncodingError / ContentDecodingError: the answer broke off mid-body.
            msg = f"{request.environment} broke off the response: {type(exc).__name__}"
            raise ServerUnavailable(msg, not_applied=False, **context) from exc
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            set_cookies=_set_cookies(response.raw),
            elapsed=time.perf_counter() - started,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            session.close()

    def __repr__(self) -> str:
        return f"<RequestsTransport pool_size={self.pool_size} verify={self.verify}>"


def _read_body(response: requests.Response) -> bytes:
    """The whole body in one read, mapped to requests' errors as ``response.content`` maps them.

    ``response.content`` gathers a 1.8 MB 4D page in 10 KB chunks through a Python
    generator (half of the transport's time per page in the benchmarks); urllib3 reads it
    at once, returns the connection to the pool at the end and discards it on an error.
    """
    try:
        body: bytes = response.raw.read(decode_content=True)
    except Urllib3ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except Urllib3DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except Urllib3SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    finally:
        response.close()  # a no-op after a full read: the connection is back in the pool
    return body


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in out):
        out.append(current)
        reason = getattr(current, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else None
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        if nxt is None and len(current.args) > 1 and isinstance(current.args[1], BaseException):
            nxt = current.args[1]
        current = nxt or current.__cause__ or current.__context__
    return out


def _is_incomplete(exc: BaseException) -> bool:
    return any(isinstance(c, (IncompleteRead, http.client.IncompleteRead)) for c in _causes(exc))


def _is_refused(exc: BaseException) -> bool:
    return any(isinstance(c, (NewConnectionError, ConnectionRefusedError)) for c in _causes(exc))


def _wire_headers(headers: Mapping[str, str]) -> dict[str, str | bytes]:
    """Headers as sent (see ``wire.header_bytes``: the same bytes as the async transport)."""
    return {name: header_bytes(name, value) for name, value in headers.items()}
