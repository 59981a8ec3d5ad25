"""OpenTelemetry spans of a real client against the emulator, in the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra (and its SDK) is not installed")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fourd_emulator import EmulatorServer
from legacy_adapters.observe._tracing import OtelInstrumentation
from legacy_core import instrument
from legacy_core.errors import RecordNotFound

from .workload import TABLE, client_for

pytestmark = pytest.mark.integration


@pytest.fixture
def provider() -> TracerProvider:
    return TracerProvider()


@pytest.fixture
def exporter(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """Spans of the client, kept in memory; the plug-in installed for the test."""
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    plugin = instrument.install(OtelInstrumentation(provider))
    yield memory
    instrument.uninstall(plugin)


def _calls(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith("legacy_api ")]


def _http(spans: tuple[ReadableSpan, ...], table: str | None = None) -> list[ReadableSpan]:
    """The HTTP spans (of requests for ``table``: not the session's own requests)."""
    return [
        s
        for s in spans
        if s.kind is SpanKind.CLIENT
        and (table is None or (s.attributes or {}).get("legacy_api.table") == table)
    ]


def test_each_call_and_request_is_a_span_with_attributes(emulator: EmulatorServer, exporter):
    """A read is a call span with environment/table/verb/rows, its GET a child with the status."""
    client = client_for(emulator.base_url)
    assert 7 == len(client.fetch_frame(TABLE, limit=7, consistent=False))
    spans = exporter.get_finished_spans()
    (call,) = _calls(spans)
    (get,) = [s for s in _http(spans) if (s.attributes or {})["url.path"] == f"/rest/{TABLE}"]
    assert f"legacy_api read {TABLE}" == call.name
    assert {
        "legacy_api.environment": "live",
        "legacy_api.table": TABLE,
        "legacy_api.verb": "read",
        "legacy_api.outcome": "ok",
        "legacy_api.rows": 7,
    }.items() <= dict(call.attributes or {}).items()
    assert get.parent is not None
    assert call.context.span_id == get.parent.span_id
    assert 200 == (get.attributes or {})["http.response.status_code"]
    assert call.start_time <= get.start_time <= get.end_time <= call.end_time


def test_errors_mark_the_spans(emulator: EmulatorServer, exporter):
    """A missing record ends the call span in ERROR with its class; the GET shows 404."""
    client = client_for(emulator.base_url)
    with pytest.raises(RecordNotFound):
        client.get_record(TABLE, 99_999_999)
    spans = exporter.get_finished_spans()
    (call,) = _calls(spans)
    assert StatusCode.ERROR is call.status.status_code
    assert "RecordNotFound" == (call.attributes or {})["legacy_api.outcome"]
    assert [404] == [(s.attributes or {})["http.response.status_code"] for s in _http(spans, TABLE)]


def test_context_follows_the_call_into_worker_threads(emulator, exporter, provider):
    """Pages read by 4 worker threads are spans in the caller's trace, under its span."""
    client = client_for(emulator.base_url, page_size=50, workers=4)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("job") as job:
        assert 400 == len(client.fetch_frame(TABLE, limit=400))
    spans = exporter.get_finished_spans()
    calls = _calls(spans)
    assert len(calls) >= 8
    assert {job.get_span_context().trace_id} == {s.context.trace_id for s in spans}
    assert {job.get_span_context().span_id} == {c.parent.span_id for c in calls if c.parent}
    by_id = {c.context.span_id for c in calls}
    assert all(h.parent is not None and h.parent.span_id in by_id for h in _http(spans))


def test_context_follows_asyncio_tasks(emulator, exporter, provider):
    """Two asyncio tasks, each under its own span, get their calls parented to their span."""
    client = client_for(emulator.base_url)
    tracer = provider.get_tracer("test")

    async def task(name: str) -> int:
        with tracer.start_as_current_span(name):
            return await asyncio.to_thread(client.count, TABLE)

    async def main() -> list[int]:
        return list(await asyncio.gather(task("a"), task("b")))

    assert 2 == len(asyncio.run(main()))
    spans = exporter.get_finished_spans()
    parents = {s.name: s.context.span_id for s in spans if s.name in {"a", "b"}}
    calls = _calls(spans)
    assert sorted(parents.values()) == sorted(c.parent.span_id for c in calls if c.parent)


def test_the_request_id_is_a_span_attribute(emulator, exporter):
    """Inside a request scope the call and its HTTP spans carry the bound request id."""
    client = client_for(emulator.base_url)
    with instrument.request_scope("trace-me-42"):
        client.count(TABLE)
    spans = exporter.get_finished_spans()
    assert spans
    assert {"trace-me-42"} == {(s.attributes or {}).get("legacy_api.request_id") for s in spans}
