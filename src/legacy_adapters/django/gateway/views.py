"""The gateway's endpoints: list, get, update, create, delete, describe and health.

Every table endpoint authenticates (Bearer token), checks the consumer's scope, validates
its input (the ``where`` mini-language of the command line, names, limits, the cursor)
and only then calls the shared client; errors become problem bodies (``problems.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from django.db import DatabaseError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_adapters._describe import schema_json
from legacy_adapters.django.gateway._client import gateway_client
from legacy_adapters.django.gateway.auth import (
    BearerTokenAuthentication,
    HasScope,
    authenticators,
    caller_of,
)
from legacy_adapters.django.gateway.cursor import Cursor, make_cursor, query_digest, read_cursor
from legacy_adapters.django.gateway.models import AuditEntry
from legacy_adapters.django.gateway.problems import GatewayProblem, exception_handler
from legacy_adapters.django.gateway.throttle import CallerRateThrottle
from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core.errors import EntitySetExpired, LegacyError, StampConflict
from legacy_core.model import FieldUpdate, OrderBy, Page, validate_identifier
from legacy_core.query import Filter, attributes_of, parse_where

__all__ = ["DescribeView", "HealthView", "RecordView", "TableView"]

_log = get_logger()

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WHERE = 4000  # characters of a ``where``: longer is an attack or a mistake


def _settings_int(name: str, default: int) -> int:
    from django.conf import settings  # noqa: PLC0415

    value = getattr(settings, "LEGACY_API_GATEWAY", {}).get(name, default)
    return int(value)


class _GatewayView(APIView):
    """Bearer tokens, scopes, JSON in and out, problem bodies for every error."""

    authentication_classes: ClassVar[list[Any]] = [BearerTokenAuthentication]
    permission_classes: ClassVar[list[Any]] = [HasScope]
    # JSON only, whatever the project's defaults (no browsable API, no form parsing).
    renderer_classes: ClassVar[list[Any]] = [JSONRenderer]
    parser_classes: ClassVar[list[Any]] = [JSONParser]
    throttle_classes: ClassVar[list[Any]] = [CallerRateThrottle]
    actions: ClassVar[dict[str, str]] = {}

    def get_authenticators(self) -> list[Any]:
        """Gateway tokens, and JWTs when ``LEGACY_API_GATEWAY["JWT"]`` is on."""
        return authenticators()

    def action_for(self, request: Request) -> str:
        """The scope action this request needs (``read``, ``write``, ``create``, ``delete``)."""
        return self.actions.get(request.method or "GET", "write")

    def get_exception_handler(self) -> Any:
        """Problem bodies whatever the project's ``REST_FRAMEWORK`` says."""
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Authenticate and authorise, then refuse an unknown environment without a request."""
        super().initial(request, *args, **kwargs)
        env = kwargs.get("env")
        if env is not None and env not in gateway_client().environments:
            raise GatewayProblem(
                404, "unknown-environment", "Unknown environment",
                f"environment {env!r} is not configured", environment=env,
            )  # fmt: skip
        table = kwargs.get("table")
        if table is not None:
            _identifier(table, "table")


def _identifier(name: str, what: str) -> str:
    try:
        validate_identifier(name, what)
    except LegacyError as exc:
        raise GatewayProblem(400, "invalid-name", f"Invalid {what}", exc.message) from None
    return name


def _names(text: str | None, what: str) -> list[str]:
    if not text:
        return []
    return [_identifier(n.strip(), what) for n in text.split(",") if n.strip()]


def _orders(text: str | None) -> list[str]:
    out = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            order = OrderBy.parse(part.strip())
        except LegacyError as exc:
            raise GatewayProblem(400, "invalid-order", "Invalid order_by", exc.message) from None
        out.append(f"{order.field} desc" if order.descending else order.field)
    return out


def _limit(text: str | None) -> int:
    maximum = _settings_int("MAX_PAGE_SIZE", MAX_LIMIT)
    if text is None or text == "":
        return min(_settings_int("PAGE_SIZE", DEFAULT_LIMIT), maximum)
    # Length first: int() of thousands of digits raises (Python's int-string limit).
    if not text.isascii() or not text.isdigit() or len(text) > 9 or not 1 <= int(text) <= maximum:
        raise GatewayProblem(
            400, "invalid-limit", "Invalid limit",
            f"limit must be a whole number from 1 to {maximum}, got {text[:40]!r}",
            max_page_size=maximum,
        )  # fmt: skip
    return int(text)


def _where(text: str) -> Filter | None:
    if not text.strip():
        return None
    if len(text) > MAX_WHERE:
        raise GatewayProblem(
            400, "where-syntax", "Malformed filter",
            f"where is {len(text)} characters long; at most {MAX_WHERE}",
        )  # fmt: skip
    try:
        return parse_where(text)
    except RecursionError:
        # The parser recurses per parenthesis: a deep nesting is bad input, not a 500.
        raise GatewayProblem(
            400, "where-syntax", "Malformed filter", "where is nested too deeply"
        ) from None


def _stamp_header(request: Request) -> int | None:
    """The ``If-Match`` stamp (``"12"``, ``W/"12"`` or ``12``); 400 if it is not one."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise GatewayProblem(
            400, "invalid-if-match", "Invalid If-Match",
            "If-Match must be the record's __STAMP, e.g. If-Match: \"12\"",
        )  # fmt: skip
    return int(text)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, Mapping) or not data:
        raise GatewayProblem(
            400, "bad-request", "Invalid request body",
            "the body must be a non-empty JSON object of field values",
        )  # fmt: skip
    values = dict(data)
    for name in values:
        if name != "__STAMP":
            _identifier(name, "field")
    return values


