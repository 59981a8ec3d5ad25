"""The ``fuzz`` hypothesis profile of ``make fuzz`` and the count of generated cases run."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from tests.fuzz import _profile

# `make fuzz` sets HYPOTHESIS_PROFILE=fuzz: the same properties, FUZZ_FACTOR times the
# examples (see _profile.examples), failing examples printed as reproducible blobs.
settings.register_profile(
    "fuzz",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
if _profile.PROFILE == "fuzz":
    settings.load_profile("fuzz")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how many generated cases the fuzz tests ran (the issue's figure)."""
    if _profile.CASES:
        total = sum(_profile.CASES.values())
        terminalreporter.write_line(
            f"fuzz: {total} generated cases over {len(_profile.CASES)} properties "
            f"(profile {_profile.PROFILE})"
        )
