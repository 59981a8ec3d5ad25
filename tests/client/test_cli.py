"""The ``legacy-api`` console script, run for real in a subprocess against a running emulator."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import legacy_api
from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.cli import EXIT_CODES, ProgressBar, _parse_value, build_parser, exit_status
from legacy_adapters.demo import run_demo
from legacy_core import errors
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
        """--where filters, --fields projects, --out writes the CSV."""
        out = tmp_path / "rows.csv"
        result = run(env, "fetch", TABLE, "--where", "Typ = 1", "--fields", "Nummer,Typ",
                     "--out", str(out), "--no-progress")  # fmt: skip
        assert 0 == result.returncode, result.stderr
        frame = pd.read_csv(out)
        assert len(frame) > 0
        assert {1} == set(frame["Typ"])
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Typ"] == list(frame.columns)
        assert f"wrote {len(frame):,} rows" in result.stderr

    def test_fetch_preview_with_progress(self, env: dict[str, str], server: EmulatorServer):
        """Without --out a preview goes to stdout; --progress draws rows/total, rate and time."""
        result = run(env, "fetch", TABLE, "--limit", "120", "--page-size", "50", "--progress")
        assert 0 == result.returncode, result.stderr
        assert result.stdout.startswith(f"{TABLE} from live @ {server.base_url}: 120 rows x ")
        last = result.stderr.split("\r")[-1]
        assert "120/120 rows" in last
        assert re.search(r" 100% [0-9,]+ rows/s in 0:0\d", last), last
        assert "ETA " in result.stderr  # the intermediate lines say how long is left

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

    @pytest.mark.parametrize(("options", "name"), [((), "live"), (("--env", "test"), "test")])
    def test_url_names_its_environment(
        self, env: dict[str, str], server: EmulatorServer, options: tuple[str, ...], name: str
    ):
        """The output names the environment --url stands for (live, or --env's) and the URL."""
        bare = {k: v for k, v in env.items() if k != "LEGACY_API_LIVE_URL"}
        result = run(bare, "fetch", TABLE, "--limit", "2", "--url", server.base_url, *options)
        assert 0 == result.returncode, result.stderr
        assert result.stdout.startswith(f"{TABLE} from {name} @ {server.base_url}: 2 rows")
        health = run(bare, "health", "--url", server.base_url, *options)
        assert health.stdout.startswith(f"{name:<8} ok")
        assert health.stdout.rstrip().endswith(server.base_url)

    def test_version(self, env: dict[str, str]):
        """--version prints the package version and exits 0."""
        result = run(env, "--version")
        assert 0 == result.returncode, result.stderr
        assert f"legacy-api {legacy_api.__version__}\n" == result.stdout

    def test_help_lists_the_exit_codes(self, env: dict[str, str]):
        """--help ends with every exit status and its meaning, the fetch help too."""
        for args in (("--help",), ("fetch", "--help")):
            result = run(env, *args)
            assert 0 == result.returncode, result.stderr
            epilog = " ".join(result.stdout.split("exit status:")[1].split())
            for code, meaning in EXIT_CODES.items():
                assert f"{code} {meaning}" in epilog


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

    def test_bad_where(self, env: dict[str, str], server: EmulatorServer):
        """A --where that does not parse is exit 1 before any request, naming the position."""
        before = server.stats()["requests_total"]
        line = self.assert_one_line(run(env, "fetch", TABLE, "--where", "Nummer eq 5"), 1)
        assert "--where at position 8: expected an operator after 'Nummer'" in line
        assert before == server.stats()["requests_total"]

    def test_bad_raw_filter(self, env: dict[str, str]):
        """A --raw-filter is sent unchanged, so 4D itself rejects bad syntax: exit 1."""
        line = self.assert_one_line(run(env, "fetch", TABLE, "--raw-filter", "Nummer eq 5"), 1)
        assert "status=500" in line

    def test_unknown_field(self, env: dict[str, str]):
        """A field the table does not have is the user's error: exit 1, naming it."""
        line = self.assert_one_line(run(env, "fetch", TABLE, "--where", "Gibtsnicht = 1"), 1)
        assert "Gibtsnicht" in line

    def test_licence_exhausted(self, env: dict[str, str], server: EmulatorServer):
        """No free licence is the server's problem: exit 3."""
        server.set_faults(licences=0)
        try:
            result = run({**env, "LEGACY_API_RETRIES": "0"}, "tables")
        finally:
            server.set_faults()
        line = self.assert_one_line(result, 3)
        assert "status=402" in line

    def test_where_and_raw_filter_are_exclusive(self, env: dict[str, str]):
        """--where and --raw-filter together are a usage error (argparse): exit 2."""
        result = run(env, "fetch", TABLE, "--where", "Typ = 1", "--raw-filter", "Typ = 1")
        assert 2 == result.returncode
        assert "not allowed with argument --where" in result.stderr

    def test_record_not_found(self, env: dict[str, str]):
        """get of a missing key exits 1."""
        self.assert_one_line(run(env, "get", TABLE, "F" * 32), 1)

    def test_no_configuration(self, env: dict[str, str]):
        """Without any environment configured the error says how to configure one: exit 1."""
        bare = {k: v for k, v in env.items() if k != "LEGACY_API_LIVE_URL"}
        line = self.assert_one_line(run(bare, "tables"), 1)
        assert "LEGACY_API_LIVE_URL" in line

    def test_unreachable_server(self, env: dict[str, str]):
        """A server that refuses connections is exit 3, naming the environment and its URL."""
        line = self.assert_one_line(run(env, "tables", "--url", "http://127.0.0.1:9"), 3)
        assert "environment=live" in line
        assert line.endswith("[live @ http://127.0.0.1:9]")

    def test_bad_output_suffix(self, env: dict[str, str], server: EmulatorServer):
        """An output format we cannot write is the user's error (exit 1) before any request."""
        before = server.stats()["requests_total"]
        line = self.assert_one_line(run(env, "fetch", TABLE, "--out", "rows.xlsx"), 1)
        assert "unknown file type '.xlsx'" in line
        assert before == server.stats()["requests_total"]

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
        """The bar shows rows/total, the rate and the time left, then the time taken."""
        now = [100.0]
        path = tmp_path / "bar.txt"
        with path.open("w") as stream:
            bar = ProgressBar("T", stream, clock=lambda: now[0])
            now[0] = 102.0
            bar(500, 2000)  # 250 rows/s: 1,500 rows left take 6 s
            now[0] = 108.0
            bar(2000, 2000)
            bar.close()
        with path.open(newline="") as drawn:  # keep the \r between redraws
            first, last = drawn.read().lstrip("\r").split("\r")
        assert "T: 500/2,000 rows" in first
        assert first.endswith(" 25% 250 rows/s ETA 0:06")
        assert last.rstrip().endswith("100% 250 rows/s in 0:08")
        assert last.endswith("\n")

    def test_progress_bar_before_any_time_passed(self, tmp_path: Path):
        """Without elapsed time the rate is 0 and the time left is unknown, not a division error."""
        path = tmp_path / "bar.txt"
        with path.open("w") as stream:
            bar = ProgressBar("T", stream, clock=lambda: 5.0)
            bar(0, 10)
        assert path.read_text().endswith(" 0 rows/s ETA --:--")

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (errors.InvalidQuery, 1),
            (errors.WhereSyntaxError, 1),
            (errors.UnknownTable, 1),
            (errors.RecordNotFound, 1),
            (errors.StampConflict, 1),
            (errors.ConfigurationError, 1),
            (errors.AuthenticationFailed, 1),
            (errors.ServerUnavailable, 3),
            (errors.Timeout, 3),
            (errors.ServerBusy, 3),
            (errors.ServerError, 3),
            (errors.LicenceExhausted, 3),
            (errors.CircuitOpen, 3),
            (errors.ProtocolError, 3),
            (errors.SessionExpired, 3),
        ],
    )
    def test_exit_status(self, error: type[errors.LegacyError], status: int):
        """Each error category maps to its documented exit status."""
        assert status == exit_status(error("x"))

    def test_readme_documents_the_exit_codes(self):
        """The README's exit-code table names the same statuses as --help."""
        readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
        for code in EXIT_CODES:
            assert f"| {code} |" in readme

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
