"""The standalone gateway's root URLs: the gateway under ``/api/``."""

from __future__ import annotations

from django.urls import URLResolver, include, path

urlpatterns: list[URLResolver] = [path("api/", include("legacy_adapters.django.gateway.urls"))]
