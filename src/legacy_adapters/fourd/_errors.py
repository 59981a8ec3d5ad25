"""Mapping of 4D answers (HTTP status, ``__ERROR`` and ``__STATUS`` bodies) to core errors.

Also the one JSON parser of the adapter (orjson) and the redaction of secrets from bodies
that end up in error messages. No I/O here.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Any, Literal

import orjson

from legacy_core._checks import ascii_int
from legacy_core.errors import (
    AuthenticationFailed,
    EntitySetExpired,
    FourDErrorEntry,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerError,
    SessionExpired,
    StampConflict,
    UnknownTable,
    WriteRejected,
)
from legacy_core.secrets import redact as _redact

from ._transport import HttpRequest, HttpResponse

__all__ = [
    "QUERY_CODES",
    "STAMP_CODES",
    "Context",
    "body_error",
    "checked_json",
    "error_entries",
    "has_entities",
    "parse_json",
    "raise_for_response",
    "redact",
]

# 4D codes of query errors (bad filter, unknown attribute, type mismatch, bad $orderby…).
QUERY_CODES = frozenset({1112, 1162, 1200, 1201, 1202, 1203, 1204, 1279, 1280, 1804, 1808, 1809})
# A stale __STAMP: "Stamp has changed" (1263), "record modified" (1046). The 1517 that
# comes with them only says "cannot be saved", so it alone is not a stamp conflict.
STAMP_CODES = frozenset({1263, 1046})
LICENCE_CODE = 1823
ENTITY_NOT_FOUND = 1800
ENTITY_SET_NOT_FOUND = 1802

Context = Literal["collection", "entity", "entityset", "catalog", "write", "info", "login"]

# $info lists every REST session id: never let those reach a message.
_SESSION_FIELDS = re.compile(
    r'("(?:sessionID|password|password-4D)"\s*:\s*")[^"]*(")', re.IGNORECASE
)


def redact(body: bytes, secrets: tuple[str, ...] = ()) -> str:
    """Return a body as text without session ids, cookie-shaped values or ``secrets``."""
    text = body.decode("utf-8", "replace")
    return _redact(_SESSION_FIELDS.sub(r"\1***\2", text), secrets)


def parse_json(
    response: HttpResponse, request: HttpRequest, *, table: str | None, secrets: tuple[str, ...]
) -> Any:
    """Decode the body with orjson; an unreadable body is a ProtocolError (transient on GET)."""
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        ctype = response.headers.get("content-type", "?")
        msg = (
            f"unreadable answer from {request.environment}: not JSON or truncated "
            f"({len(response.body)} bytes, content-type {ctype})"
        )
        raise ProtocolError(
            msg,
            transient=request.method == "GET",
            body=redact(response.body, secrets),
            **error_context(request, response, table),
        ) from None


def error_entries(body: Any) -> tuple[FourDErrorEntry, ...]:
    """Return the ``__ERROR`` entries of a decoded body (empty when there are none)."""
    if not isinstance(body, Mapping):
        return ()
    raw = body.get("__ERROR")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        return ()
    out: list[FourDErrorEntry] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        code = item.get("errCode")
        if isinstance(code, str):
            code = ascii_int(code, max_digits=10)  # "²".isdigit() is True; int("²") fails
        if not isinstance(code, int) or isinstance(code, bool):
            code = None
        # An empty message would render as nothing; say so instead.
        message = str(item.get("message", "")) or "(no message)"
        out.append(FourDErrorEntry(code, message, str(item.get("componentSignature", ""))))
    return tuple(out)


def error_context(
    request: HttpRequest, response: HttpResponse | None, table: str | None
) -> dict[str, Any]:
    """The context fields of a LegacyError about ``request`` (and its answer, if any)."""
    return {
        "environment": request.environment,
        "table": table,
        "status": response.status if response is not None else None,
        "request_id": request.request_id,
        "method": request.method,
        "path": request.path,
    }


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # "nan" and "inf" parse as floats but are no delay to wait for.
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _decoded(response: HttpResponse) -> Any:
    try:
        return orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        return None


def has_entities(body: Any) -> bool:
    """Tell whether a decoded body is an ``{"__ENTITIES": [...]}`` answer."""
    return isinstance(body, Mapping) and isinstance(body.get("__ENTITIES"), list)


def _failed_status(body: Any) -> Mapping[str, Any] | None:
    if not isinstance(body, Mapping):
        return None
    status = body.get("__STATUS")
    if isinstance(status, Mapping) and status.get("success") is False:
        return status
    return None


def body_error(
    body: Any,
    request: HttpRequest,
    response: HttpResponse,
    *,
    table: str | None,
    context: Context,
    secrets: tuple[str, ...] = (),
) -> LegacyError | None:
    """Return the error hidden in a body (``__ERROR``, ``__STATUS.success == false``)."""
    entries = error_entries(body)
    status = _failed_status(body)
    if not entries and status is None:
        return None
    codes = {e.code for e in entries if e.code is not None}
    ctx = error_context(request, response, table)
    shown = redact(response.body, secrets)
    text = _first_message(entries, status)
    if status is not None or codes & STAMP_CODES:
        current = {k: v for k, v in body.items() if k not in {"__STATUS", "__ERROR"}}
        key = current.get("__KEY")
        stale = codes & STAMP_CODES or (status is not None and status.get("status") == 2)
        if stale:
            msg = f"stamp conflict on {table}[{key}]: the entity changed since it was read ({text})"
            return StampConflict(
                msg,
                key=str(key) if key is not None else None,
                current=current,
                body=shown,
                errors=entries,
                **ctx,
            )
        msg = f"{request.environment} rejected the write to {table}[{key}]: {text}"
        return WriteRejected(msg, body=shown, errors=entries, **ctx)
    return _by_codes(codes, entries, text, ctx, shown, context=context, default_write=True)


def checked_json(
    response: HttpResponse,
    request: HttpRequest,
    *,
    table: str | None,
    context: Context,
    secrets: tuple[str, ...],
) -> Any:
    """Decode a 2xx body and raise the error hidden in it, if any (see :func:`body_error`).

    A write's array answer carries errors per entity: the writer reads those itself.
    """
    data = parse_json(response, request, table=table, secrets=secrets)
    if not (context == "write" and has_entities(data)):
        hidden = body_error(data, request, response, table=table, context=context, secrets=secrets)
        if hidden is not None:
            raise hidden
    return data


def _first_message(entries: tuple[FourDErrorEntry, ...], status: Mapping[str, Any] | None) -> str:
    if status is not None and status.get("statusText"):
        return str(status["statusText"])
    for entry in entries:  # innermost first: the most specific description
        if entry.message:
            return entry.message.splitlines()[0]
    return "no message"


def _by_codes(
    codes: set[int],
    entries: tuple[FourDErrorEntry, ...],
    text: str,
    ctx: dict[str, Any],
    shown: str,
    *,
    context: Context,
    default_write: bool,
) -> LegacyError:
    env, table = ctx["environment"], ctx["table"]
    if LICENCE_CODE in codes:
        msg = f"{env}: no 4D client licence is free ({text})"
        return LicenceExhausted(msg, not_applied=True, body=shown, errors=entries, **ctx)
    if ENTITY_SET_NOT_FOUND in codes:
        msg = f"{env}: the entity set of {table} is unknown or expired ({text})"
        return EntitySetExpired(msg, body=shown, errors=entries, **ctx)
    if ENTITY_NOT_FOUND in codes:
        msg = f"{env}: no such entity in {table} ({text})"
        return RecordNotFound(msg, body=shown, errors=entries, **ctx)
    if codes & QUERY_CODES:
        msg = f"{env}: 4D rejected the query on {table}: {text}"
        return InvalidQuery(msg, body=shown, errors=entries, **ctx)
    if default_write and context == "write":
        msg = f"{env} rejected the write to {table}: {text}"
        return WriteRejected(msg, body=shown, errors=entries, **ctx)
    msg = f"{env}: 4D failed on {table or ctx['path']}: {text}"
    return ServerError(msg, body=shown, errors=entries, **ctx)


def raise_for_response(
    request: HttpRequest,
    response: HttpResponse,
    *,
    table: str | None,
    context: Context,
    sent_cookie: bool,
    secrets: tuple[str, ...] = (),
) -> None:
    """Raise the core error matching a non-2xx answer; return quietly for a 2xx."""
    status = response.status
    if 200 <= status < 300:
        return
    body = _decoded(response)
    entries = error_entries(body)
    codes = {e.code for e in entries if e.code is not None}
    text = _first_message(entries, None) if entries else f"HTTP {status}"
    ctx = error_context(request, response, table)
    shown = redact(response.body, secrets)
    env = request.environment
    if status == 401:
        if sent_cookie and context != "login":
            msg = f"{env}: the session is no longer valid (HTTP 401)"
            raise SessionExpired(msg, not_applied=True, body=shown, errors=entries, **ctx)
        msg = f"{env}: the server rejected the credentials (HTTP 401)"
        raise AuthenticationFailed(msg, not_applied=True, body=shown, errors=entries, **ctx)
    if status == 402 or LICENCE_CODE in codes:
        msg = f"{env}: no 4D client licence is free (HTTP {status}: {text})"
        raise LicenceExhausted(msg, not_applied=True, body=shown, errors=entries, **ctx)
    if status == 503:
        msg = f"{env} is busy (HTTP 503: {text})"
        raise ServerBusy(
            msg,
            not_applied=True,
            retry_after=_retry_after(response.headers.get("retry-after")),
            body=shown,
            errors=entries,
            **ctx,
        )
    if context == "write" and has_entities(body):
        return  # per-entity errors (an atomic batch that failed): the writer raises them
    if context == "write" and (codes & STAMP_CODES or _failed_status(body) is not None):
        # 4D does not document the status of a stale-stamp answer: the body decides.
        err = body_error(body, request, response, table=table, context=context, secrets=secrets)
        if err is not None:
            raise err
    if status == 404:
        # Never an expired session: 4D answers 404 for unknown tables, entities and sets.
        raise _not_found(codes, entries, text, ctx, shown, context=context)
    if status in {400, 413}:
        what = "request too large" if status == 413 else "bad request"
        msg = f"{env}: {what} for {table or request.path} (HTTP {status}: {text})"
        raise InvalidQuery(msg, not_applied=True, body=shown, errors=entries, **ctx)
    if status == 500 and codes & (QUERY_CODES | {ENTITY_NOT_FOUND, ENTITY_SET_NOT_FOUND}):
        raise _by_codes(codes, entries, text, ctx, shown, context=context, default_write=False)
    msg = f"{env}: server error on {table or request.path} (HTTP {status}: {text})"
    raise ServerError(msg, body=shown, errors=entries, transient=status in {502, 504}, **ctx)


def _not_found(
    codes: set[int],
    entries: tuple[FourDErrorEntry, ...],
    text: str,
    ctx: dict[str, Any],
    shown: str,
    *,
    context: Context,
) -> LegacyError:
    env, table = ctx["environment"], ctx["table"]
    if ENTITY_SET_NOT_FOUND in codes or (context == "entityset" and not codes):
        msg = f"{env}: the entity set of {table} is unknown or expired ({text})"
        return EntitySetExpired(msg, body=shown, errors=entries, **ctx)
    if ENTITY_NOT_FOUND in codes or (context == "entity" and not codes):
        msg = f"{env}: no such entity in {table} ({text})"
        return RecordNotFound(msg, body=shown, errors=entries, **ctx)
    msg = f"{env}: unknown table {table or ctx['path']} (HTTP 404: {text})"
    return UnknownTable(msg, body=shown, errors=entries, **ctx)
