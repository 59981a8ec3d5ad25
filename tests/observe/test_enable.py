"""Switching observability on without its extra installed fails at once, naming the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("blocked", "variable", "extra"),
    [
        ("prometheus_client", "LEGACY_API_METRICS", "legacy-api[metrics]"),
        ("opentelemetry", "LEGACY_API_TRACING", "legacy-api[otel]"),
    ],
)
def test_missing_extra_is_a_configuration_error(blocked, variable, extra):
    """build_client with the variable on but the package absent raises ConfigurationError."""
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.modules[{blocked!r}] = None  # importing it now raises ImportError
        os.environ[{variable!r}] = "on"
        from legacy_adapters.bootstrap import build_client
        from legacy_core.errors import ConfigurationError
        try:
            build_client({{"environments": {{"live": "http://127.0.0.1:1"}},
                          "session_store": "memory"}})
        except ConfigurationError as exc:
            print("refused:", exc)
        else:
            print("built")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    assert done.stdout.startswith("refused:"), done.stdout + done.stderr
    assert extra in done.stdout
