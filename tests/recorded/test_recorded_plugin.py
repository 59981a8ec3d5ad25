"""Tests of the pytest plugin: the legacy_cassette fixture, --legacy-record and the marker."""
# ruff: noqa: SIM300 - house style puts the expected value on the left

from __future__ import annotations

import json

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


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A throw-away test project using the plugin (loaded through its entry point)."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_demo=TEST.replace("{path}", "/rest/$info"))
    return pytester


class TestPlugin:
    def test_option_is_registered(self, pytester: pytest.Pytester):
        """``--legacy-record`` shows up in pytest's help through the pytest11 entry point."""
        result = pytester.runpytest_inprocess("--help")
        result.stdout.fnmatch_lines(["*--legacy-record=MODE*"])

    def test_default_mode_needs_a_cassette(self, project: pytest.Pytester):
        """Without a cassette the default mode (none) errors and says how to record."""
        result = project.runpytest_inprocess("-p", "no:cacheprovider")
        result.assert_outcomes(errors=2)
        result.stdout.fnmatch_lines(["*--legacy-record=once*"])

    def test_record_once_then_replay(self, project: pytest.Pytester):
        """``once`` writes cassettes next to the test file; the default run replays them."""
        project.runpytest_inprocess("--legacy-record=once").assert_outcomes(passed=2)
        cassette = project.path / "cassettes" / "test_demo" / "test_info.json"
        doc = json.loads(cassette.read_text())
        assert "/rest/$info" == doc["interactions"][0]["request"]["path"]
        assert "C0FFEEC0FFEEC0FFEEC0FFEEC0FFEE42" not in cassette.read_text()
        assert (project.path / "shared" / "custom.json").exists()
        project.runpytest_inprocess().assert_outcomes(passed=2)

    def test_replay_miss_fails_the_test(self, project: pytest.Pytester):
        """A test that sends a request its cassette lacks fails with CassetteMiss."""
        project.runpytest_inprocess("--legacy-record=all").assert_outcomes(passed=2)
        project.makepyfile(test_demo=TEST.replace("{path}", "/rest/$directory/login"))
        result = project.runpytest_inprocess()
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*CassetteMiss*", "*path: recorded '/rest/$info'*"])

    def test_ini_default_mode(self, project: pytest.Pytester):
        """The ``legacy_record_mode`` ini value sets the default mode."""
        project.makeini("[pytest]\nlegacy_record_mode = once\n")
        project.runpytest_inprocess().assert_outcomes(passed=2)
        assert (project.path / "cassettes" / "test_demo" / "test_info.json").exists()
