"""The django-health-check backend (imported only when ``health_check`` is installed)."""

from __future__ import annotations

from typing import Any

from health_check.backends import BaseHealthCheckBackend  # type: ignore[import-not-found]
from health_check.exceptions import ServiceUnavailable  # type: ignore[import-not-found]

from legacy_adapters.django._health import check_health

__all__ = ["LegacyApiHealthCheck", "register"]


class LegacyApiHealthCheck(BaseHealthCheckBackend):  # type: ignore[misc]
    """One ``$info`` probe per configured 4D environment; any failure is an error."""

    critical_service = True

    def check_status(self, subset: Any = None) -> None:
        """Add an error naming each environment that does not answer."""
        report = check_health()
        if "error" in report:
            self.add_error(ServiceUnavailable(report["error"]))
        for name, entry in report["environments"].items():
            if not entry.get("ok"):
                self.add_error(ServiceUnavailable(f"4D {name}: {entry.get('error')}"))

    def identifier(self) -> str:
        """Return the name shown on the health page."""
        return "Legacy 4D API"


def register() -> bool:
    """Register the backend with django-health-check's plugin directory, when it has one."""
    try:
        from health_check.plugins import plugin_dir  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:  # newer releases configure checks in settings instead
        return False
    plugin_dir.register(LegacyApiHealthCheck)
    return True
