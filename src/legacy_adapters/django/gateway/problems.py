"""Errors as RFC 9457 problem details (``application/problem+json``).

DRF's own errors (401, 403, 404, 405, a body that does not parse) and the library's
``LegacyError`` categories get a problem body: ``type``, ``title``, ``status``, ``detail``,
``instance`` and, where known, ``environment``, ``table``, ``field``, ``suggestions``,
``position`` and ``request_id``. A server-side failure (5xx) gets a fixed detail: the
4D error text can name internal hosts, so only input errors echo the library's message.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from legacy_core import instrument
from legacy_core.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    CircuitOpen,
    ConfigurationError,
    EntitySetExpired,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    LockTimeout,
    PartialWrite,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerError,
    ServerUnavailable,
    StampConflict,
    Timeout,
    UnknownField,
    UnknownTable,
    WhereSyntaxError,
    WriteRejected,
)

__all__ = ["CONTENT_TYPE", "GatewayProblem", "exception_handler", "problem_response"]

CONTENT_TYPE = "application/problem+json"
DEFAULT_RETRY_AFTER = 10
_URL = re.compile(r"\bhttps?://\S+", re.IGNORECASE)

# (category, status, slug, title); order matters (subclasses first).
_LEGACY: tuple[tuple[type[LegacyError], int, str, str], ...] = (
    (UnknownField, 400, "unknown-field", "Unknown field"),
    (WhereSyntaxError, 400, "where-syntax", "Malformed filter"),
    (InvalidQuery, 400, "invalid-query", "Invalid query"),
    (UnknownTable, 404, "unknown-table", "Unknown table"),
    (RecordNotFound, 404, "not-found", "Record not found"),
    (StampConflict, 409, "stamp-conflict", "The record changed since it was read"),
    (WriteRejected, 422, "write-rejected", "The 4D server refused the write"),
    (PartialWrite, 502, "partial-write", "The write was not completely applied"),
    (BudgetExhausted, 503, "budget-exhausted", "The request budget is exhausted"),
    (Timeout, 504, "timeout", "The 4D server did not answer in time"),
    (ServerUnavailable, 503, "unavailable", "The 4D server is unavailable"),
    (ServerBusy, 503, "busy", "The 4D server is busy"),
    (CircuitOpen, 503, "circuit-open", "The 4D server is failing; not calling it for now"),
    (LicenceExhausted, 503, "licence-exhausted", "No 4D licence is free"),
    (LockTimeout, 503, "busy", "The session store is busy"),
    (EntitySetExpired, 503, "busy", "The snapshot expired; retry"),
    (ProtocolError, 502, "bad-gateway", "The 4D server's answer cannot be read"),
    (ServerError, 502, "bad-gateway", "The 4D server failed"),
    (AuthenticationFailed, 502, "bad-gateway", "The 4D server refused the gateway's login"),
    (ConfigurationError, 500, "configuration", "The gateway is misconfigured"),
)


class GatewayProblem(drf.APIException):
    """A problem the gateway finds itself (a bad cursor, an oversized page, a bad header)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        """Build it; ``extra`` become members of the problem body."""
        self.status_code = status
        self.slug = slug
        self.title = title
        self.extra = extra
        super().__init__(detail)


def _scrub(text: str) -> str:
    return _URL.sub("<url>", text)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A DRF response with a problem body and ``application/problem+json``."""
    body: dict[str, Any] = {
        "type": f"urn:legacy-api:problem:{slug}",
        "title": title,
        "status": status,
        "detail": _scrub(detail),
    }
    if instance:
        body["instance"] = instance
    request_id = instrument.current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None and v != ()})
    return Response(body, status=status, headers=headers, content_type=CONTENT_TYPE)


def _legacy(exc: LegacyError, instance: str | None) -> Response:
    status, slug, title = next(
        ((st, sl, ti) for kind, st, sl, ti in _LEGACY if isinstance(exc, kind)),
        (502, "bad-gateway", "The 4D server failed"),
    )
    first = (exc.message or type(exc).__name__).splitlines()[0]
    # Input errors echo the library's message (it names the field, table, position); a
    # server failure's text may carry internal hosts or 4D dumps, so it gets a fixed one.
    detail = first if status < 500 else f"{title} (environment {exc.environment or '?'})"
    extra: dict[str, Any] = {"environment": exc.environment, "table": exc.table}
    if isinstance(exc, UnknownField):
        extra.update(field=exc.field, suggestions=list(exc.suggestions))
    if isinstance(exc, WhereSyntaxError):
        extra.update(position=exc.position)
    if isinstance(exc, StampConflict):
        extra.update(key=exc.key, current_stamp=exc.current_stamp)
    headers: dict[str, str] = {}
    if status == 503:
        wait = exc.retry_after
        headers["Retry-After"] = str(
            DEFAULT_RETRY_AFTER if not wait or wait <= 0 else math.ceil(wait)
        )
    return problem_response(
        status, slug, title, detail, instance=instance, headers=headers, **extra
    )


_DRF_SLUGS: dict[type[drf.APIException], tuple[str, str]] = {
    drf.NotAuthenticated: ("not-authenticated", "Authentication required"),
    drf.AuthenticationFailed: ("not-authenticated", "Authentication failed"),
    drf.PermissionDenied: ("forbidden", "Not allowed"),
    drf.NotFound: ("not-found", "Not found"),
    drf.MethodNotAllowed: ("method-not-allowed", "Method not allowed"),
    drf.ParseError: ("bad-request", "Malformed request body"),
    drf.UnsupportedMediaType: ("unsupported-media-type", "Unsupported media type"),
    drf.NotAcceptable: ("not-acceptable", "Not acceptable"),
    drf.ValidationError: ("bad-request", "Invalid request"),
    drf.Throttled: ("throttled", "Too many requests"),
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every error the gateway answers, as a problem body."""
    request = context.get("request")
    instance = request.path if request is not None else None
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, LegacyError):
        return _legacy(exc, instance)
    if isinstance(exc, DatabaseError):
        # The gateway's own tables (tokens, audit log): no write goes out unlogged.
        return problem_response(
            503, "gateway-database", "The gateway's database is unavailable",
            "the gateway cannot check tokens or log writes right now; nothing was sent to 4D",
            instance=instance, headers={"Retry-After": str(DEFAULT_RETRY_AFTER)},
        )  # fmt: skip
    if isinstance(exc, GatewayProblem):
        return problem_response(
            exc.status_code, exc.slug, exc.title, str(exc.detail), instance=instance, **exc.extra
        )
    if isinstance(exc, drf.APIException):
        slug, title = next(
            (v for k, v in _DRF_SLUGS.items() if isinstance(exc, k)), ("error", "Error")
        )
        headers: dict[str, str] = {}
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = str(math.ceil(wait))
        detail = exc.detail if isinstance(exc.detail, str) else _flatten(exc.detail)
        return problem_response(
            exc.status_code, slug, title, str(detail), instance=instance, headers=headers
        )
    return None


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(v) for v in detail)
    return str(detail)
