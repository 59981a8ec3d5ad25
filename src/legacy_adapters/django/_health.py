"""Health of the 4D environments: a function, a small JSON view and a django-health-check plugin.

The probe is the facade's ``health()`` (one ``$info`` per environment through the breaker,
no retries); a configuration problem is reported as unhealthy, not raised.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from legacy_core._log import get_logger
from legacy_core.errors import LegacyError
from legacy_core.ports import HealthProbe

__all__ = ["check_health", "failures", "health_view", "register_health_check_plugin"]

_log = get_logger()


def check_health(env: str | None = None) -> dict[str, Any]:
    """Probe the environments (or only ``env``): ``{"ok": bool, "environments": {...}}``."""
    from legacy_adapters.django._client import get_client  # noqa: PLC0415 - avoid a cycle

    try:
        client = get_client(env)
        report = client.health()
    except LegacyError as exc:
        first = str(exc).splitlines()[0]
        return {"ok": False, "error": f"{type(exc).__name__}: {first}", "environments": {}}
    if env is not None:
        report = {env: report[env]}
    environments = {name: dict(entry) for name, entry in report.items()}
    for name, entry in environments.items():
        if entry.get("ok"):
            entry.update(_sessions_of(client, name))
        # The breaker state is an enum or a str depending on its storage; JSON wants a str.
        if "breaker" in entry:
            entry["breaker"] = str(getattr(entry["breaker"], "value", entry["breaker"]))
    ok = bool(environments) and all(e.get("ok") for e in environments.values())
    return {"ok": ok, "environments": environments}


def _sessions_of(client: Any, name: str) -> dict[str, Any]:
    """The shared session's generation (from the store) and the licences 4D says are held.

    ``licences_held`` counts the sessions of 4D's ``$info`` (each holds a licence); it is
    None when the backend has no ``info``. Read through the breaker, errors reported.
    """
    out: dict[str, Any] = {"session_generation": None, "licences_held": None}
    env = client.environments.get(name)
    sessions = client.sessions
    if sessions is not None and env is not None and hasattr(sessions, "peek"):
        current = sessions.peek(env)
        out["session_generation"] = current.generation if current is not None else None
    reader = client.reader
    if isinstance(reader, HealthProbe):
        try:
            body = client.breaker(name).call(lambda: reader.info(name))
        except LegacyError as exc:
            out["licences_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:
            held = body.get("sessionInfo") if isinstance(body, dict) else None
            out["licences_held"] = len(held) if isinstance(held, list) else None
    return out


def failures(env: str | None = None) -> list[str]:
    """Return one line per environment that is not healthy (empty when all are)."""
    report = check_health(env)
    if "error" in report:
        return [str(report["error"])]
    return [
        f"4D {name}: {entry.get('error')}"
        for name, entry in report["environments"].items()
        if not entry.get("ok")
    ]


def health_view(request: Any, env: str | None = None) -> Any:
    """``GET`` → 200 with the report when every environment answers, else 503."""
    from django.http import JsonResponse  # noqa: PLC0415 - Django is an optional extra

    report = check_health(env or request.GET.get("env") or None)
    if not report["ok"]:
        _log.warning("legacy_api.health.failed", report=report)
    return JsonResponse(report, status=200 if report["ok"] else 503)


def register_health_check_plugin() -> bool:
    """Register with django-health-check 3.x's plugin directory when that is installed.

    4.x has no registry: list ``legacy_adapters.django.healthcheck.LegacyApiHealthCheck``
    in the ``checks`` of its ``HealthCheckView`` instead.
    """
    try:
        # find_spec of a submodule imports the package: a broken install must not stop
        # Django from starting, it only means no plugin.
        found = importlib.util.find_spec("health_check") is not None and (
            importlib.util.find_spec("health_check.plugins") is not None
        )
    except ImportError:
        found = False
    if not found:
        return False
    try:
        from legacy_adapters.django._health_check_v3 import register  # noqa: PLC0415
    except ImportError:
        # 3.2x bridge releases keep plugin_dir but drop BaseHealthCheckBackend: no plugin,
        # and Django still starts.
        return False
    return register()
