"""The WSGI application of the standalone gateway (what ``legacy-api gateway`` serves)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_adapters.django.gateway.settings")

application = get_wsgi_application()
