"""URLs of the test project: the app's health view, and django-health-check's with our check."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from health_check.views import HealthCheckView

urlpatterns: list[URLPattern | URLResolver] = [
    path("legacy-api/", include("legacy_adapters.django.urls")),
    path(
        "ht/",
        HealthCheckView.as_view(
            checks=[
                "legacy_adapters.django.healthcheck.LegacyApiHealthCheck",
                (
                    "legacy_adapters.django.healthcheck.LegacyApiHealthCheck",
                    {"environment": "test"},
                ),
            ]
        ),
    ),
]
