"""Tests of the pytest plugin: the legacy_cassette fixture, --legacy-record and the marker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs
import pytest

CONFTEST = """
import json
import pytest
from legacy_adapters.fourd import HttpResponse

class Counting:
    '''A stand-in server: answers with a running number and sets a cookie.'''
    def __init__(self):
        self.calls = 0
    def send(self, request):
        self.calls += 1
        body = json.dumps({"n": self.calls, "path": request.path}).encode()
        return HttpResponse(200, {"content-type": "application/json"}, body,
                            (("WASID4D", "C0FFEEC0FFEEC0FFEEC0FFEEC0FFEE42"),), 0.0)
    def close(self):
        pass

@pytest.fixture
def legacy_transport():
    return Counting()
"""

TEST = """
import pytest
from legacy_adapters.fourd import HttpRequest

def get(transport, path):
    return transport.send(HttpRequest("GET", "http://127.0.0.1:9" + path, environment="live"))

def test_info(legacy_cassette):
    assert 200 == get(legacy_cassette, "{path}").status

@pytest.mark.legacy_cassette("shared/custom.json")
def test_marked(legacy_cassette):
    assert 200 == get(legacy_cassette, "/rest/$catalog").status
"""


# Plugins the throw-away project does not need (hypothesis alone costs a second to load).
_QUIET_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:django")


@attrs.frozen
class Project:
    """A throw-away test project using the plugin, run by a real pytest subprocess."""

    path: Path

    def write(self, name: str, text: str) -> None:
        """Write a file of the project."""
        (self.path / name).write_text(textwrap.dedent(text))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run pytest in the project (the plugin loads through its pytest11 entry point)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", *_QUIET_PLUGINS, *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )


def outcome(result: subprocess.CompletedProcess[str]) -> str:
    """The summary line of a pytest run, e.g. ``2 passed``."""
    lines = [line for line in result.stdout.splitlines() if " in " in line and "=" not in line]
    summary = lines[-1] if lines else result.stdout[-500:]
    return summary.split(" in ")[0].strip()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project with a conftest (a counting stand-in server) and two cassette tests."""
    project = Project(tmp_path)
    project.write("conftest.py", CONFTEST)
    project.write("test_demo.py", TEST.replace("{path}", "/rest/$info"))
    project.write("pytest.ini", "[pytest]\n")
    return project


class TestPlugin:
    def test_option_is_registered(self, project: Project):
        """``--legacy-record`` shows up in pytest's help through the pytest11 entry point."""
        assert "--legacy-record=MODE" in project.run("--help").stdout

    def test_default_mode_needs_a_cassette(self, project: Project):
        """Without a cassette the default mode (none) errors and says how to record."""
        result = project.run()
        assert "2 errors" == outcome(result)
        assert "--legacy-record=once" in result.stdout

    def test_record_once_then_replay(self, project: Project):
        """``once`` writes cassettes next to the test file; the default run replays them."""
        assert "2 passed" == outcome(project.run("--legacy-record=once"))
        cassette = project.path / "cassettes" / "test_demo" / "test_info.json"
        doc = json.loads(cassette.read_text())
        assert "/rest/$info" == doc["interactions"][0]["request"]["path"]
        assert "C0FFEEC0FFEEC0FFEEC0FFEEC0FFEE42" not in cassette.read_text()
        assert (project.path / "shared" / "custom.json").exists()
        assert "2 passed" == outcome(project.run())

    def test_replay_miss_fails_the_test(self, project: Project):
        """A test that sends a request its cassette lacks fails with CassetteMiss."""
        assert "2 passed" == outcome(project.run("--legacy-record=all"))
        project.write("test_demo.py", TEST.replace("{path}", "/rest/$directory/login"))
        result = project.run("--tb=short")
        assert "1 failed, 1 passed" == outcome(result)
        assert "CassetteMiss" in result.stdout
        assert "path: recorded '/rest/$info', sent '/rest/$directory/login'" in result.stdout

    def test_ini_default_mode(self, project: Project):
        """The ``legacy_record_mode`` ini value sets the default mode."""
        project.write("pytest.ini", "[pytest]\nlegacy_record_mode = once\n")
        assert "2 passed" == outcome(project.run())
        assert (project.path / "cassettes" / "test_demo" / "test_info.json").exists()
