"""Optional dependencies stay optional: every public module imports without the extras.

The check runs in a fresh interpreter whose import system refuses the optional packages
(so it holds on the full stack too); the ``bare`` nox session runs it where they are
really not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

OPTIONAL = (
    "redis",
    "django",
    "pyarrow",
    "polars",
    "prometheus_client",
    "django_redis",
    "health_check",
    "opentelemetry",
    "psycopg",
    "pydantic",
    "celery",
    "kombu",
    # the gateway extra
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "gunicorn",
)
# What the gateway's modules (part of the Django app) may need besides Django.
GATEWAY_EXTRA = {"rest_framework", "rest_framework_simplejwt", "drf_spectacular", "gunicorn"}
# The Django app's own modules are the `django` feature: importing them is using it.
DJANGO_FEATURE = "legacy_adapters.django."
# Likewise the observability plug-ins are the `metrics` and `otel` features themselves
# (loaded only when metrics or tracing are switched on), and the columnar reads are the
# `arrow` feature (imported by fetch_arrow & co. on use); each needs its package only.
FEATURE_MODULES = {
    "legacy_core.columnar": "pyarrow",
    "legacy_adapters.wire._arrow": "pyarrow",
    "legacy_adapters.observe._metrics": "prometheus_client",
    "legacy_adapters.observe._tracing": "opentelemetry",
    # The sync engine's Celery tasks (the `celery` extra) and their fenced Redis lock.
    "legacy_adapters.sync.celery": "celery",
    "legacy_adapters.sync._lock": "redis",
}

_SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, json, pkgutil, sys

    blocked = set(sys.argv[1].split(","))

    class Hide(importlib.abc.MetaPathFinder):
        # Wraps each finder so blocked packages look exactly as if not installed:
        # find_spec() is None and importing raises ModuleNotFoundError.
        def __init__(self, inner):
            self.inner = inner

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                return None
            find = getattr(self.inner, "find_spec", None)
            return find(name, path, target) if find else None

    sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
    for name in list(sys.modules):
        if name.split(".")[0] in blocked:
            del sys.modules[name]

    results = {}
    for top in ("legacy_core", "legacy_adapters", "fourd_emulator", "wsz_api"):
        package = importlib.import_module(top)
        names = [top] + [
            info.name for info in pkgutil.walk_packages(package.__path__, top + ".")
            if not info.name.endswith(".__main__")  # entry points run on import
        ]
        for name in names:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                results[name] = ("missing", exc.name)
            except Exception as exc:
                results[name] = ("error", f"{type(exc).__name__}: {exc}")
            else:
                results[name] = ("ok", None)
    leaked = sorted({n.split(".")[0] for n in sys.modules} & blocked)
    print(json.dumps({"results": results, "leaked": leaked}))
    """
)


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    """What importing every module in the refusing interpreter gave (run once)."""
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, ",".join(OPTIONAL)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_public_module_imports_without_the_extras(report):
    """Each module outside the Django app imports with redis, django, pyarrow & co. refused."""
    results: dict[str, list[object]] = report["results"]  # type: ignore[assignment]
    assert len(results) > 60  # the walk really found the packages
    failures = {
        name: outcome
        for name, outcome in results.items()
        if not name.startswith(DJANGO_FEATURE)
        and name not in FEATURE_MODULES
        and outcome[0] != "ok"
    }
    assert {} == failures


def test_observability_plugins_fail_only_for_their_package(report):
    """The metrics and tracing plug-ins need prometheus_client / opentelemetry and nothing else."""
    results: dict[str, list[object]] = report["results"]  # type: ignore[assignment]
    got = {name: results[name] for name in FEATURE_MODULES}
    assert {name: ["missing", package] for name, package in FEATURE_MODULES.items()} == got


def test_django_app_modules_fail_only_for_django(report):
    """The Django app's modules need Django (with asgiref, django-health-check or DRF) only."""
    results: dict[str, list[object]] = report["results"]  # type: ignore[assignment]
    app = {n: o for n, o in results.items() if n.startswith(DJANGO_FEATURE)}
    assert app
    wrong = {
        n: o
        for n, o in app.items()
        if o[0] == "error"
        # asgiref is installed with Django (the async middleware needs it).
        or (
            o[0] == "missing"
            and str(o[1]).split(".")[0] not in {"django", "health_check", "asgiref"} | GATEWAY_EXTRA
        )
    }
    assert {} == wrong


def test_no_optional_package_is_imported_on_the_way(report):
    """Importing every module leaves none of the optional packages loaded."""
    assert [] == report["leaked"]
