"""The ``legacy-api`` console script, run for real in a subprocess against a running emulator."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.cli import ProgressBar, _parse_value, build_parser
from legacy_adapters.demo import run_demo
from legacy_core.frames import HAS_ARROW

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).with_name("legacy-api"))
TABLE = "Artikel_Variante"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """An emulator the subprocesses talk to over loopback."""
    with serve(EmulatorConfig(rows=500)) as srv:
        yield srv


@pytest.fixture
def env(tmp_path: Path, server: EmulatorServer) -> dict[str, str]:
    """Environment variables of a clean shell configured for the emulator (file sessions)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_API", "LEGACY_ERP"))}
    return {
        **clean,
        "LEGACY_API_LIVE_URL": server.base_url,
        "LEGACY_API_SESSION_STORE": "file",
        "LEGACY_API_SESSION_DIR": str(tmp_path / "sessions"),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with ``args``; never raises on a non-zero exit."""
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


class TestCommands:
    """Each subcommand does its job and exits 0."""

    def test_fetch_to_csv_with_filter(self, env: dict[str, str], tmp_path: Path):
        """--where is sent as written, --fields projects, --out writes the CSV."""
        out = tmp_path / "rows.csv"
        result = run(env, "fetch", TABLE, "--where", "Typ = 1", "--fields", "Nummer,Typ",
                     "--out", str(out), "--no-progress")  # fmt: skip
        assert 0 == result.returncode, result.stderr
        frame = pd.read_csv(out)
        assert len(frame) > 0
        assert {1} == set(frame["Typ"])
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Typ"] == list(frame.columns)
        assert f"wrote {len(frame):,} rows" in result.stderr

    def test_fetch_preview_with_progress(self, env: dict[str, str]):
        """Without --out a preview goes to stdout; --progress draws rows/total on stderr."""
        result = run(env, "fetch", TABLE, "--limit", "120", "--page-size", "50", "--progress")
        assert 0 == result.returncode, result.stderr
        assert result.stdout.startswith(f"{TABLE}: 120 rows x ")
        assert "120/120 rows" in result.stderr

    @pytest.mark.parametrize(
        "suffix",
        [
            ".json",
            pytest.param(
                ".parquet",
                marks=pytest.mark.skipif(not HAS_ARROW, reason="parquet needs the arrow extra"),
            ),
        ],
    )
    def test_fetch_other_formats(self, env: dict[str, str], tmp_path: Path, suffix: str):
        """JSON and Parquet outputs hold the rows."""
        out = tmp_path / f"rows{suffix}"
        result = run(env, "fetch", TABLE, "--limit", "7", "--raw", "--out", str(out))
        assert 0 == result.returncode, result.stderr
        frame = pd.read_json(out) if suffix == ".json" else pd.read_parquet(out)
        assert 7 == len(frame)

    def test_tables(self, env: dict[str, str]):
        """tables prints one table name per line."""
        result = run(env, "tables")
        assert 0 == result.returncode, result.stderr
        assert TABLE in result.stdout.splitlines()

    def test_push_then_get(self, env: dict[str, str], tmp_path: Path):
        """push sets the field; get shows the record as JSON with the new value."""
        out = tmp_path / "one.json"
        first = run(env, "fetch", TABLE, "--limit", "1", "--fields", "Nummer", "--out", str(out))
        assert 0 == first.returncode, first.stderr
        record_key = json.loads(out.read_text())[0]["__KEY"]
        pushed = run(env, "push", TABLE, record_key, "Bezeichnung", "Neu aus CLI")
        assert 0 == pushed.returncode, pushed.stderr
        assert f"saved {TABLE}[{record_key}] Bezeichnung" in pushed.stdout
        got = run(env, "get", TABLE, record_key, "--raw")
        assert 0 == got.returncode, got.stderr
        assert "Neu aus CLI" == json.loads(got.stdout)["Bezeichnung"]

    def test_processes_share_one_session(self, env: dict[str, str], server: EmulatorServer):
        """Three CLI processes with the file store log in once between them."""
        before = server.stats()["sessions_created"]
        for _ in range(3):
            assert 0 == run(env, "tables").returncode
        assert 1 == server.stats()["sessions_created"] - before

    def test_health(self, env: dict[str, str]):
        """health prints one line per environment and exits 0 when all are reachable."""
        result = run(env, "health")
        assert 0 == result.returncode, result.stderr
        assert result.stdout.startswith("live     ok")

    def test_url_override(self, env: dict[str, str], server: EmulatorServer):
        """--url works without any environment variable."""
        bare = {k: v for k, v in env.items() if k != "LEGACY_API_LIVE_URL"}
        result = run(bare, "tables", "--url", server.base_url)
        assert 0 == result.returncode, result.stderr


class TestErrors:
    """Failures print exactly one line, ``error: ...``, and the documented exit status."""

    def assert_one_line(self, result: subprocess.CompletedProcess[str], status: int) -> str:
        """The exit status matches and stderr is a single ``error:`` line; returns it."""
        assert status == result.returncode
        lines = result.stderr.strip().splitlines()
        assert 1 == len(lines), result.stderr
        assert lines[0].startswith("error: ")
        return lines[0]

    def test_unknown_table(self, env: dict[str, str]):
        """An unknown table is a data error: exit 1, naming the table."""
        line = self.assert_one_line(run(env, "fetch", "Gibtsnicht", "--no-progress"), 1)
        assert "Gibtsnicht" in line

    def test_bad_filter(self, env: dict[str, str]):
        """A filter 4D rejects is the user's input: exit 2."""
        line = self.assert_one_line(run(env, "fetch", TABLE, "--where", "Nummer eq 5"), 2)
        assert "status=500" in line

    def test_record_not_found(self, env: dict[str, str]):
        """get of a missing key exits 1."""
        self.assert_one_line(run(env, "get", TABLE, "F" * 32), 1)

    def test_no_configuration(self, env: dict[str, str]):
        """Without any environment configured the error says how to configure one: exit 2."""
        bare = {k: v for k, v in env.items() if k != "LEGACY_API_LIVE_URL"}
        line = self.assert_one_line(run(bare, "tables"), 2)
        assert "LEGACY_API_LIVE_URL" in line

    def test_unreachable_server(self, env: dict[str, str]):
        """A server that refuses connections is exit 1 with the environment named."""
        line = self.assert_one_line(run(env, "tables", "--url", "http://127.0.0.1:9"), 1)
        assert "environment=live" in line

    def test_bad_output_suffix(self, env: dict[str, str]):
        """An output format we cannot write is a usage error before any request."""
        self.assert_one_line(run(env, "fetch", TABLE, "--out", "rows.xlsx"), 2)

    def test_usage_error(self, env: dict[str, str]):
        """argparse's own usage errors exit 2."""
        assert 2 == run(env, "fetch").returncode


class TestHelpers:
    """The in-process parts of the CLI."""

    @pytest.mark.parametrize(
        ("text", "value"),
        [("42", 42), ("true", True), ("null", None), ('"7"', "7"), ("Neu", "Neu"), ("1.5", 1.5)],
    )
    def test_parse_value(self, text: str, value: object):
        """Values are JSON when they parse, else the text itself."""
        assert value == _parse_value(text)

    def test_progress_bar(self, tmp_path: Path):
        """The bar shows rows/total and ends its line."""
        path = tmp_path / "bar.txt"
        with path.open("w") as stream:
            bar = ProgressBar("T", stream)
            bar(50, 100)
            bar(100, 100)
            bar.close()
        text = path.read_text()
        assert "100/100 rows" in text
        assert text.endswith("\n")

    def test_parser_has_every_command(self):
        """Every documented subcommand parses."""
        parser = build_parser()
        commands = [
            ["tables"], ["health"], ["session"], ["demo"], ["get", "T", "K"],
            ["push", "T", "K", "F", "V"], ["fetch", "T"], ["emulator", "--port", "0"],
        ]  # fmt: skip
        for argv in commands:
            assert argv[0] == parser.parse_args(argv).command


class TestDemo:
    """The demo runs the whole stack against an in-process emulator."""

    def test_small_demo(self):
        """A demo with 1,500 rows fetches them all, writes once and counts one login."""
        out = io.StringIO()
        assert 0 == run_demo(rows=1500, workers=2, progress=False, out=out)
        text = out.getvalue()
        assert "shape (1500, 36)" in text
        assert "The emulator counted 1 session(s) created" in text
        assert text.rstrip().endswith("Demo OK: one login for the whole run.")
