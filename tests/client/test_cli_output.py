"""``legacy-api fetch --out``: streaming CSV / JSON Lines / JSON / Parquet, run for real.

The console script runs in a subprocess against an emulator over loopback, as in
test_cli.py; the values it writes are compared with the same read done in-process.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.bootstrap import build_client
from legacy_adapters.config import load_config
from legacy_core.frames import HAS_ARROW
from legacy_core.service import LegacyClient

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).with_name("legacy-api"))
TABLE = "Artikel_Variante"
needs_arrow = pytest.mark.skipif(not HAS_ARROW, reason="parquet needs the arrow extra")

# The real entry point (legacy_adapters.cli:main) in an interpreter where pyarrow looks
# uninstalled, as on pyERP's stack.
WITHOUT_PYARROW = textwrap.dedent(
    """
    import importlib.abc, sys

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "pyarrow":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    from legacy_adapters.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


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


def client_for(server: EmulatorServer) -> LegacyClient:
    """An in-process client of the same emulator, to compare with."""
    config = {"environments": {"live": server.base_url}, "session_store": "memory"}
    client: LegacyClient = build_client(load_config(config, {}))
    return client


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with ``args``; never raises on a non-zero exit."""
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def run_bytes(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the console script, stdout as bytes (Parquet on stdout)."""
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, timeout=180, check=False)


def run_without_pyarrow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI's entry point where ``import pyarrow`` fails."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_PYARROW, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


FIELDS = "Nummer,Preise,Aktiv,created_date,created_time,Auslaufdatum"


class TestFormats:
    """Each format holds the rows of the read, values typed as the format allows."""

    def test_json_lines_on_stdout(self, env: dict[str, str], server: EmulatorServer):
        """--out - writes one JSON object per row to stdout (the default format there)."""
        result = run(env, "fetch", TABLE, "--limit", "30", "--page-size", "7", "--fields", FIELDS,
                     "--order-by", "Nummer", "--out", "-")  # fmt: skip
        assert 0 == result.returncode, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        records = list(
            client_for(server).iter_records(TABLE, limit=30, fields=FIELDS, order_by="Nummer")
        )
        assert [r["Nummer"] for r in records] == [line["Nummer"] for line in lines]
        assert [r["Preise"] for r in records] == [line["Preise"] for line in lines]
        first = lines[0]
        assert records[0]["created_date"] == dt.date.fromisoformat(first["created_date"])
        assert records[0]["created_time"] == dt.time.fromisoformat(first["created_time"])
        assert f"wrote 30 rows of {TABLE} from live @ {server.base_url} to stdout" in result.stderr

    def test_csv_has_nested_objects_as_json(self, env: dict[str, str], server: EmulatorServer):
        """CSV cells of nested 4D objects are JSON text that reads back to the same object."""
        result = run(env, "fetch", TABLE, "--limit", "12", "--page-size", "5", "--fields", FIELDS,
                     "--order-by", "Nummer", "--out", "-", "--format", "csv")  # fmt: skip
        assert 0 == result.returncode, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        records = list(
            client_for(server).iter_records(TABLE, limit=12, fields=FIELDS, order_by="Nummer")
        )
        assert ["__KEY", "__TIMESTAMP", "__STAMP", *FIELDS.split(",")] == list(rows[0])
        assert [r["Preise"] for r in records] == [json.loads(row["Preise"]) for row in rows]
        assert [str(r["Nummer"]) for r in records] == [row["Nummer"] for row in rows]
        assert [r["created_date"].isoformat() for r in records] == [
            row["created_date"] for row in rows
        ]
        assert {"True", "False"} >= {row["Aktiv"] for row in rows}
        assert "{'" not in result.stdout  # no Python reprs

    def test_json_file_is_one_array(self, env: dict[str, str], tmp_path: Path):
        """A .json file is one array of all rows, written across pages."""
        out = tmp_path / "rows.json"
        result = run(env, "fetch", TABLE, "--limit", "25", "--page-size", "10", "--out", str(out))
        assert 0 == result.returncode, result.stderr
        rows = json.loads(out.read_text())
        assert 25 == len(rows)
        assert 25 == len({r["__KEY"] for r in rows})

    def test_empty_read(self, env: dict[str, str], tmp_path: Path):
        """A read without rows still writes a valid file (a CSV header of the fields)."""
        out = tmp_path / "none.csv"
        result = run(env, "fetch", TABLE, "--where", "Nummer = -1", "--fields", "Nummer,Typ",
                     "--out", str(out))  # fmt: skip
        assert 0 == result.returncode, result.stderr
        with out.open(newline="") as written:
            assert "Nummer,Typ\r\n" == written.read()

    @needs_arrow
    def test_parquet_types(self, env: dict[str, str], tmp_path: Path):
        """Parquet holds dates as date32, times as time64, stamps as UTC, nested as JSON text."""
        import pyarrow as pa  # noqa: PLC0415 - optional
        import pyarrow.parquet as pq  # noqa: PLC0415

        out = tmp_path / "rows.parquet"
        result = run(env, "fetch", TABLE, "--limit", "40", "--page-size", "15", "--fields", FIELDS,
                     "--out", str(out))  # fmt: skip
        assert 0 == result.returncode, result.stderr
        table = pq.read_table(out)
        schema = table.schema
        assert pa.date32() == schema.field("created_date").type
        assert pa.types.is_time(schema.field("created_time").type)
        assert pa.timestamp("us", tz="UTC") == schema.field("__TIMESTAMP").type
        assert pa.int64() == schema.field("Nummer").type
        assert pa.bool_() == schema.field("Aktiv").type
        assert pa.string() == schema.field("Preise").type
        assert "Coll" in json.loads(table.column("Preise")[0].as_py())
        assert 40 == table.num_rows

    @needs_arrow
    def test_parquet_on_stdout(self, env: dict[str, str]):
        """--out - --format parquet writes a readable Parquet file to a pipe."""
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional

        result = run_bytes(env, "fetch", TABLE, "--limit", "9", "--out", "-", "--format", "parquet")
        assert 0 == result.returncode, result.stderr
        assert 9 == pq.read_table(io.BytesIO(result.stdout)).num_rows


