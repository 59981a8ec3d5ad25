"""URLs of the test project: the app's health view under /legacy-api/."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("legacy-api/", include("legacy_adapters.django.urls"))]
