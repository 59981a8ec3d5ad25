"""OpenTelemetry spans (the ``otel`` extra): one per client call, one per HTTP request to 4D.

A client call (``read ART``, ``write ART`` ...) is an INTERNAL span made current for the
call, so the HTTP requests it sends (CLIENT spans) are its children; the span context is
a contextvar, so it follows the call into the client's worker threads (which run in a
copy of the caller's context) and into asyncio tasks. The HTTP span is reported when the
answer is in, with its measured start (``elapsed`` before the end). Attributes: environment,
table, verb, outcome, rows, the request id; the HTTP method, path and 4D status. Never a
cookie, a filter value or a body.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from legacy_core.instrument import Call, HttpEvent, NoInstrumentation

__all__ = ["TRACER_NAME", "OtelInstrumentation"]

TRACER_NAME = "legacy_api"


class OtelInstrumentation(NoInstrumentation):
    """Spans through ``tracer_provider`` (default: the global one the application set up)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        """Use ``tracer_provider``'s tracer named ``legacy_api``."""
        self.tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)

    @contextlib.contextmanager
    def client_call(self, call: Call) -> Iterator[None]:
        """A span around the call, current while it runs; its outcome is set when it ends."""
        attributes: dict[str, Any] = {
            "legacy_api.environment": call.environment,
            "legacy_api.verb": call.verb,
        }
        if call.table:
            attributes["legacy_api.table"] = call.table
        if call.request_id:
            attributes["legacy_api.request_id"] = call.request_id
        name = f"legacy_api {call.verb}" + (f" {call.table}" if call.table else "")
        with self.tracer.start_as_current_span(
            name,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            finally:
                span.set_attribute("legacy_api.outcome", call.outcome)
                if call.rows is not None:
                    span.set_attribute("legacy_api.rows", call.rows)
                if call.entities is not None:
                    span.set_attribute("legacy_api.entities", call.entities)
                if call.error is not None:
                    span.record_exception(call.error)
                    span.set_status(Status(StatusCode.ERROR, call.outcome))

    def http(self, event: HttpEvent) -> None:
        """A CLIENT span for one request to 4D, child of the running call's span."""
        end = time.time_ns()
        start = end - int((event.elapsed or 0.0) * 1e9)
        attributes: dict[str, Any] = {
            "http.request.method": event.method,
            "url.path": event.path,
            "legacy_api.environment": event.environment,
        }
        if event.table:
            attributes["legacy_api.table"] = event.table
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        if event.request_id:
            attributes["legacy_api.request_id"] = event.request_id
        if event.response_bytes is not None:
            attributes["http.response.body.size"] = event.response_bytes
        if event.error:
            attributes["error.type"] = event.error
        span = self.tracer.start_span(
            event.method, kind=SpanKind.CLIENT, start_time=start, attributes=attributes
        )
        if event.status is None or event.status >= 500:
            span.set_status(Status(StatusCode.ERROR, event.error or f"HTTP {event.status}"))
        span.end(end_time=end)
