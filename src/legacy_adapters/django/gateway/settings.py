"""Settings of the standalone gateway (``legacy-api gateway``); a project mounting it has its own.

Configured by the environment: the 4D side as for the command line (``LEGACY_API_*``,
``LEGACY_API_CONFIG``), the gateway's own tables by ``LEGACY_API_GATEWAY_DATABASE_URL``
(default ``sqlite:///legacy-api-gateway.sqlite3`` in the working directory; or
``postgresql://user:password@host:5432/name``), the signing key of cursors by
``LEGACY_API_GATEWAY_SECRET_KEY`` (the runner makes one for its workers if unset) and the
accepted host names by ``LEGACY_API_GATEWAY_ALLOWED_HOSTS`` (comma-separated); pyERP's
JWTs are accepted too when ``LEGACY_API_GATEWAY_JWT_KEY`` holds their signing key.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from legacy_core.errors import ConfigurationError


def database(url: str) -> dict[str, Any]:
    """A ``DATABASES`` entry from ``sqlite:///path`` or ``postgresql://user:pw@host:port/name``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        name = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name or ":memory:"}
    if parts.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    msg = "LEGACY_API_GATEWAY_DATABASE_URL must be sqlite:///path or postgresql://..."
    raise ConfigurationError(msg)


# Empty: Django refuses to sign (ImproperlyConfigured); `legacy-api gateway` always sets one.
SECRET_KEY = os.environ.get("LEGACY_API_GATEWAY_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("LEGACY_API_GATEWAY_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(
        ","
    )
    if h.strip()
]
USE_TZ = True
INSTALLED_APPS = [
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "legacy_adapters.django.gateway",
]
# The per-caller rate (LEGACY_API_GATEWAY_THROTTLE, "100/min"): shared by every worker
# through Redis when LEGACY_API_REDIS_URL is set (the session store's server), else per
# worker.
_REDIS = os.environ.get("LEGACY_API_REDIS_URL", "")
if _REDIS:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _REDIS,
            "KEY_PREFIX": "legacy-gateway",
        }
    }
# pyERP's JWTs (simplejwt, signed with pyERP's key) too, when LEGACY_API_GATEWAY_JWT_KEY is set.
_JWT_KEY = os.environ.get("LEGACY_API_GATEWAY_JWT_KEY", "")
LEGACY_API_GATEWAY = {
    "JWT": bool(_JWT_KEY),
    "THROTTLE_RATE": os.environ.get("LEGACY_API_GATEWAY_THROTTLE") or None,
}
if _JWT_KEY:
    INSTALLED_APPS[:0] = ["django.contrib.contenttypes", "django.contrib.auth"]
    SIMPLE_JWT = {"SIGNING_KEY": _JWT_KEY}
DATABASES = {
    "default": database(
        os.environ.get("LEGACY_API_GATEWAY_DATABASE_URL", "sqlite:///legacy-api-gateway.sqlite3")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "legacy_adapters.django.gateway.standalone_urls"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "legacy_adapters.django.middleware.RequestIdMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
STATIC_URL = "/api/static/"  # the Swagger UI assets, served by the gateway's own URL
WSGI_APPLICATION = "legacy_adapters.django.gateway.wsgi.application"
REST_FRAMEWORK = {
    "UNAUTHENTICATED_USER": None,  # no django.contrib.auth: consumers are the users
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "legacy_adapters.django.gateway.problems.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "legacy-api gateway",
    "DESCRIPTION": "Legacy 4D ERP data over one authenticated API (issue 19, ADR 0032).",
    "VERSION": "1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "legacy_adapters.django.gateway.openapi.add_environments_and_tables",
    ],
}
