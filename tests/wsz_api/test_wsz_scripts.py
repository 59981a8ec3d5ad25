"""Old caller scripts, run as separate processes at once against two emulators (live, test)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wsz_support import PYTHON, SCRIPTS, script_env

from fourd_emulator import EmulatorConfig, EmulatorServer, serve

pytestmark = pytest.mark.integration

NEW_DATA_SINCE = dt.date(2025, 6, 1)
# Each name runs as its own process; caller_session_cookie twice to compare cookies.
SCRIPT_RUNS = (
    "caller_positional",
    "caller_keyword_paging",
    "caller_push",
    "caller_session_cookie",
    "caller_session_cookie",
    "caller_record",
    "caller_windows_path",
    "caller_unknown_table",
)


def _day(wire: object) -> dt.date | None:
    # A null date arrives as NaN in the frame (pandas' missing value), as in the old package.
    if not isinstance(wire, str) or wire in {"", "0!0!0"}:
        return None
    day, month, year = (int(p) for p in wire.split("!"))
    return dt.date(year, month, day)


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, EmulatorServer]]:
    """A live and a test emulator, each with its own data and session counters."""
    with (
        serve(EmulatorConfig(rows=120, seed=1)) as live,
        serve(EmulatorConfig(rows=120, seed=2)) as test,
    ):
        yield {"live": live, "test": test}


@pytest.fixture(scope="module")
def runs(
    emulators: dict[str, EmulatorServer], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    """Start every caller script at once; collect exit code, JSON report and stderr."""
    tmp = tmp_path_factory.mktemp("scripts")
    env = script_env(
        tmp,
        LEGACY_API_LIVE_URL=emulators["live"].base_url,
        LEGACY_API_TEST_URL=emulators["test"].base_url,
        LEGACY_API_NEW_DATA_SINCE=NEW_DATA_SINCE.isoformat(),
    )
    procs = [
        (
            name,
            subprocess.Popen(
                [PYTHON, str(SCRIPTS / f"{name}.py")],
                env=env,
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for name in SCRIPT_RUNS
    ]
    results = []
    for name, proc in procs:
        out, err = proc.communicate(timeout=120)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        results.append(
            {
                "name": name,
                "rc": proc.returncode,
                "report": json.loads(lines[-1]) if lines else None,
                "stderr": err,
            }
        )
    return results


def _one(runs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    report: dict[str, Any] = next(r for r in runs if r["name"] == name)["report"]
    return report


class TestCallerScripts:
    def test_every_script_succeeds(self, runs: list[dict[str, Any]]) -> None:
        """All caller scripts exit 0 with a report, run concurrently."""
        failed = [(r["name"], r["stderr"][-2000:]) for r in runs if r["rc"] or not r["report"]]
        assert [] == failed

    def test_one_session_per_environment_for_all_processes(
        self, runs: list[dict[str, Any]], emulators: dict[str, EmulatorServer]
    ) -> None:
        """Eight processes share one 4D session per environment through the file store."""
        assert runs
        assert 1 == emulators["live"].stats()["sessions_created"]
        assert 1 == emulators["test"].stats()["sessions_created"]

    def test_get_session_cookie_returns_the_shared_cookie(self, runs: list[dict[str, Any]]) -> None:
        """Both processes get the same live cookie (a str that 4D accepts); test's differs."""
        cookies = [r["report"] for r in runs if r["name"] == "caller_session_cookie"]
        assert 2 == len(cookies)
        assert cookies[0]["live"] == cookies[1]["live"]
        assert cookies[0]["test"] != cookies[0]["live"]
        assert ["str", "str"] == cookies[0]["types"]
        assert cookies[0]["same_twice"] is True
        assert [200, 200] == [c["own_request"] for c in cookies]

    def test_default_call_returns_every_row(self, runs: list[dict[str, Any]]) -> None:
        """fetch_data_from_api("T") without new_data_only returns the whole table (ADR 0016)."""
        report = _one(runs, "caller_positional")
        assert report["whole"] == report["default"]

    def test_new_data_only_true_keeps_the_window_and_says_so_once(
        self, runs: list[dict[str, Any]]
    ) -> None:
        """new_data_only=True keeps rows since the threshold; stderr names it on the first call."""
        run = next(r for r in runs if r["name"] == "caller_positional")
        report = run["report"]
        assert 0 < report["recent"]["rows"] < report["default"]["rows"]
        for created, modified in report["recent_dates"]:
            days = [d for d in (_day(created), _day(modified)) if d is not None]
            assert max(days) >= NEW_DATA_SINCE
        notices = [line for line in run["stderr"].splitlines() if "new_data_only=True" in line]
        assert 1 == sum(line.startswith("legacy-api: ") for line in notices)
        assert NEW_DATA_SINCE.isoformat() in notices[0]
        assert "LEGACY_API_NEW_DATA_DAYS" in notices[0]

    def test_frames_have_raw_columns_in_server_order_and_raw_values(
        self, runs: list[dict[str, Any]]
    ) -> None:
        """Columns start __KEY, __TIMESTAMP, __STAMP; dates stay D!M!YYYY str, objects dicts."""
        report = _one(runs, "caller_positional")["default"]
        assert "DataFrame" == report["type"]
        assert ["__KEY", "__TIMESTAMP", "__STAMP", "UID", "Familie_"] == report["columns"][:5]
        assert "str" == report["types"]["created_date"]
        assert _day(report["first"]["created_date"]) is not None
        assert "dict" == report["types"]["Preise"]

    def test_top_10000_returns_the_whole_small_table(self, runs: list[dict[str, Any]]) -> None:
        """top=10000 with new_data_only=False returns every Artikel_Familie row (120 / 4)."""
        assert 30 == _one(runs, "caller_positional")["all_families"]["rows"]

    def test_keyword_forms_top_skip_limit_and_date_created_start(
        self, runs: list[dict[str, Any]]
    ) -> None:
        """table_name=/top=/skip= page without overlap; limit= caps; date_created_start filters."""
        report = _one(runs, "caller_keyword_paging")
        assert 25 == report["kalkulation"]["rows"]
        pages = report["pages"]
        assert [10, 10, 10] == [len(p) for p in pages]
        assert 30 == len({k for p in pages for k in p})
        assert 0 < report["recent"]["rows"]
        assert all(_day(d) >= dt.date(2025, 1, 1) for d in report["recent_created"])  # type: ignore[operator]
        assert report["recent"]["rows"] == report["recent_dt_rows"]
        assert report["limited"]["rows"] <= 25

    def test_push_data_and_push_field_to_api_write_and_return_true(
        self, runs: list[dict[str, Any]]
    ) -> None:
        """Both write forms return True and the server holds the new values."""
        report = _one(runs, "caller_push")
        assert (True, True) == (report["push_data"], report["push_field_to_api"])
        assert ["Engel neu", "11400-XX"] == report["after"]

    def test_record_lookups_return_dicts(self, runs: list[dict[str, Any]]) -> None:
        """get_record, getRecord and WSZ_API().get_record return the raw entity as a dict."""
        report = _one(runs, "caller_record")
        assert {
            "variant_type": "dict",
            "variant_key": True,
            "alias_equal": True,
            "family_key": True,
            "preise_type": "dict",
            "created_type": "str",
            "test_family": True,
        } == report

    def test_windows_sys_path_header_still_imports(self, runs: list[dict[str, Any]]) -> None:
        """sys.path.append(r'C:\\...\\WSZ_api') before the imports changes nothing."""
        assert {"rows": 3, "cookie_callable": True} == _one(runs, "caller_windows_path")

    def test_unknown_table_first_line_names_environment_table_and_status(
        self, runs: list[dict[str, Any]]
    ) -> None:
        """The first line callers print says live, the table and HTTP 404."""
        report = _one(runs, "caller_unknown_table")
        assert "UnknownTable" == report["error_type"]
        first = report["first_line"]
        assert "Artikel_Gibtsnicht" in first
        assert "environment=live" in first
        assert "status=404" in first

    def test_deprecation_warnings_once_per_call_site_under_default_filters(
        self, runs: list[dict[str, Any]]
    ) -> None:
        """With Python's default filters a script sees one warning per calling line (loop: one)."""
        stderr = next(r for r in runs if r["name"] == "caller_keyword_paging")["stderr"]
        warnings = [line for line in stderr.splitlines() if "DeprecationWarning" in line]
        assert 5 == len(warnings)
        assert all("LegacyClient.fetch_frame" in line for line in warnings)


class TestImportDoesNoIO:
    def test_import_opens_no_connection_and_creates_no_session(
        self, emulators: dict[str, EmulatorServer], tmp_path: Path
    ) -> None:
        """Importing every module (and WSZ_API()) sends no request and writes no session file."""
        before = emulators["live"].stats()["requests_total"]
        env = script_env(tmp_path, LEGACY_API_LIVE_URL=emulators["live"].base_url)
        done = subprocess.run(
            [PYTHON, str(SCRIPTS / "import_only.py")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        report = json.loads(done.stdout.splitlines()[-1])
        assert [] == report["attempts"]
        assert before == emulators["live"].stats()["requests_total"]
        assert not (tmp_path / "sessions").exists()

    def test_import_works_without_any_configuration(self, tmp_path: Path) -> None:
        """With no URL configured at all, the imports still succeed."""
        done = subprocess.run(
            [PYTHON, str(SCRIPTS / "import_only.py")],
            env=script_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert 0 == done.returncode, done.stderr
        assert "wsz_api.getTable" in json.loads(done.stdout.splitlines()[-1])["modules"]
