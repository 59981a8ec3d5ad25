"""The code blocks of the tutorial and the recipes run, in order, against the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mktestdocs")

ROOT = Path(__file__).resolve().parents[2]
RUNNER = "tests.docs.run_markdown"

pytestmark = pytest.mark.integration


def _run(markdown: Path) -> subprocess.CompletedProcess[str]:
    # A child process: the blocks set environment variables and start threads.
    return subprocess.run(
        [sys.executable, "-m", RUNNER, str(markdown)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


RUNNABLE = [
    ROOT / "docs" / "tutorial.md",
    *sorted(p for p in (ROOT / "docs" / "recipes").glob("*.md") if p.name != "index.md"),
    ROOT / "docs" / "reference" / "client.md",
    ROOT / "docs" / "reference" / "async-client.md",
    ROOT / "docs" / "reference" / "tables.md",
    ROOT / "docs" / "reference" / "cache-and-budget.md",
    ROOT / "docs" / "reference" / "sync.md",
    ROOT / "docs" / "reference" / "gateway.md",
]


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.stem)
def test_every_block_runs(path):
    """Every ```python block of the page runs without error against the emulator."""
    blocks = path.read_text(encoding="utf-8").count("```python")
    done = _run(path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert f"{blocks} blocks ran" in done.stdout


def test_a_failing_block_fails_the_run(tmp_path):
    """The runner reports a failing block by number and section and exits non-zero."""
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Good\n\n```python\nx = 1\n```\n\n## Bad\n\n```python\nassert x == 2\n```\n",
        encoding="utf-8",
    )
    done = _run(page)
    assert done.returncode == 1
    assert "block 2 of 2 failed, in section 'Bad'" in done.stdout
