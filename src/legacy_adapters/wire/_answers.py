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
from typing import Any, Literal, get_args

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

from ._messages import HttpRequest, HttpResponse

__all__ = [
    "CODE_CATEGORIES",
    "QUERY_CODES",
    "STAMP_CODES",
    "Category",
    "Context",
    "body_error",
    "category_of",
    "checked_json",
    "error_context",
    "error_entries",
    "has_entities",
    "parse_json",
    "raise_for_response",
    "redact",
]

Category = Literal[
    "licence",
    "login",
    "stamp",
    "entity_set",
    "not_found",
    "unknown_table",
    "write",
    "query",
    "server",
]

# One table, 4D error code -> category (ADR 0018). The code decides, the HTTP status only
# when no code is known: real servers rarely publish the status of an error answer.
CODE_CATEGORIES: Mapping[int, Category] = {
    1823: "licence",  # no client licence free ("Maximum number of sessions")
    1822: "login",  # REST login failed (force-login servers)
    1263: "stamp",  # given stamp does not match the current one
    1046: "stamp",  # cannot save record (comes with 1263 on a stale stamp)
    1802: "entity_set",  # entity set cannot be found (unknown or expired)
    1542: "not_found",  # cannot find entity with key (update of a deleted entity)
    1800: "not_found",  # entity not found
    1801: "unknown_table",  # dataclass unknown or not exposed
    1517: "write",  # entity cannot be saved
    1569: "write",  # value fails a validation rule
    1570: "write",  # entity fails validation
    1112: "query",  # incompatible types
    1162: "query",  # bad value or comparator in a query
    1200: "query",  # error while running the query
    1201: "query",
    1202: "query",
    1203: "query",  # unknown attribute in a query
    1204: "query",
    1279: "query",  # query syntax
    1280: "query",  # query refused
    1500: "server",  # "cannot process": wraps the specific code, alone a server failure
    1804: "query",  # cannot build the list of attributes / invalid parameter
    1808: "query",
    1809: "query",
}
# When several codes name categories, the most specific wins: a stale stamp's 1517 says
# only "cannot be saved", a 1500 wraps whatever failed inside it. The Literal above lists
# the categories in that order, so it is the one place to change it.
_PRIORITY: tuple[Category, ...] = get_args(Category)
QUERY_CODES = frozenset(c for c, k in CODE_CATEGORIES.items() if k == "query")
STAMP_CODES = frozenset(c for c, k in CODE_CATEGORIES.items() if k == "stamp")
LICENCE_CODE = 1823


def category_of(codes: set[int] | frozenset[int]) -> Category | None:
    """Return the category the 4D ``codes`` name (None: no known code among them)."""
    found = {CODE_CATEGORIES[c] for c in codes if c in CODE_CATEGORIES}
    return next((k for k in _PRIORITY if k in found), None)


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
    """The ``__STATUS`` of a body when it reports a failure.

    4D documents failures without a ``success`` key (``{"status": 3, "statusText":
    "Already Locked"}``): ``success: false`` or a status other than 0 is a failure.
    """
    if not isinstance(body, Mapping):
        return None
    status = body.get("__STATUS")
    if not isinstance(status, Mapping):
        return None
    success = status.get("success")
    if success is False:
        return status
    if success is None:
        code = status.get("status")
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
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
    """Return the error hidden in a body (``__ERROR``, a failed ``__STATUS``), by code first."""
    entries = error_entries(body)
    status = _failed_status(body)
    if not entries and status is None:
        return None
    codes = {e.code for e in entries if e.code is not None}
    category = category_of(codes)
    ctx = error_context(request, response, table)
    shown = redact(response.body, secrets)
    text = _first_message(entries, status)
    stale = category == "stamp" or (
        category is None and status is not None and status.get("status") == 2
    )
    if stale:
        current = {k: v for k, v in body.items() if k not in {"__STATUS", "__ERROR"}}
        key = current.get("__KEY")
        msg = f"stamp conflict on {table}[{key}]: the entity changed since it was read ({text})"
        return StampConflict(
            msg,
            key=str(key) if key is not None else None,
            current=current,
            body=shown,
            errors=entries,
            **ctx,
        )
    if category is None and status is not None:
        key = body.get("__KEY")
        where = f"{table}[{key}]" if key is not None else f"{table or ctx['path']}"
        msg = f"{request.environment} refused the request on {where}: {text}"
        return WriteRejected(msg, body=shown, errors=entries, **ctx)
    return _by_category(category, entries, text, ctx, shown, context=context)


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


