"""Settings of the test project: real Redis caches, the legacy API app, no database.

URLs come from the environment so that ``manage.py`` subprocesses see the servers the
tests started; in-process tests override ``CACHES``/``LEGACY_API`` with the same values.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import uuid

SECRET_KEY = "legacy-api-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = ["legacy_adapters.django"]
DATABASES: dict[str, dict[str, str]] = {}  # replaced below (tests/django_sync)
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

# The Django sink's tests (tests/django_sync): the app's sync models, the admin, a test app
# shaped like pyERP's products, and a PostgreSQL database the tests create under this
# unique name and drop (inherited by manage.py subprocesses through the environment).
# Nothing connects to it unless a test does: the other Django tests need no database.
INSTALLED_APPS += [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.messages",
    "django.contrib.admin",
    "tests.django_sync.products",
]
try:  # pyERP's nox session has no psycopg: the dummy backend, and those tests skip
    import psycopg  # noqa: F401

    _ENGINE = "django.db.backends.postgresql"
except ImportError:
    _ENGINE = "django.db.backends.dummy"
DATABASES = {
    "default": {
        "ENGINE": _ENGINE,
        "HOST": os.environ.get("LEGACY_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("LEGACY_TEST_PG_PORT", "5432"),
        "USER": os.environ.get("LEGACY_TEST_PG_USER", "postgres"),
        "NAME": os.environ.setdefault(
            "LEGACY_TEST_DJANGO_DB", f"legacy_djsink_{uuid.uuid4().hex[:12]}"
        ),
    }
}
# A second database (SQLite file in the temp directory) for the sink's other backend.
DATABASES["sync_sqlite"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.setdefault(
        "LEGACY_TEST_DJANGO_SQLITE",
        os.path.join(tempfile.gettempdir(), f"{DATABASES['default']['NAME']}.sqlite3"),
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MIDDLEWARE += [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"  # no session table
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# The gateway's tests (tests/gateway) share this project when DRF is installed (one Django
# per pytest process): its apps, and pytest-django's test copy of the database above for
# consumers and the audit log (an in-memory SQLite where PostgreSQL is not available).
if importlib.util.find_spec("rest_framework") is not None:
    INSTALLED_APPS += [
        "rest_framework",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        "legacy_adapters.django.gateway",
    ]
    if _ENGINE == "django.db.backends.dummy":
        DATABASES["default"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
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
