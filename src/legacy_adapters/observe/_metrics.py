"""Prometheus metrics of the client: the ``PrometheusInstrumentation`` and the exposition.

Names follow Prometheus conventions (``legacy_api_`` prefix, base units, ``_total``
counters) and labels are bounded: environment, table, verb, outcome (an error class
name), HTTP method and status, session event, breaker state — never a key, a filter or a
URL path (ADR 0021). The metrics live in a registry of their own, also added to
prometheus_client's default registry so an application exporter (django-prometheus)
includes them; the ``legacy_api_`` prefix keeps them apart from its ``django_`` ones.

Multiprocess mode (gunicorn, Celery, scripts) is prometheus_client's: set
``PROMETHEUS_MULTIPROC_DIR`` before the process starts; every process writes its values
there and :func:`exposition` reads them all.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator

import attrs
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from legacy_core.instrument import Call, HttpEvent, NoInstrumentation

__all__ = [
    "BREAKER_STATES",
    "CONTENT_TYPE_LATEST",
    "PREFIX",
    "PrometheusInstrumentation",
    "exposition",
    "multiprocess_dir",
]

PREFIX = "legacy_api_"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: The value of ``legacy_api_breaker_state`` per state.
BREAKER_STATES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}

# Client calls last from milliseconds (a cached page) to a minute (a big write at 4D).
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_OTHER = "other"


def multiprocess_dir() -> str | None:
    """The multiprocess directory when prometheus_client's multiprocess mode is on."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


@attrs.define(eq=False)
class _Bounded:
    """Caps the distinct values of one label: new ones past ``limit`` become ``other``."""

    limit: int
    seen: set[str] = attrs.field(factory=set)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def __call__(self, value: str | None) -> str:
        value = value or ""
        if value in self.seen:
            return value
        with self.lock:
            if len(self.seen) >= self.limit:
                return _OTHER
            self.seen.add(value)
        return value