class _Audit:
    """One audit row per write: saved as ``pending`` before 4D is called, completed after.

    The row exists before the write is sent, so no write goes unlogged: if the database
    is down the write is refused (503). If completing the row fails after 4D applied the
    write, the answer still reports the write (a client must not resend it) and the
    failure is logged; the row stays ``pending``.
    """

    def __init__(
        self, request: Request, action: str, key: str, before: int | None, fields: list[str]
    ) -> None:
        caller = caller_of(request)
        self.entry = AuditEntry.record(
            consumer=caller.name if caller is not None else "?",
            environment=request.parser_context["kwargs"]["env"],
            table=request.parser_context["kwargs"]["table"],
            action=action,
            key=key,
            before_stamp=before,
            fields=fields,
            outcome="pending",
            request_id=instrument.current_request_id() or "",
        )

    def done(self, outcome: str, *, key: str | None = None, after: int | None = None) -> None:
        """Record how the write ended."""
        self.entry.outcome = outcome
        self.entry.after_stamp = after
        if key is not None:
            self.entry.key = key
        try:
            self.entry.save(update_fields=["outcome", "after_stamp", "key"])
        except DatabaseError:
            _log.exception("legacy_api.gateway.audit_incomplete", audit_id=self.entry.pk)


def _allowed(request: Request, table: str) -> tuple[str, ...] | None:
    """The caller's field allow-list of ``table`` (None: every field)."""
    caller = caller_of(request)
    return () if caller is None else caller.allowed_fields(table)


def _only_allowed(
    names: Iterable[str], allowed: tuple[str, ...] | None, table: str, what: str
) -> None:
    """403 if a name is outside the allow-list (the names 4D manages are always allowed)."""
    if allowed is None:
        return
    outside = sorted({n for n in names if not n.startswith("__")} - set(allowed))
    if outside:
        raise GatewayProblem(
            403, "field-forbidden", "Field not allowed",
            f"this token may not {what} {', '.join(outside)} of {table}",
            table=table, fields=outside,
        )  # fmt: skip


def _visible(record: Mapping[str, Any], allowed: tuple[str, ...] | None) -> dict[str, Any]:
    public = _public(record)
    if allowed is None:
        return public
    return {k: v for k, v in public.items() if k.startswith("__") or k in allowed}


def _outcome(exc: Exception) -> str:
    return type(exc).__name__


