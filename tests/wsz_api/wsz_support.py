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
            # The scripts' helpers first, then the caller's own path (absolute: the
            # scripts run in tmp_path), so a worktree's src/ is what they import.
            "PYTHONPATH": os.pathsep.join(
                [str(SCRIPTS)]
                + [
                    os.path.abspath(p)
                    for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                    if p
                ]
            ),
            "PYTHONWARNINGS": "default",
        }
    )
    env.update(extra)
    return env