@attrs.define(eq=False)
class PrometheusInstrumentation(NoInstrumentation):
    """Counts, times and gauges what the client reports (see the README's metric list)."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    http_requests: Counter
    http_duration: Histogram
    received: Counter
    rows: Counter
    write_batches: Counter
    entities: Counter
    stamp_conflicts: Counter
    rebuilds: Counter
    retries: Counter
    breaker_state: Gauge
    breaker_transitions: Counter
    sessions: Counter
    licence_refusals: Counter
    budget: Counter
    cache: Counter
    sync_conflicts: Counter
    tables: _Bounded = attrs.field(factory=lambda: _Bounded(500))
    _states: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def create(
        cls, registry: CollectorRegistry | None = None, *, add_to_default: bool = True
    ) -> PrometheusInstrumentation:
        """Create the metrics in ``registry`` (a new one by default) and return the plug-in.

        ``add_to_default`` also registers that registry with prometheus_client's default
        one, which application exporters serve.
        """
        reg = registry if registry is not None else CollectorRegistry(auto_describe=True)
        call = ("environment", "table", "verb", "outcome")
        env_table = ("environment", "table")
        made = cls(
            registry=reg,
            requests=Counter(
                PREFIX + "requests",
                "Client calls (each one retried as a whole) by outcome.",
                call,
                registry=reg,
            ),
            duration=Histogram(
                PREFIX + "request_duration_seconds",
                "Duration of client calls, retries and backoff included.",
                call,
                buckets=_CALL_BUCKETS,
                registry=reg,
            ),
            http_requests=Counter(
                PREFIX + "http_requests",
                "HTTP requests sent to 4D by status ('none': no answer arrived).",
                ("environment", "table", "method", "status"),
                registry=reg,
            ),
            http_duration=Histogram(
                PREFIX + "http_request_duration_seconds",
                "Duration of one HTTP request to 4D.",
                ("environment", "method"),
                buckets=_CALL_BUCKETS,
                registry=reg,
            ),
            received=Counter(
                PREFIX + "received_bytes",
                "Bytes of response bodies received from 4D.",
                env_table,
                registry=reg,
            ),
            rows=Counter(PREFIX + "rows_read", "Rows read from 4D.", env_table, registry=reg),
            write_batches=Counter(
                PREFIX + "write_batches",
                "Write requests (batches of entities) by outcome.",
                ("environment", "table", "outcome"),
                registry=reg,
            ),
            entities=Counter(
                PREFIX + "entities_written",
                "Entities 4D saved.",
                env_table,
                registry=reg,
            ),
            stamp_conflicts=Counter(
                PREFIX + "stamp_conflicts",
                "Entities refused because their stamp was stale.",
                env_table,
                registry=reg,
            ),
            rebuilds=Counter(
                PREFIX + "snapshot_rebuilds",
                "Snapshots (entity sets) that expired mid-read and were rebuilt.",
                env_table,
                registry=reg,
            ),
            retries=Counter(
                PREFIX + "retries",
                "Attempts retried, by the error class that caused the retry.",
                ("environment", "table", "verb", "reason"),
                registry=reg,
            ),
            breaker_state=Gauge(
                PREFIX + "breaker_state",
                "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                ("environment",),
                registry=reg,
                multiprocess_mode="livemax",
            ),
            breaker_transitions=Counter(
                PREFIX + "breaker_transitions",
                "Circuit breaker transitions by the state entered.",
                ("environment", "state"),
                registry=reg,
            ),
            sessions=Counter(
                PREFIX + "session_events",
                "Session provider events: logins, recoveries (re-logins), adopted, "
                "orphans_closed, orphans_left, licence_refusals, ...",
                ("environment", "event"),
                registry=reg,
            ),
            licence_refusals=Counter(
                PREFIX + "licence_refusals",
                "Logins 4D refused with HTTP 402 (no licence free).",
                ("environment",),
                registry=reg,
            ),
            budget=Counter(
                PREFIX + "budget_events",
                "Request budget events: waits (a request waited for a permit), exhausted.",
                ("environment", "event"),
                registry=reg,
            ),
            cache=Counter(
                PREFIX + "cache_events",
                "Read cache events: hits, misses (one fetch for the deployment), stored, "
                "refreshes, bypassed, invalidations, refused, timeouts, errors.",
                ("environment", "table", "event"),
                registry=reg,
            ),
            sync_conflicts=Counter(
                PREFIX + "sync_conflicts",
                "Write-back conflicts by the mapping's policy and the decision taken "
                "(resend, keep_legacy, park, applied; ADR 0036).",
                ("table", "policy", "decision"),
                registry=reg,
            ),
        )
        if add_to_default and reg is not REGISTRY:
            with contextlib.suppress(ValueError):  # already added (a second create)
                REGISTRY.register(reg)
        return made

    @contextlib.contextmanager
    def client_call(self, call: Call) -> Iterator[None]:
        """Count and time the call when it ends, whatever its outcome."""
        try:
            yield
        finally:
            self._ended(call)

    def _ended(self, call: Call) -> None:
        env, table = call.environment, self.tables(call.table)
        labels = (env, table, call.verb, call.outcome)
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(call.elapsed or 0.0)
        if call.rows:
            self.rows.labels(env, table).inc(call.rows)
        if call.verb in {"write", "create"}:
            self.write_batches.labels(env, table, call.outcome).inc()
        if call.entities:
            self.entities.labels(env, table).inc(call.entities)
        if call.stamp_conflicts:
            self.stamp_conflicts.labels(env, table).inc(call.stamp_conflicts)
        if call.outcome == "EntitySetExpired":
            self.rebuilds.labels(env, table).inc()
        if call.outcome == "CircuitOpen":
            self._set_state(env, "open")
        elif env not in self._states:
            # No transition seen in this process yet: the breaker let the call through.
            self._set_state(env, "closed")

    def http(self, event: HttpEvent) -> None:
        """Count and time one request to 4D; add the bytes received."""
        env, table = event.environment, self.tables(event.table)
        status = "none" if event.status is None else str(event.status)
        self.http_requests.labels(env, table, event.method, status).inc()
        if event.elapsed is not None:
            self.http_duration.labels(env, event.method).observe(event.elapsed)
        if event.response_bytes:
            self.received.labels(env, table).inc(event.response_bytes)

    def session_event(self, environment: str, name: str) -> None:
        """Count a session event; a 402 refusal also counts as a licence refusal."""
        self.sessions.labels(environment, name).inc()
        if name == "licence_refusals":
            self.licence_refusals.labels(environment).inc()

    def breaker_transition(self, environment: str, state: str) -> None:
        """Set the state gauge and count the transition."""
        self.breaker_transitions.labels(environment, state).inc()
        self._set_state(environment, state)

    def retry(self, environment: str, verb: str, table: str | None, reason: str) -> None:
        """Count one retried attempt."""
        self.retries.labels(environment, self.tables(table), verb, reason).inc()

    def budget_event(self, environment: str, name: str) -> None:
        """Count a request-budget event (``waits``, ``exhausted``)."""
        self.budget.labels(environment, name).inc()

    def cache_event(self, environment: str, table: str, name: str) -> None:
        """Count a read-cache event (``hits``, ``misses``, ``bypassed``... ADR 0030)."""
        self.cache.labels(environment, self.tables(table), name).inc()

    def sync_conflict(self, table: str, policy: str, decision: str) -> None:
        """Count a write-back conflict decision."""
        self.sync_conflicts.labels(self.tables(table), policy, decision).inc()

    def _set_state(self, environment: str, state: str) -> None:
        self._states[environment] = state
        self.breaker_state.labels(environment).set(BREAKER_STATES.get(state, 0.0))


class _Prefixed(Collector):
    """A collector passing on only the ``legacy_api_`` families of another one."""

    def __init__(self, inner: MultiProcessCollector) -> None:
        self.inner = inner

    def collect(self) -> Iterable[Metric]:
        """The inner collector's families named ``legacy_api_*``."""
        families = self.inner.collect()  # type: ignore[no-untyped-call]
        return [m for m in families if m.name.startswith(PREFIX)]


def exposition(registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The text exposition of the client's metrics and its content type.

    In multiprocess mode it is what every process wrote to ``PROMETHEUS_MULTIPROC_DIR``
    (only the ``legacy_api_`` families: an application's own metrics in the same
    directory are its exporter's); otherwise ``registry`` (default: the installed one).
    """
    directory = multiprocess_dir()
    if directory is not None:
        merged = CollectorRegistry()
        every_process = MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
        merged.register(_Prefixed(every_process))
        return generate_latest(merged), CONTENT_TYPE_LATEST
    if registry is None:
        from legacy_adapters.observe._enable import enable_metrics  # noqa: PLC0415

        registry = enable_metrics().registry
    return generate_latest(registry), CONTENT_TYPE_LATEST
