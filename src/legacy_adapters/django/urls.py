"""URLs of the legacy API app: ``path("legacy-api/", include("legacy_adapters.django.urls"))``."""

from __future__ import annotations

from django.urls import path

from legacy_adapters.django._health import health_view
from legacy_adapters.django._metrics import metrics_view

__all__ = ["app_name", "urlpatterns"]

app_name = "legacy_api"

urlpatterns = [
    path("health/", health_view, name="health"),
    path("health/<str:env>/", health_view, name="health-env"),
    path("metrics", metrics_view, name="metrics"),
]