_PROBLEM = OpenApiResponse(
    inline_serializer(
        "Problem",
        {
            "type": serializers.CharField(),
            "title": serializers.CharField(),
            "status": serializers.IntegerField(),
            "detail": serializers.CharField(),
            "instance": serializers.CharField(required=False),
            "request_id": serializers.CharField(required=False),
        },
    ),
    description="RFC 9457 problem details",
)
_READ_ERRORS = (400, 401, 403, 404, 429, 502, 503, 504)
_LIST_ERRORS = (*_READ_ERRORS, 410)
_WRITE_ERRORS = (*_READ_ERRORS, 409, 412, 422)


def _responses(ok: dict[int, Any], errors: tuple[int, ...]) -> dict[Any, Any]:
    """The success answers as JSON, the errors as ``application/problem+json`` problems."""
    out: dict[Any, Any] = {(code, "application/json"): schema for code, schema in ok.items()}
    out.update({(code, "application/problem+json"): _PROBLEM for code in errors})
    return out


_LIST_PARAMS = [
    OpenApiParameter(
        "where", str, description="filter in the mini-language: Nummer = 1 and Aktiv = true"
    ),
    OpenApiParameter("fields", str, description="comma-separated field names"),
    OpenApiParameter("order_by", str, description="comma-separated, 'Name' or 'Name desc'"),
    OpenApiParameter("limit", int, description=f"page size, 1 to {MAX_LIMIT}"),
    OpenApiParameter("cursor", str, description="the 'next' of the previous page"),
]


def _cached(client: Any, env: str, table: str) -> bool:
    """Whether ``table`` of ``env`` is opted in to the client's read cache."""
    return client.read_cache is not None and client.read_cache.ttl(env, table) is not None


def _snapshot_page(  # noqa: PLR0917 - the list's parsed query, passed on
    client: Any,
    env: str,
    table: str,
    cursor: Cursor | None,
    limit: int,
    where: Filter | None,
    fields: list[str],
    order_by: list[str],
) -> Page:
    """The page of the cursor's snapshot, or the first page of a new one; 410 if it expired."""
    try:
        page: Page = client.snapshot_page(
            table,
            entity_set=cursor.entity_set if cursor is not None else None,
            skip=cursor.skip if cursor is not None else 0,
            limit=limit,
            where=where,
            fields=fields or None,
            order_by=order_by or None,
            environment=env,
        )
    except EntitySetExpired:
        if cursor is None:
            raise
        raise GatewayProblem(
            410, "cursor-expired", "Cursor expired",
            "the snapshot behind this cursor has expired on the server; start the list again",
            environment=env, table=table,
        ) from None  # fmt: skip
    return page


