"""Prometheus metrics of a real client against the emulator over HTTP, in this process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")

from prometheus_client import CollectorRegistry, generate_latest

from fourd_emulator import EmulatorServer
from legacy_adapters.observe import enable_from_environment
from legacy_adapters.observe._metrics import PREFIX, PrometheusInstrumentation
from legacy_core import instrument

from .workload import TABLE, run

pytestmark = pytest.mark.integration

BOUNDED_LABELS = {
    "environment",
    "table",
    "verb",
    "outcome",
    "reason",
    "method",
    "status",
    "event",
    "state",
}


@pytest.fixture
def metrics() -> Iterator[PrometheusInstrumentation]:
    """The Prometheus plug-in on a registry of its own, installed for the test."""
    made = PrometheusInstrumentation.create(CollectorRegistry(), add_to_default=False)
    instrument.install(made)
    yield made
    instrument.uninstall(made)


def value(metrics: PrometheusInstrumentation, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


@pytest.fixture
def worked(
    metrics: PrometheusInstrumentation,
    emulator: EmulatorServer,
    no_licence_server: EmulatorServer,
) -> dict[str, int]:
    """The workload run once against both emulators, with what it did."""
    done = run(emulator.base_url, no_licence_server.base_url, emulator=emulator)
    done["stats"] = emulator.stats()  # type: ignore[assignment]
    return done


def test_calls_rows_and_bytes_match_what_happened(metrics, worked):
    """Rows read, entities written and HTTP requests are what the workload and 4D saw."""
    stats = worked["stats"]
    assert 650 == value(metrics, PREFIX + "rows_read_total", environment="live", table=TABLE)
    assert worked["written"] == value(metrics, PREFIX + "entities_written_total")
    assert stats["requests_total"] == value(
        metrics, PREFIX + "http_requests_total", environment="live"
    )
    assert value(metrics, PREFIX + "received_bytes_total", environment="live") > 0
    ok_reads = value(metrics, PREFIX + "requests_total", verb="read", outcome="ok")
    assert ok_reads == value(
        metrics, PREFIX + "request_duration_seconds_count", verb="read", outcome="ok"
    )


def test_errors_are_counted_by_class(metrics, worked):
    """The missing record, the stale stamp and the 402 each show as their error's outcome."""
    assert 1 == value(metrics, PREFIX + "requests_total", verb="get", outcome="RecordNotFound")
    assert worked["stamp_conflict"] == value(metrics, PREFIX + "stamp_conflicts_total")
    assert 1 == value(metrics, PREFIX + "write_batches_total", outcome="StampConflict")
    assert value(metrics, PREFIX + "licence_refusals_total", environment="test") >= 1
    assert 1 == value(metrics, PREFIX + "requests_total", environment="test", outcome="CircuitOpen")


def test_retries_match_the_503s_the_emulator_sent(metrics, worked):
    """Every 503 the emulator injected was retried once and counted as a ServerBusy retry."""
    injected = worked["stats"]["faults"]["503"]
    assert injected > 0
    assert injected == value(metrics, PREFIX + "retries_total", reason="ServerBusy")


def test_breaker_and_sessions(metrics, worked):
    """The 402 opened the test breaker (state 2); live logged in as often as 4D saw."""
    assert 2.0 == value(metrics, PREFIX + "breaker_state", environment="test")
    assert 0.0 == value(metrics, PREFIX + "breaker_state", environment="live")
    assert 1 == value(metrics, PREFIX + "breaker_transitions_total", environment="test")
    assert worked["stats"]["sessions_created"] == value(
        metrics, PREFIX + "session_events_total", environment="live", event="logins"
    )


def test_labels_are_bounded(metrics, worked):
    """Only the bounded label names appear, and no value carries a key, a filter or a path."""
    assert worked["rows"]
    names: set[str] = set()
    values: set[str] = set()
    for family in metrics.registry.collect():
        for sample in family.samples:
            names.update(k for k in sample.labels if k != "le")
            values.update(v for k, v in sample.labels.items() if k != "le")
    assert names <= BOUNDED_LABELS
    assert not [v for v in values if re.search(r"[/()=$'\"]|\d{5,}", v)]


def test_exposition_names_follow_conventions(metrics, worked):
    """Counters end in _total, durations are seconds, sizes bytes (promtool's lint is separate)."""
    assert worked["rows"]
    text = generate_latest(metrics.registry).decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    assert len(types) >= 14
    samples = re.findall(r"^([a-z_]+)\{", text, flags=re.MULTILINE)
    for name, kind in types.items():
        assert name.startswith(PREFIX)
        if kind == "counter":
            assert name.endswith("_total")
            base = name.removesuffix("_total")
            assert {name, f"{base}_created"} >= {s for s in samples if s.startswith(base + "_")}
        if kind == "histogram":
            assert name.endswith("_seconds")


def test_switched_on_only_when_asked():
    """LEGACY_API_METRICS off (or absent) installs nothing; on installs the plug-in once."""
    assert [] == enable_from_environment({"LEGACY_API_METRICS": "off"})
    assert () == instrument.installed()
    assert ["metrics"] == enable_from_environment({"LEGACY_API_METRICS": "on"})
    assert ["metrics"] == enable_from_environment({}, metrics=True)
    assert 1 == len(instrument.installed())
    assert isinstance(instrument.installed()[0], PrometheusInstrumentation)
