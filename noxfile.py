"""The CI matrix: this project's latest stack, pyERP's pinned stack, and a bare install.

Run through ``make matrix`` (or ``.ci/run``). Every session installs from the package
registry with pip into its own virtualenv under ``.nox/``.

- ``latest``: newest releases of every dependency and every extra (what ``make test`` uses).
- ``pyerp``: pyERP's pins (requirements/base.in): Python 3.11, pandas 2.2, Django 5.1,
  redis 5, no pyarrow and none of this package's extras; the whole suite runs there.
- ``bare``: ``pip install legacy-api`` without extras and without Django or redis; the
  core, client and ``wsz_api`` tests, and the test that imports every public module.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["latest", "pyerp", "bare"]

# Test tooling only; never an extra of the package and never pyarrow/prometheus-client.
TEST_TOOLS = ["pytest>=8.0", "pytest-timeout>=2.3", "hypothesis>=6.100"]
# pyERP's own stack beside the pins (its Django project runs django-redis and the health checks).
# Celery 5.5: kombu 5.6 and later refuse redis-py before 6.1, and pyERP pins redis 5.
PYERP_PINS = ["pandas==2.2.*", "django==5.1.*", "redis==5.*", "pydantic==2.*", "celery==5.5.*"]
PYERP_DJANGO_TOOLS = [
    "pytest-django>=4.8",
    "django-redis>=5.4,<6",
    "django-health-check>=3.18,<3.20",
]
# Tests that need only the core dependencies (no Django, no redis).
BARE_TESTS = ["tests/unit", "tests/client", "tests/wsz_api", "tests/memory", "tests/fourd"]


def _show_stack(session: nox.Session) -> None:
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m, sys;"
        "print(sys.version.split()[0], *[f'{p}=={m.version(p)}' for p in "
        "('pandas','numpy','django','redis','pyarrow','prometheus-client','pydantic') "
        "if p in {d.metadata['Name'].lower() for d in m.distributions()}])",
    )


def _forbid(session: nox.Session, *packages: str) -> None:
    # Fail the session if a transitive dependency pulled in a package this stack must not have.
    code = (
        "import importlib.util, sys; bad = [p for p in sys.argv[1:] "
        "if importlib.util.find_spec(p) is not None]; "
        "sys.exit(f'must not be installed: {bad}' if bad else 0)"
    )
    session.run("python", "-c", code, *packages)


@nox.session
def latest(session: nox.Session) -> None:
    """The project's own stack: newest releases, every extra, the whole suite."""
    session.install(
        "--upgrade",
        "-e",
        ".[django,redis,arrow,metrics,otel,postgres,typed,celery,gateway,dev]",
    )
    _show_stack(session)
    session.run("pytest", "-q", *session.posargs)


@nox.session(python="3.11")
def pyerp(session: nox.Session) -> None:
    """PyERP's pinned stack (pandas 2.2, Django 5.1, redis 5, no pyarrow, no extras)."""
    session.install("-e", ".", *PYERP_PINS, *TEST_TOOLS, *PYERP_DJANGO_TOOLS)
    _forbid(session, "pyarrow", "prometheus_client", "opentelemetry")
    session.run(
        "python",
        "-c",
        "import pandas, django, redis, sys;"
        "ok = pandas.__version__.startswith('2.2.') and django.__version__.startswith('5.1.')"
        " and redis.__version__.startswith('5.');"
        "sys.exit(0 if ok else f'wrong pins: {pandas.__version__} {django.__version__} '"
        " f'{redis.__version__}')",
    )
    _show_stack(session)
    session.run("pytest", "-q", *session.posargs)


@nox.session(python="3.11")
def bare(session: nox.Session) -> None:
    """``pip install legacy-api`` without extras: core, client and wsz_api tests pass."""
    session.install(".", *TEST_TOOLS)
    _forbid(session, "django", "redis", "pyarrow", "prometheus_client", "pydantic", "celery")
    _show_stack(session)
    # The installed wheel, not src/: proves the package works as pip installs it.
    session.run(
        "pytest",
        "-q",
        *BARE_TESTS,
        *session.posargs,
        env={"PYTHONPATH": "."},
    )
