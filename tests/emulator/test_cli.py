"""Conformance: the command line (``python -m fourd_emulator`` / ``legacy-api emulator``)."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
from collections.abc import Iterator

import pytest
import requests

from fourd_emulator import cli
from legacy_adapters.testing import emulator_process

pytestmark = pytest.mark.integration


@pytest.fixture
def process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -m fourd_emulator --port 0 --rows 50 --cookie 4DSID --licences 1`` and its URL."""
    with emulator_process("--rows", "50", "--cookie", "4DSID", "--licences", "1") as running:
        yield running


class TestCommandLine:
    def test_defaults(self) -> None:
        """add_arguments gives the documented defaults."""
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        args = parser.parse_args([])
        assert ("127.0.0.1", 8080, 2000, None, "WASID4D", "WSZ-DB", False, 0, True) == (
            args.host,
            args.port,
            args.rows,
            args.licences,
            args.cookie,
            args.app_name,
            args.require_login,
            args.seed,
            args.quirks,
        )
        cfg = cli.config_from_args(args)
        assert (False, True, False, 3600.0) == (
            cfg.force_login,
            cfg.logout,
            cfg.serialize_sessions,
            cfg.session_lifetime,
        )

    def test_options_build_the_config(self) -> None:
        """Every option reaches EmulatorConfig."""
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        args = parser.parse_args(
            [
                "--rows",
                "10",
                "--licences",
                "3",
                "--cookie",
                "4DSID",
                "--app-name",
                "X",
                "--require-login",
                "--seed",
                "5",
                "--no-quirks",
            ]
        )
        cfg = cli.config_from_args(args)
        assert (10, 3, "4DSID_X", True, 5, False) == (
            cfg.rows,
            cfg.licences,
            cfg.cookie_name,
            cfg.require_login,
            cfg.seed,
            cfg.quirks,
        )

    def test_session_options_build_the_config(self) -> None:
        """--force-login, --no-logout, --serialize-sessions and --session-lifetime reach it."""
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        args = parser.parse_args(
            ["--force-login", "--no-logout", "--serialize-sessions", "--session-lifetime", "90.5"]
        )
        cfg = cli.config_from_args(args)
        assert (True, False, True, 90.5, True) == (
            cfg.force_login,
            cfg.logout,
            cfg.serialize_sessions,
            cfg.session_lifetime,
            cfg.quirks,
        )

    def test_change_tracking_flag(self) -> None:
        """--change-tracking switches change tracking on; it is off by default."""
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        on = cli.config_from_args(parser.parse_args(["--change-tracking"]))
        off = cli.config_from_args(parser.parse_args([]))
        assert (True, False) == (on.change_tracking, off.change_tracking)

    def test_logout_flag_is_independent_of_quirks(self) -> None:
        """--no-quirks leaves logout on and --no-logout leaves the quirks on."""
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        no_quirks = cli.config_from_args(parser.parse_args(["--no-quirks"]))
        no_logout = cli.config_from_args(parser.parse_args(["--no-logout"]))
        assert (False, True) == (no_quirks.quirks, no_quirks.logout)
        assert (True, False) == (no_logout.quirks, no_logout.logout)

    def test_fourd_version_option(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--fourd-version takes 17, 18 (the default) or 20 and nothing else."""
        parser = argparse.ArgumentParser()
        cli.add_arguments(parser)
        assert 18 == cli.config_from_args(parser.parse_args([])).fourd_version
        for version in (17, 20):
            args = parser.parse_args(["--fourd-version", str(version)])
            assert version == cli.config_from_args(args).fourd_version
        with pytest.raises(SystemExit):
            parser.parse_args(["--fourd-version", "19"])
        assert "invalid choice" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("version", "envelope"),
        [
            ("17", ["__entityModel", "__COUNT", "__FIRST", "__SENT", "__ENTITIES"]),
            ("20", ["__DATACLASS", "__entityModel", "__GlobalStamp", "__COUNT", "__FIRST"]),
        ],
    )
    def test_fourd_version_process(self, version: str, envelope: list[str]) -> None:
        """A process started with --fourd-version shapes its pages like that version."""
        with emulator_process("--rows", "8", "--fourd-version", version) as (_proc, url):
            body = requests.get(f"{url}/rest/Kunden", params={"$top": 1}, timeout=5).json()
        assert envelope == list(body)[: len(envelope)]
        assert ("__GlobalStamp" in body) is (version != "17")

    def test_force_login_process(self) -> None:
        """A process started with --force-login --session-lifetime 120 serves those semantics."""
        with emulator_process("--rows", "20", "--force-login", "--session-lifetime", "120") as (
            _proc,
            url,
        ):
            refused = requests.get(f"{url}/rest/$info", timeout=5)
            login = requests.post(
                f"{url}/rest/$directory/login",
                headers={"username-4D": "admin", "password-4D": "secret"},
                timeout=5,
            )
        assert 401 == refused.status_code
        assert "Set-Cookie" not in refused.headers
        assert "Max-Age=120;" in login.headers["Set-Cookie"]

    def test_serves_and_stops_on_ctrl_c(self, process: tuple[subprocess.Popen[str], str]) -> None:
        """The module prints its base URL, serves the options it got, and exits 0 on SIGINT."""
        proc, url = process
        r = requests.get(f"{url}/rest/$info", timeout=5)
        assert "4DSID_WSZ-DB" in r.cookies
        assert 402 == requests.get(f"{url}/rest/$info", timeout=5).status_code
        assert (
            50
            == requests.get(
                f"{url}/rest/Artikel_Variante", params={"$top": 0}, cookies=r.cookies, timeout=5
            ).json()["__COUNT"]
        )
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert 0 == proc.returncode, err
        assert "stopped" in out

    def test_sigterm_stops_cleanly(self, process: tuple[subprocess.Popen[str], str]) -> None:
        """SIGTERM stops the server like Ctrl-C."""
        proc, _ = process
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert 0 == proc.returncode, err

    def test_busy_port(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A port in use makes run() return 2 with a message instead of a traceback."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            parser = argparse.ArgumentParser()
            cli.add_arguments(parser)
            args = parser.parse_args(["--port", str(s.getsockname()[1])])
            assert 2 == cli.run(args)
        assert "cannot start" in capsys.readouterr().err


class TestIndependence:
    def test_emulator_imports_nothing_from_the_client(self) -> None:
        """The oracle stays independent: no module of fourd_emulator imports legacy_*."""
        import ast  # noqa: PLC0415
        from pathlib import Path  # noqa: PLC0415

        import fourd_emulator  # noqa: PLC0415

        found = []
        for path in Path(fourd_emulator.__file__).parent.glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                found += [
                    f"{path.name}: {n}" for n in names if n.split(".")[0].startswith("legacy")
                ]
        assert [] == found
        assert len(list(Path(fourd_emulator.__file__).parent.glob("*.py"))) > 5

    def test_split_keeps_the_app_modules_names(self) -> None:
        """The names _app.py defined before the split still import from it, as the same objects."""
        from fourd_emulator import _app, _control, _http, _server, _sessions  # noqa: PLC0415

        assert ("fourd_emulator.fault", "fourd_emulator.transport") == (
            _app.FAULT_KEY,
            _app.SOCKET_KEY,
        )
        assert (_server.FAULT_KEY, _server.SOCKET_KEY) == (_http.FAULT_KEY, _http.SOCKET_KEY)
        assert _http.Response is _app.Response
        assert _sessions.TIMELINE_CAP == _app.TIMELINE_CAP
        assert _control.CATALOG_TYPES is _app.CATALOG_TYPES
        assert {"string", "date", "uuid", "object"} <= _app.CATALOG_TYPES
