"""``GET /metrics`` of the app: the client's Prometheus metrics when metrics are on.

On when ``settings.LEGACY_API_METRICS`` is true or ``LEGACY_API_METRICS=on``; then the
view serves this process's metrics, or in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)
every process's. Off, it answers 404 saying how to switch them on.
"""

from __future__ import annotations

from typing import Any

__all__ = ["metrics_on", "metrics_view"]


def metrics_on() -> bool:
    """Whether the Django setting or the environment switches metrics on."""
    from django.conf import settings  # noqa: PLC0415 - Django is an optional extra

    from legacy_adapters.observe import metrics_enabled  # noqa: PLC0415

    return bool(getattr(settings, "LEGACY_API_METRICS", False)) or metrics_enabled()


def metrics_view(request: Any) -> Any:
    """The exposition (``text/plain; version=0.0.4``), or 404 when metrics are off."""
    from django.http import HttpResponse  # noqa: PLC0415

    if not metrics_on():
        return HttpResponse(
            b"metrics are off: set LEGACY_API_METRICS = True (settings) or LEGACY_API_METRICS=on\n",
            status=404,
            content_type="text/plain",
        )
    from legacy_adapters.observe._metrics import exposition  # noqa: PLC0415 - the extra

    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
