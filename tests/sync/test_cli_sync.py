"""``legacy-api sync`` run for real in a subprocess against the emulator."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fourd_emulator import EmulatorServer

from .conftest import Fourd

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).with_name("legacy-api"))
HOLD_LOCK = (
    "import sys, time; from legacy_adapters.sync import SqliteSink\n"
    "with SqliteSink(sys.argv[1]).lock('Personal'):\n"
    "    print('held', flush=True); time.sleep(60)"
)


@pytest.fixture
def env(tmp_path: Path, emulator: EmulatorServer) -> dict[str, str]:
    """A clean shell environment pointing the live environment at the emulator."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_API", "LEGACY_ERP"))}
    return {
        **clean,
        "LEGACY_API_LIVE_URL": emulator.base_url,
        "LEGACY_API_SESSION_STORE": "file",
        "LEGACY_API_SESSION_DIR": str(tmp_path / "sessions"),
    }


def committed(db: Path) -> int:
    """Rows committed so far in the synced table (0 before the table exists)."""
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            return int(conn.execute('SELECT count(*) FROM "Artikel_Variante"').fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script; never raises on a non-zero exit."""
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


class TestSyncCommand:
    """First run copies, later runs read the changes and apply deletes, with a summary."""

    def test_copy_then_incremental(self, env: dict[str, str], fourd: Fourd, tmp_path: Path):
        """Two runs into SQLite: a full copy, then one update and one delete and nothing else."""
        db = tmp_path / "personal.db"
        first = cli(env, "sync", "Personal", "--to", f"sqlite:{db}")
        assert 0 == first.returncode, first.stderr
        assert first.stdout.startswith("Personal: full copy, 40 rows read, 40 created, 0 updated")
        people = fourd.records("Personal")
        fourd.update("Personal", {"__KEY": people[0]["__KEY"], "Name": "Neu"})
        fourd.delete("Personal", people[1]["__KEY"])
        second = cli(env, "sync", "Personal", "--to", f"sqlite:{db}", "--json")
        assert 0 == second.returncode, second.stderr
        summary = json.loads(second.stdout)
        assert (False, 0, 1, 1) == (
            summary["full"],
            summary["created"],
            summary["updated"],
            summary["deleted"],
        )
        assert summary["requests"] > 0
        with contextlib.closing(sqlite3.connect(db)) as conn:
            keys = {k for (k,) in conn.execute('SELECT "__KEY" FROM "Personal"')}
            name = conn.execute(
                'SELECT "Name" FROM "Personal" WHERE "__KEY" = ?', (people[0]["__KEY"],)
            ).fetchone()[0]
        assert {p["__KEY"] for p in fourd.records("Personal")} == keys
        assert "Neu" == name

    def test_full_flag_copies_the_whole_table_again(
        self, env: dict[str, str], fourd: Fourd, tmp_path: Path
    ) -> None:
        """``--full`` after a copy reads every row once more and finds nothing to change."""
        db = tmp_path / "personal.db"
        assert 0 == cli(env, "sync", "Personal", "--to", f"sqlite:{db}").returncode
        again = cli(env, "sync", "Personal", "--to", f"sqlite:{db}", "--full", "--json")
        assert 0 == again.returncode, again.stderr
        summary = json.loads(again.stdout)
        total = len(fourd.records("Personal"))
        assert (True, total, 0, 0, 0) == (
            summary["full"],
            summary["rows_read"],
            summary["created"],
            summary["updated"],
            summary["deleted"],
        )
        incremental = json.loads(
            cli(env, "sync", "Personal", "--to", f"sqlite:{db}", "--json").stdout
        )
        assert not incremental["full"]
        assert incremental["rows_read"] < total

    def test_killed_process_resumes(
        self, env: dict[str, str], fourd: Fourd, emulator: EmulatorServer, tmp_path: Path
    ):
        """A sync killed with SIGKILL mid-copy is completed by the next run, each event once."""
        db = tmp_path / "killed.db"
        emulator.set_faults(latency_ms=15)
        args = [SCRIPT, "sync", "Artikel_Variante", "--to", f"sqlite:{db}", "--batch-size", "20"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and committed(db) < 200:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
            emulator.set_faults()
        assert -signal.SIGKILL == proc.returncode
        partial = committed(db)
        assert 200 <= partial < 2000
        result = cli(env, "sync", "Artikel_Variante", "--to", f"sqlite:{db}", "--json")
        assert 0 == result.returncode, result.stderr
        assert 2000 - partial == json.loads(result.stdout)["created"]
        with contextlib.closing(sqlite3.connect(db)) as conn:
            keys = {k for (k,) in conn.execute('SELECT "__KEY" FROM "Artikel_Variante"')}
            events = conn.execute("SELECT kind, key FROM _legacy_sync_events").fetchall()
        assert {r["__KEY"] for r in fourd.records("Artikel_Variante")} == keys
        assert 2000 == len(events) == len(set(events))

    def test_locked_mapping_exits_1(self, env: dict[str, str], tmp_path: Path):
        """A run started while another process holds the mapping exits 1, touching nothing."""
        db = tmp_path / "busy.db"
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLD_LOCK,
                str(db),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert "held" == holder.stdout.readline().strip()  # type: ignore[union-attr]
            result = cli(env, "sync", "Personal", "--to", f"sqlite:{db}")
        finally:
            holder.kill()
            holder.wait(timeout=30)
            holder.stdout.close()  # type: ignore[union-attr]
        assert 1 == result.returncode
        assert "another run of mapping Personal is in progress" in result.stderr
        after = cli(env, "sync", "Personal", "--to", f"sqlite:{db}")
        assert 0 == after.returncode, after.stderr  # the dead holder's lock went with it

    def test_bad_target_exits_1(self, env: dict[str, str]):
        """An unknown --to scheme is the user's error: exit 1 and one error line."""
        result = cli(env, "sync", "Personal", "--to", "mysql://x")
        assert 1 == result.returncode
        assert result.stderr.startswith("error: unknown sync target 'mysql'")

    def test_unknown_table_exits_1(self, env: dict[str, str], tmp_path: Path):
        """A table 4D does not serve is named in the error, exit 1."""
        result = cli(env, "sync", "Nope", "--to", f"sqlite:{tmp_path / 'x.db'}")
        assert 1 == result.returncode, result.stderr
        assert "Nope" in result.stderr
