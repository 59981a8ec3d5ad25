"""Fixtures of the documentation tests: the site, built once per session.

They need the ``docs`` extra (mkdocs, mkdocstrings, mkdocs-gen-files, mktestdocs); pyERP's
nox session has none of it, so each test skips without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# MkDocs' and Material's maintenance banners (ADR 0033), as in the Makefile.
QUIET = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The site built by ``mkdocs build --strict`` into a temporary directory.

    A child process: the page generator sets Django up, which must not leak into the tests.
    """
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_gen_files"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, **QUIET},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    return out
