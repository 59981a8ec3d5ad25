"""Settings of the test project: real Redis caches, the legacy API app, no database.

URLs come from the environment so that ``manage.py`` subprocesses see the servers the
tests started; in-process tests override ``CACHES``/``LEGACY_API`` with the same values.
"""

from __future__ import annotations

import importlib.util
import os

SECRET_KEY = "legacy-api-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = ["legacy_adapters.django"]
DATABASES: dict[str, dict[str, str]] = {}
ROOT_URLCONF = "tests.django.project.urls"
MIDDLEWARE = [
    "legacy_adapters.django.middleware.RequestIdMiddleware",
    "legacy_adapters.django.middleware.LegacyErrorMiddleware",
]

_REDIS = os.environ.get("LEGACY_TEST_REDIS_URL", "redis://127.0.0.1:1/0")

CACHES = {
    # LocMem stays the default: the session-store tests in tests/sessions expect it there.
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "legacy": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _REDIS},
    "legacy_django_redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": _REDIS,
        "KEY_PREFIX": "dr",
    },
}

LEGACY_API = {
    "ENVIRONMENTS": {
        "live": os.environ.get("LEGACY_TEST_LIVE_URL", "http://127.0.0.1:1"),
        "test": os.environ.get("LEGACY_TEST_TEST_URL", "http://127.0.0.1:1"),
    },
    "DEFAULT_ENVIRONMENT": "live",
    "SESSION_STORE": "django",
    "CACHE_ALIAS": os.environ.get("LEGACY_TEST_CACHE_ALIAS", "legacy"),
    "SESSION_KEY": "TWmvhTkpQIMgbn9Ws0_yYiiTSZEZ7c3bJ-kEMVPZ2QA=",
    "TIMEOUTS": {"CONNECT": 2.0, "READ": 10.0},
    "RETRIES": 1,
    "PAGE_SIZE": 50,
}

# The gateway's tests (tests/gateway) share this project when DRF is installed (one Django
# per pytest process): its apps, an in-memory SQLite for consumers and the audit log.
if importlib.util.find_spec("rest_framework") is not None:
    INSTALLED_APPS += [
        "django.contrib.contenttypes",  # for simplejwt (the gateway's JWT tests)
        "django.contrib.auth",
        "rest_framework",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        "legacy_adapters.django.gateway",
    ]
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
    STATIC_URL = "/api/static/"
    REST_FRAMEWORK = {
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }
    SPECTACULAR_SETTINGS = {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "legacy_adapters.django.gateway.openapi.add_environments_and_tables",
        ],
    }
