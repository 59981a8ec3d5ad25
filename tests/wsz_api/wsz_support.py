"""Helpers of the wsz_api script tests (a module with a unique name, not conftest)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PYTHON = str(Path(sys.executable))


def script_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a caller script: no inherited legacy-api settings, private session dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_", "DJANGO_"))}
    env.update(
        {
            "LEGACY_API_SESSION_DIR": str(tmp_path / "sessions"),
            "PYTHONPATH": str(SCRIPTS),
            "PYTHONWARNINGS": "default",
        }
    )
    env.update(extra)
    return env
