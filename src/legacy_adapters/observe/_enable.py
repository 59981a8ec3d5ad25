"""Switching metrics and tracing on: from the environment, a Django setting or a call.

Enabling is idempotent per process: the instrumentation is installed once into
``legacy_core.instrument`` and every client of the process reports to it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from legacy_core import instrument
from legacy_core.errors import ConfigurationError

if TYPE_CHECKING:
    from legacy_adapters.observe._metrics import PrometheusInstrumentation
    from legacy_adapters.observe._tracing import OtelInstrumentation

__all__ = [
    "METRICS_ENV",
    "TRACING_ENV",
    "enable_from_environment",
    "enable_metrics",
    "enable_tracing",
    "metrics_enabled",
    "tracing_enabled",
]

METRICS_ENV = "LEGACY_API_METRICS"
TRACING_ENV = "LEGACY_API_TRACING"

_ON = {"1", "on", "true", "yes"}
_lock = threading.Lock()
_state: dict[str, Any] = {"metrics": None, "tracing": None}


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in _ON


def metrics_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``LEGACY_API_METRICS`` asks for metrics (on, 1, true, yes)."""
    return _flag((os.environ if environ is None else environ).get(METRICS_ENV))


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``LEGACY_API_TRACING`` asks for OpenTelemetry spans."""
    return _flag((os.environ if environ is None else environ).get(TRACING_ENV))


def enable_metrics() -> PrometheusInstrumentation:
    """Install the Prometheus instrumentation (once per process) and return it."""
    with _lock:
        if _state["metrics"] is None:
            try:
                from legacy_adapters.observe._metrics import (  # noqa: PLC0415 - optional extra
                    PrometheusInstrumentation,
                )
            except ImportError as exc:
                msg = f"metrics need the metrics extra: pip install 'legacy-api[metrics]' ({exc})"
                raise ConfigurationError(msg) from None

            _state["metrics"] = PrometheusInstrumentation.create()
        made: PrometheusInstrumentation = _state["metrics"]
        # Re-installed if someone uninstalled it: its metrics exist once per process.
        return instrument.install(made)


def enable_tracing() -> OtelInstrumentation:
    """Install the OpenTelemetry instrumentation (once per process) and return it."""
    with _lock:
        if _state["tracing"] is None:
            try:
                from legacy_adapters.observe._tracing import (  # noqa: PLC0415 - optional extra
                    OtelInstrumentation,
                )
            except ImportError as exc:
                msg = f"tracing needs the otel extra: pip install 'legacy-api[otel]' ({exc})"
                raise ConfigurationError(msg) from None

            _state["tracing"] = OtelInstrumentation()
        tracer: OtelInstrumentation = _state["tracing"]
        return instrument.install(tracer)


def enable_from_environment(
    environ: Mapping[str, str] | None = None, *, metrics: object = None, tracing: object = None
) -> list[str]:
    """Enable what the environment (or ``metrics``/``tracing``, e.g. Django settings) asks for.

    Returns the names of the parts switched on (``["metrics"]``, ...).
    """
    on: list[str] = []
    if _flag(metrics) or metrics_enabled(environ):
        enable_metrics()
        on.append("metrics")
    if _flag(tracing) or tracing_enabled(environ):
        enable_tracing()
        on.append("tracing")
    return on
