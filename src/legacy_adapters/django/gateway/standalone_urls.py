"""The standalone gateway's root URLs: the gateway under ``/api/``, and ``/api/metrics``.

``/api/metrics`` is the client's Prometheus exposition when ``LEGACY_API_METRICS=on``
(every worker's with ``PROMETHEUS_MULTIPROC_DIR``), else a 404; like the app's own
metrics view it has no token (scrapers run on the internal network).
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from legacy_adapters.django._metrics import metrics_view

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/metrics", metrics_view, name="metrics"),
    path("api/", include("legacy_adapters.django.gateway.urls")),
]