class TestWithoutPyarrow:
    """CSV and JSON Lines need no pyarrow; Parquet says so before reading."""

    @pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
    def test_text_formats_work(self, env: dict[str, str], tmp_path: Path, suffix: str):
        """The entry point writes CSV and JSON Lines where pyarrow cannot be imported."""
        out = tmp_path / f"rows{suffix}"
        result = run_without_pyarrow(env, "fetch", TABLE, "--limit", "11", "--fields", FIELDS,
                                     "--out", str(out))  # fmt: skip
        assert 0 == result.returncode, result.stderr
        lines = out.read_text().splitlines()
        assert 11 == len(lines) - (suffix == ".csv")  # the CSV header

    def test_parquet_is_refused_before_any_request(
        self, env: dict[str, str], server: EmulatorServer, tmp_path: Path
    ):
        """Without pyarrow, --out x.parquet is exit 1 with the fix, no request, no file."""
        before = server.stats()["requests_total"]
        result = run_without_pyarrow(env, "fetch", TABLE, "--out", str(tmp_path / "a.parquet"))
        assert 1 == result.returncode
        assert result.stderr.startswith("error: --out ")
        assert "Parquet needs pyarrow: pip install 'legacy-api[arrow]'" in result.stderr
        assert before == server.stats()["requests_total"]
        assert [] == list(tmp_path.glob("a.parquet*"))


class TestChecksBeforeReading:
    """A destination that cannot work fails before the first request, exit 1."""

    @pytest.mark.parametrize(
        ("target", "problem"),
        [
            ("missing/rows.csv", "does not exist"),
            (".", "is a directory"),
            ("rows.xlsx", "unknown file type '.xlsx'"),
        ],
    )
    def test_bad_destination(
        self, env: dict[str, str], server: EmulatorServer, tmp_path: Path, target: str, problem: str
    ):
        """Missing directory, a directory, an unknown suffix: one error line and no request."""
        before = server.stats()["requests_total"]
        result = run(env, "fetch", TABLE, "--out", str(tmp_path / target))
        assert 1 == result.returncode
        lines = result.stderr.splitlines()
        assert 1 == len(lines), result.stderr
        assert lines[0].startswith(f"error: --out {tmp_path / target}: ")
        assert problem in lines[0]
        assert before == server.stats()["requests_total"]

    @pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
    def test_read_only_directory(self, env: dict[str, str], tmp_path: Path):
        """A directory the user cannot write to is refused before reading."""
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = run(env, "fetch", TABLE, "--out", str(locked / "rows.csv"))
        assert 1 == result.returncode
        assert "not writable" in result.stderr

    def test_format_without_out(self, env: dict[str, str]):
        """--format alone is refused: the preview has no format."""
        result = run(env, "fetch", TABLE, "--format", "csv")
        assert 1 == result.returncode
        assert "--out -" in result.stderr


