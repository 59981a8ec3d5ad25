"""URLs of the test project: the app's health view, and django-health-check's with our check.

django-health-check 4.x (Django >= 5.2) lists checks on its view; 3.x (what Django 5.1,
pyERP's pin, gets) has its own URLs and finds our check through the plugin registry.
"""

from __future__ import annotations

import importlib.util

from django.urls import URLPattern, URLResolver, include, path
from tests.django.project import views

HEALTH_CHECK_4 = importlib.util.find_spec("health_check.base") is not None

urlpatterns: list[URLPattern | URLResolver] = [
    path("legacy-api/", include("legacy_adapters.django.urls")),
    path("demo/read/<str:table>/", views.read),
    path("demo/record/<str:table>/<str:key>/", views.record),
    path("demo/push/<str:table>/<str:key>/", views.push),
    path("demo/acount/<str:table>/", views.acount),
]

if importlib.util.find_spec("rest_framework") is not None:  # the gateway (tests/gateway)
    urlpatterns.append(path("api/", include("legacy_adapters.django.gateway.urls")))

if HEALTH_CHECK_4:
    from health_check.views import HealthCheckView

    urlpatterns.append(
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
        )
    )
else:
    urlpatterns.append(path("ht/", include("health_check.urls")))
