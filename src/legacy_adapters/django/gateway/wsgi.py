"""The WSGI application of the standalone gateway (what ``legacy-api gateway`` serves)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from legacy_adapters.observe import enable_from_environment

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_adapters.django.gateway.settings")

application = get_wsgi_application()
# LEGACY_API_METRICS / LEGACY_API_TRACING, as the Django app's ready() does for a project.
enable_from_environment()