# category -> (error class, message after "{env}: ", refused before 4D did anything)
_CATEGORY_ERRORS: Mapping[Category, tuple[type[LegacyError], str, bool]] = {
    "licence": (LicenceExhausted, "no 4D client licence is free ({text})", True),
    "login": (AuthenticationFailed, "the server refused the REST login ({text})", True),
    "stamp": (StampConflict, "stamp conflict on {what}: the entity changed ({text})", False),
    "entity_set": (
        EntitySetExpired,
        "the entity set of {what} is unknown or expired ({text})",
        False,
    ),
    "not_found": (RecordNotFound, "no such entity in {what} ({text})", False),
    "unknown_table": (UnknownTable, "unknown table {what} ({text})", False),
    "write": (WriteRejected, "the write to {what} was rejected: {text}", False),
    "query": (InvalidQuery, "4D rejected the query on {what}: {text}", False),
    "server": (ServerError, "4D failed on {what}: {text}", False),
}


def _by_category(
    category: Category | None,
    entries: tuple[FourDErrorEntry, ...],
    text: str,
    ctx: dict[str, Any],
    shown: str,
    *,
    context: Context,
) -> LegacyError:
    """The error of ``category``; without one, a write is rejected and anything else failed."""
    what = ctx["table"] or ctx["path"]
    if category in {None, "server"}:
        # A write refused without a specific code is rejected; anything else failed.
        category = "write" if context == "write" else "server"
    assert category is not None
    cls, template, refused = _CATEGORY_ERRORS[category]
    msg = f"{ctx['environment']}: " + template.format(what=what, text=text)
    return cls(msg, not_applied=refused, body=shown, errors=entries, **ctx)


def raise_for_response(
    request: HttpRequest,
    response: HttpResponse,
    *,
    table: str | None,
    context: Context,
    sent_cookie: bool,
    secrets: tuple[str, ...] = (),
) -> None:
    """Raise the core error matching a non-2xx answer; return quietly for a 2xx.

    The 4D error codes decide (:data:`CODE_CATEGORIES`); the status only where no code is
    known, and for 401 (session or credentials), 402 (licence) and 503 (busy), which say
    that 4D did not process the request at all.
    """
    status = response.status
    if 200 <= status < 300:
        return
    body = _decoded(response)
    entries = error_entries(body)
    codes = {e.code for e in entries if e.code is not None}
    category = category_of(codes)
    text = _first_message(entries, None) if entries else f"HTTP {status}"
    ctx = error_context(request, response, table)
    shown = redact(response.body, secrets)
    env = request.environment
    if status == 401:
        if sent_cookie and context != "login":
            msg = f"{env}: the session is no longer valid (HTTP 401: {text})"
            raise SessionExpired(msg, not_applied=True, body=shown, errors=entries, **ctx)
        msg = f"{env}: the server rejected the credentials (HTTP 401: {text})"
        raise AuthenticationFailed(msg, not_applied=True, body=shown, errors=entries, **ctx)
    if status == 402 or category == "licence":
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
    if category is not None or _failed_status(body) is not None:
        err = body_error(body, request, response, table=table, context=context, secrets=secrets)
        if err is not None:
            raise err
    # No known code: the status decides, and the codes travel with the error.
    if status == 404:
        # Never an expired session: 4D answers 404 for unknown tables, entities and sets.
        raise _not_found(entries, text, ctx, shown, context=context)
    if status in {400, 413}:
        what = "request too large" if status == 413 else "bad request"
        msg = f"{env}: {what} for {table or request.path} (HTTP {status}: {text})"
        raise InvalidQuery(msg, not_applied=True, body=shown, errors=entries, **ctx)
    msg = f"{env}: server error on {table or request.path} (HTTP {status}: {text})"
    raise ServerError(msg, body=shown, errors=entries, transient=status in {502, 504}, **ctx)


def _not_found(
    entries: tuple[FourDErrorEntry, ...],
    text: str,
    ctx: dict[str, Any],
    shown: str,
    *,
    context: Context,
) -> LegacyError:
    env, table = ctx["environment"], ctx["table"]
    if context == "entityset":
        msg = f"{env}: the entity set of {table} is unknown or expired ({text})"
        return EntitySetExpired(msg, body=shown, errors=entries, **ctx)
    if context == "entity":
        msg = f"{env}: no such entity in {table} ({text})"
        return RecordNotFound(msg, body=shown, errors=entries, **ctx)
    msg = f"{env}: unknown table {table or ctx['path']} (HTTP 404: {text})"
    return UnknownTable(msg, body=shown, errors=entries, **ctx)