class TableView(_GatewayView):
    """``GET /api/{env}/{table}/`` lists a page; ``POST`` creates one record."""

    actions: ClassVar[dict[str, str]] = {"GET": "read", "POST": "create"}

    @extend_schema(
        operation_id="list",
        parameters=_LIST_PARAMS,
        responses=_responses({200: OpenApiTypes.OBJECT}, _LIST_ERRORS),
    )
    def get(self, request: Request, env: str, table: str) -> Response:
        """One page of the records matching ``where``, and the cursor of the next."""
        where_text = request.query_params.get("where", "")
        where = _where(where_text)
        fields = _names(request.query_params.get("fields"), "field")
        order_by = _orders(request.query_params.get("order_by"))
        limit = _limit(request.query_params.get("limit"))
        allowed = _allowed(request, table)
        _only_allowed(fields, allowed, table, "read")
        _only_allowed(
            attributes_of(where) if where is not None else (), allowed, table, "filter by"
        )
        _only_allowed((o.split()[0] for o in order_by), allowed, table, "order by")
        if allowed is not None and not fields:
            fields = list(allowed)
        digest = query_digest(env, table, where_text, fields, order_by)
        caller = caller_of(request)
        consumer = caller.name if caller is not None else "?"
        raw_cursor = request.query_params.get("cursor")
        cursor = read_cursor(raw_cursor, digest, consumer) if raw_cursor else None
        client = gateway_client()
        skip = cursor.skip if cursor is not None else 0
        if _cached(client, env, table):
            # A table opted in to the read cache (ADR 0030) is read through it, by offset:
            # the cache's entry is the snapshot, and a write through any client of the
            # deployment invalidates it.
            # Consumed to its end (one page: limit == page_size): the cache stores an entry
            # only when its read completes.
            pages = list(
                client.iter_pages(
                    table, where=where, fields=fields or None, order_by=order_by or None,
                    limit=limit, skip=skip, page_size=limit, workers=1, consistent=False,
                    environment=env,
                )
            )  # fmt: skip
            if pages:
                page = pages[0]
            else:  # a skip past the end: no page, but the count is still true
                page = Page([], client.count(table, where, environment=env), skip)
        else:
            page = _snapshot_page(client, env, table, cursor, limit, where, fields, order_by)
        records = [_visible(r, allowed) for r in page.records]
        count = page.count
        end = skip + len(records)
        snapshot = page.entity_set
        nxt = (
            make_cursor(end, snapshot, digest, consumer)
            if records and end < count and (snapshot is not None or _cached(client, env, table))
            else None
        )
        return Response({"results": records, "next": nxt, "count": count})

    @extend_schema(
        operation_id="create",
        request=OpenApiTypes.OBJECT,
        responses=_responses({201: OpenApiTypes.OBJECT}, _WRITE_ERRORS),
    )
    def post(self, request: Request, env: str, table: str) -> Response:
        """Create a record from a JSON object of field values; 201 with its key and stamp."""
        values = _body(request)
        values.pop("__STAMP", None)
        _only_allowed(values, _allowed(request, table), table, "write")
        if not values:
            raise GatewayProblem(400, "bad-request", "Invalid request body", "no field to set")
        audit = _Audit(request, "create", "", None, sorted(values))
        try:
            result = gateway_client().create(table, values, environment=env)
        except LegacyError as exc:
            audit.done(_outcome(exc))
            raise
        audit.done("saved", key=result.key, after=result.stamp)
        body = {
            **_visible(result.record, _allowed(request, table)),
            "__KEY": result.key,
            "__STAMP": result.stamp,
        }
        return Response(
            body,
            status=201,
            headers={"Location": f"{request.path}{result.key}/", "ETag": f'"{result.stamp}"'},
        )


