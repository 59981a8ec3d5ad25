"""The gateway: legacy 4D data as an authenticated, documented REST API (issue 19, ADR 0032).

A Django REST framework app. Mount it in a project (pyERP)::

    INSTALLED_APPS += ["rest_framework", "drf_spectacular", "drf_spectacular_sidecar",
                       "legacy_adapters.django.gateway"]
    urlpatterns += [path("api/", include("legacy_adapters.django.gateway.urls"))]

or run it on its own with ``legacy-api gateway --port 8000`` (settings:
``legacy_adapters.django.gateway.settings``). Nothing is imported here, so the command
line can register its subcommand without Django or DRF installed.
"""
