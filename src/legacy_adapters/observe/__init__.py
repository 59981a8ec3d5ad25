"""Observability adapters of the instrumentation port: Prometheus metrics and OpenTelemetry spans.

Importing this package imports neither ``prometheus_client`` nor ``opentelemetry``: they
load when metrics or tracing are switched on (``LEGACY_API_METRICS=on``,
``LEGACY_API_TRACING=on``, the Django settings of the same names, or a direct call).
"""

from __future__ import annotations

from legacy_adapters.observe._enable import (
    METRICS_ENV,
    TRACING_ENV,
    enable_from_environment,
    enable_metrics,
    enable_tracing,
    metrics_enabled,
    tracing_enabled,
)

__all__ = [
    "METRICS_ENV",
    "TRACING_ENV",
    "enable_from_environment",
    "enable_metrics",
    "enable_tracing",
    "metrics_enabled",
    "tracing_enabled",
]