class TestStreaming:
    """Rows are written while the read goes on, and a failed read leaves no file."""

    def test_first_rows_arrive_before_the_read_ends(
        self, env: dict[str, str], server: EmulatorServer
    ):
        """With 150 ms per request, the first page is on stdout while later pages are read."""
        server.set_faults(latency_ms=150)
        try:
            with subprocess.Popen(
                [SCRIPT, "fetch", TABLE, "--limit", "200", "--page-size", "20", "--fields",
                 "Nummer", "--out", "-"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ) as proc:  # fmt: skip
                assert proc.stdout is not None
                first = proc.stdout.readline()
                still_reading = proc.poll() is None
                rest = proc.stdout.read()
                status = proc.wait(timeout=120)
        finally:
            server.set_faults()
        assert 0 == status
        assert "Nummer" in json.loads(first)
        assert still_reading
        assert 199 == len(rest.splitlines())

    def test_closed_stdout_stops_the_read_quietly(
        self, env: dict[str, str], server: EmulatorServer
    ):
        """When the reader of stdout leaves (| head) the read stops: exit 0, snapshot released."""
        sets_before = server.stats()["active_entity_sets"]
        server.set_faults(latency_ms=100)
        try:
            with subprocess.Popen(
                [SCRIPT, "fetch", TABLE, "--page-size", "20", "--fields", "Nummer", "--out", "-"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ) as proc:  # fmt: skip
                assert proc.stdout is not None
                assert proc.stderr is not None
                assert "Nummer" in json.loads(proc.stdout.readline())
                proc.stdout.close()
                status = proc.wait(timeout=120)
                stderr = proc.stderr.read()
        finally:
            server.set_faults()
        assert 0 == status, stderr
        assert f"stopped reading {TABLE}: stdout was closed\n" == stderr
        assert sets_before == server.stats()["active_entity_sets"]

    def test_failed_read_leaves_no_file(
        self, env: dict[str, str], server: EmulatorServer, tmp_path: Path
    ):
        """A server lost mid-read is exit 3 and neither the file nor a temporary one remains."""
        out = tmp_path / "rows.csv"
        server.set_faults(latency_ms=100)
        try:
            with subprocess.Popen(
                [SCRIPT, "fetch", TABLE, "--page-size", "20", "--out", str(out), "--progress"],
                env={**env, "LEGACY_API_RETRIES": "0"}, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            ) as proc:  # fmt: skip
                assert proc.stderr is not None
                drawn = ""
                while "rows [" not in drawn:  # the first page has been written
                    drawn += proc.stderr.read(1) or pytest.fail(f"no progress: {drawn}")
                server.set_faults(reset_rate=1.0)
                status = proc.wait(timeout=120)
                stderr = drawn + proc.stderr.read()
        finally:
            server.set_faults()
        assert 3 == status, stderr
        assert "error: " in stderr
        assert [] == [p.name for p in tmp_path.iterdir() if p.name != "sessions"]


@pytest.fixture(scope="module")
def big() -> Iterator[EmulatorServer]:
    """An emulator with 20,000 rows of Artikel_Variante."""
    with serve(EmulatorConfig(rows=20_000)) as srv:
        yield srv


@needs_arrow
class TestParquetMatchesFetchFrame:
    """A 20,000-row read to Parquet holds the same rows and values as fetch_frame."""

    def test_same_rows_and_values(self, big: EmulatorServer, tmp_path: Path):
        """Every column of every row equals fetch_frame's (nested values via their JSON text)."""
        import pandas as pd  # noqa: PLC0415

        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_API", "LEGACY_ERP"))
        }
        env |= {"LEGACY_API_SESSION_STORE": "file", "LEGACY_API_SESSION_DIR": str(tmp_path / "s")}
        out = tmp_path / "variants.parquet"
        started = time.monotonic()
        result = run(env, "fetch", TABLE, "--url", big.base_url, "--out", str(out),
                     "--workers", "2")  # fmt: skip
        assert 0 == result.returncode, result.stderr
        assert time.monotonic() - started < 170
        written = pd.read_parquet(out)
        frame = client_for(big).fetch_frame(TABLE)
        assert (20_000, 36) == frame.shape
        assert list(frame.columns) == list(written.columns)
        for name in frame.columns:
            expected = [_plain(v) for v in frame[name].tolist()]
            values = [_plain(v) for v in written[name].tolist()]
            if any(isinstance(v, (dict, list)) for v in expected):
                values = [None if v is None else orjson.loads(v) for v in values]
            assert expected == values, name


def _plain(value: Any) -> Any:
    """NaN and None both mean null: compare them as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value
