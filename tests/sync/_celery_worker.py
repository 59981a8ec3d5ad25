"""A real Celery worker process for the tests: started, waited for, stopped."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def celery_worker(
    app: str, env: Mapping[str, str], log: Path, *options: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A app worker *options`` with this interpreter, once it says it is ready."""
    with log.open("wb") as out:
        # Our own argument list: this interpreter's celery and the test app.
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", app, "worker", *options),
                *("--loglevel", "INFO", "--without-gossip", "--without-mingle"),
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    try:
        while b"ready." not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
