"""The django-health-check 3.x backend, registered with its ``plugin_dir`` (3.x only)."""

from __future__ import annotations

from typing import Any

from health_check.backends import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
    BaseHealthCheckBackend,
)
from health_check.exceptions import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
    ServiceUnavailable,
)

from legacy_adapters.django._health import failures

__all__ = ["LegacyApiHealthCheck", "register"]


class LegacyApiHealthCheck(BaseHealthCheckBackend):  # type: ignore[misc, unused-ignore]
    """One ``$info`` probe per configured 4D environment; any failure is an error."""

    critical_service = True

    def check_status(self, subset: Any = None) -> None:
        """Add an error naming each environment that does not answer."""
        for problem in failures():
            self.add_error(ServiceUnavailable(problem))

    def identifier(self) -> str:
        """Return the name shown on the health page."""
        return "Legacy 4D API"


def register() -> bool:
    """Register the backend with django-health-check's plugin directory, when it has one."""
    try:
        from health_check.plugins import (  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415
            plugin_dir,
        )
    except ImportError:  # 4.x lists checks on its view instead (see healthcheck.py)
        return False
    plugin_dir.register(LegacyApiHealthCheck)
    return True
