"""django-health-check 4.x integration: ``LegacyApiHealthCheck`` for its ``HealthCheckView``.

Import this module only where ``django-health-check`` is installed::

    path("ht/", HealthCheckView.as_view(checks=[
        "health_check.checks.Cache",
        "legacy_adapters.django.healthcheck.LegacyApiHealthCheck",
        ("legacy_adapters.django.healthcheck.LegacyApiHealthCheck", {"environment": "test"}),
    ])),
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from health_check.base import HealthCheck  # type: ignore[import-untyped, unused-ignore]
from health_check.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ServiceUnavailable,
)

from legacy_adapters.django._health import failures

__all__ = ["LegacyApiHealthCheck"]


@dataclasses.dataclass
class LegacyApiHealthCheck(HealthCheck):  # type: ignore[misc, unused-ignore]
    """One ``$info`` probe per configured 4D environment (or only ``environment``)."""

    environment: str | None = None
    timeout: dt.timedelta = dataclasses.field(default=dt.timedelta(seconds=15), repr=False)

    def run(self) -> None:
        """Raise ServiceUnavailable naming every environment that does not answer."""
        problems = failures(self.environment)
        if problems:
            raise ServiceUnavailable("; ".join(problems))
