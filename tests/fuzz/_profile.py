"""Example budgets of the fuzz tests: thousands in ``make test``, many more in ``make fuzz``.

``HYPOTHESIS_PROFILE=fuzz`` (what ``make fuzz`` sets) multiplies every count by
``FUZZ_FACTOR``; the conftest loads the profile and reports the number of cases run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
FUZZ_FACTOR = int(os.environ.get("LEGACY_API_FUZZ_FACTOR", "20"))
CASES: dict[str, int] = {}
"""Generated cases run per test (test name -> count), reported at the end of the session."""


def examples(n: int) -> int:
    """The example budget of one property: ``n``, or ``n * FUZZ_FACTOR`` under the fuzz profile."""
    return n * FUZZ_FACTOR if PROFILE == "fuzz" else n


def count(name: str) -> None:
    """Record one generated case of the test ``name``."""
    CASES[name] = CASES.get(name, 0) + 1


def budget(n: int) -> settings:
    """Per-test settings: ``examples(n)`` examples, no deadline (loopback HTTP jitters)."""
    return settings(
        max_examples=examples(n),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