class RecordView(_GatewayView):
    """``GET``, ``PATCH`` and ``DELETE /api/{env}/{table}/{key}/``."""

    actions: ClassVar[dict[str, str]] = {"GET": "read", "PATCH": "write", "DELETE": "delete"}

    @extend_schema(
        operation_id="retrieve",
        responses={**_responses({200: OpenApiTypes.OBJECT}, _READ_ERRORS), 304: None},
    )
    def get(self, request: Request, env: str, table: str, key: str) -> Response:
        """One record by ``__KEY``; 404 problem if there is none."""
        record = gateway_client().get_record(table, key, environment=env)
        record = _visible(record, _allowed(request, table))
        stamp = _stamp_of(record)
        if stamp is None:
            return Response(record)
        etag = f'"{stamp}"'
        wanted = request.headers.get("If-None-Match", "")
        if etag in {t.strip().removeprefix("W/") for t in wanted.split(",")} or wanted == "*":
            return Response(status=304, headers={"ETag": etag})
        return Response(record, headers={"ETag": etag})

    @extend_schema(
        operation_id="update",
        request=OpenApiTypes.OBJECT,
        responses=_responses({200: OpenApiTypes.OBJECT}, _WRITE_ERRORS),
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER)],
    )
    def patch(self, request: Request, env: str, table: str, key: str) -> Response:
        """Set fields; only if unchanged with ``If-Match`` (412) or body ``__STAMP`` (409)."""
        values = _body(request)
        header_stamp = _stamp_header(request)
        body_stamp = values.pop("__STAMP", None)
        if body_stamp is not None and (
            not isinstance(body_stamp, int)
            or isinstance(body_stamp, bool)
            or not 0 <= body_stamp < 2**63
        ):
            raise GatewayProblem(
                400, "bad-request", "Invalid __STAMP", "__STAMP must be an integer >= 0 (64 bits)"
            )
        if not values:
            raise GatewayProblem(400, "bad-request", "Invalid request body", "no field to set")
        _only_allowed(values, _allowed(request, table), table, "write")
        expected = header_stamp if header_stamp is not None else body_stamp
        client = gateway_client()
        before = expected
        if before is None:
            # The audit log names the stamp the write replaced: read it (also 404s early).
            before = _stamp_of(client.get_record(table, key, environment=env))
        audit = _Audit(request, "write", key, before, sorted(values))
        try:
            result = client.update_many(
                [FieldUpdate(table, str(key), values, expected_stamp=expected, environment=env)],
                environment=env,
            )[0]
        except StampConflict as exc:
            audit.done("conflict", after=exc.current_stamp)
            if header_stamp is not None:
                raise GatewayProblem(
                    412, "precondition-failed", "The record changed since it was read",
                    f"If-Match {header_stamp} is not the current __STAMP",
                    environment=env, table=table, key=key, current_stamp=exc.current_stamp,
                ) from None  # fmt: skip
            raise
        except LegacyError as exc:
            audit.done(_outcome(exc))
            raise
        audit.done("saved", after=result.stamp)
        body = {
            **_visible(result.record, _allowed(request, table)),
            "__KEY": result.key,
            "__STAMP": result.stamp,
        }
        return Response(body, headers={"ETag": f'"{result.stamp}"'})

    @extend_schema(
        operation_id="destroy",
        responses={204: None, **_responses({}, _WRITE_ERRORS)},
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER)],
    )
    def delete(self, request: Request, env: str, table: str, key: str) -> Response:
        """Delete the record; with ``If-Match`` only if unchanged (412)."""
        expected = _stamp_header(request)
        client = gateway_client()
        before = expected
        if before is None:
            before = _stamp_of(client.get_record(table, key, environment=env))
        audit = _Audit(request, "delete", key, before, [])
        try:
            client.delete(table, key, expected_stamp=expected, environment=env)
        except StampConflict as exc:
            audit.done("conflict", after=exc.current_stamp)
            raise GatewayProblem(
                412, "precondition-failed", "The record changed since it was read",
                f"If-Match {expected} is not the current __STAMP",
                environment=env, table=table, key=key, current_stamp=exc.current_stamp,
            ) from None  # fmt: skip
        except LegacyError as exc:
            audit.done(_outcome(exc))
            raise
        audit.done("deleted")
        return Response(status=204)


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record without 4D's own paths: deferred relations, ``uri``, ``__entityModel``."""
    return {
        k: v
        for k, v in record.items()
        if not (isinstance(v, Mapping) and "__deferred" in v)
        and not (k == "uri" and isinstance(v, str) and v.startswith("/rest/"))
        and k != "__entityModel"
    }


def _stamp_of(record: Mapping[str, Any]) -> int | None:
    stamp = record.get("__STAMP")
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None


class DescribeView(_GatewayView):
    """``GET /api/{env}/{table}/describe/``: the table's fields, types and primary key."""

    actions: ClassVar[dict[str, str]] = {"GET": "read"}

    @extend_schema(
        operation_id="describe", responses=_responses({200: OpenApiTypes.OBJECT}, _READ_ERRORS)
    )
    def get(self, request: Request, env: str, table: str) -> Response:
        """The schema from 4D's ``$catalog`` (cached by the client)."""
        schema = schema_json(gateway_client().describe(table, environment=env))
        allowed = _allowed(request, table)
        if allowed is not None:
            schema["attributes"] = [a for a in schema["attributes"] if a["name"] in allowed]
        return Response(schema)


class HealthView(APIView):
    """``GET /api/health/``: each environment ok or not (no token; no error text, no URL)."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes: ClassVar[list[Any]] = []
    renderer_classes: ClassVar[list[Any]] = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        """Problem bodies here too."""
        return exception_handler

    @extend_schema(
        operation_id="health",
        responses=_responses({200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT}, ()),
    )
    def get(self, request: Request) -> Response:
        """200 when every environment answers, else 503; per environment ok and latency (s)."""
        report = gateway_client().health()
        environments = {
            name: {"ok": bool(item.get("ok")), "latency": item.get("latency")}
            for name, item in report.items()
        }
        ok = all(e["ok"] for e in environments.values())
        return Response(
            {"status": "ok" if ok else "degraded", "environments": environments},
            status=200 if ok else 503,
        )
