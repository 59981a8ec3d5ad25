"""Django middleware: request ids end to end, and library errors as HTTP answers (ADR 0022).

Add both to ``MIDDLEWARE`` (``RequestIdMiddleware`` first)::

    "legacy_adapters.django.middleware.RequestIdMiddleware",
    "legacy_adapters.django.middleware.LegacyErrorMiddleware",

``RequestIdMiddleware`` takes the incoming ``X-Request-ID`` (or makes one), binds it while
the view runs — every 4D request sent meanwhile carries it, log lines and spans too — and
returns it on the response. ``LegacyErrorMiddleware`` turns a ``LegacyError`` a view let
escape into 404 (unknown table or record), 503 with ``Retry-After`` (unavailable, busy,
breaker open, no licence), 409 (stamp conflict), 504 (timeout) or 502 (protocol error,
4D server error, 4D refusing our login), with a small JSON body naming the error,
environment, table and request id; other errors stay Django's 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse

from legacy_adapters.observe._request_id import HEADER, accept_request_id, bind_request_id
from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core.errors import (
    AuthenticationFailed,
    CircuitOpen,
    EntitySetExpired,
    LegacyError,
    LicenceExhausted,
    LockTimeout,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerError,
    ServerUnavailable,
    StampConflict,
    Timeout,
    UnknownTable,
)

__all__ = ["DEFAULT_RETRY_AFTER", "LegacyErrorMiddleware", "RequestIdMiddleware", "http_status"]

_log = get_logger()

#: Seconds sent in ``Retry-After`` when the error does not say how long to wait.
DEFAULT_RETRY_AFTER = 10

# Order matters: Timeout is a ServerUnavailable, SessionExpired an AuthenticationFailed.
_STATUS: tuple[tuple[type[LegacyError], int], ...] = (
    (RecordNotFound, 404),
    (UnknownTable, 404),
    (Timeout, 504),
    (StampConflict, 409),
    (ServerUnavailable, 503),
    (ServerBusy, 503),
    (CircuitOpen, 503),
    (LicenceExhausted, 503),
    (LockTimeout, 503),
    (EntitySetExpired, 503),
    (ProtocolError, 502),
    (ServerError, 502),
    (AuthenticationFailed, 502),
)

Handler = Callable[[HttpRequest], Any]


def http_status(error: LegacyError) -> int | None:
    """The HTTP status a view's caller gets for ``error`` (None: leave it to Django, 500)."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return None


class RequestIdMiddleware:
    """Binds the request's id while the view runs and returns it as ``X-Request-ID``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        """Wrap ``get_response`` (sync or async)."""
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """Handle ``request`` with its id bound."""
        if self._async:
            return self._acall(request)
        request_id = _accept(request)
        with bind_request_id(request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = _accept(request)
        with bind_request_id(request_id):
            response: HttpResponse = await self.get_response(request)
        response[HEADER] = request_id
        return response


def _accept(request: HttpRequest) -> str:
    request_id = accept_request_id(request.headers.get(HEADER))
    request.legacy_request_id = request_id  # type: ignore[attr-defined]
    return request_id


class LegacyErrorMiddleware:
    """Answers a ``LegacyError`` from a view with its HTTP status and a JSON body."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        """Wrap ``get_response`` (Django calls ``process_exception`` on errors, sync or async)."""
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """Pass the request on."""
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """The JSON answer for a LegacyError with a known mapping; None lets Django handle it."""
        if not isinstance(exception, LegacyError):
            return None
        status = http_status(exception)
        if status is None:
            return None
        request_id = (
            getattr(request, "legacy_request_id", None)
            or instrument.current_request_id()
            or exception.request_id
        )
        first = (exception.message or type(exception).__name__).splitlines()[0]
        body: dict[str, Any] = {
            "error": type(exception).__name__,
            "message": first,
            "environment": exception.environment,
            "table": exception.table,
            "request_id": request_id,
        }
        response = JsonResponse(body, status=status)
        if status == 503:
            wait = exception.retry_after
            seconds = DEFAULT_RETRY_AFTER if not wait or wait <= 0 else math.ceil(wait)
            response["Retry-After"] = str(seconds)
            body["retry_after"] = seconds
            response.content = JsonResponse(body).content
        # The error's own context has status/path (of the 4D request): these name the answer.
        fields = {**exception.context(), "request_id": request_id}
        _log.warning(
            "legacy_api.django.error_response",
            answered=status,
            view=request.path,
            category=type(exception).__name__,
            **fields,
        )
        return response
