"""Command-line glue: ``legacy-api emulator`` / ``python -m fourd_emulator``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from fourd_emulator._config import FOURD_VERSIONS, EmulatorConfig
from fourd_emulator._server import make_server

__all__ = ["add_arguments", "config_from_args", "main", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free)")
    parser.add_argument(
        "--rows", type=int, default=2000, help="rows of the big tables (default 2000)"
    )
    parser.add_argument(
        "--licences", type=int, default=None, help="max sessions (default unlimited)"
    )
    parser.add_argument(
        "--cookie",
        choices=("WASID4D", "4DSID"),
        default="WASID4D",
        help="session cookie: WASID4D or 4DSID (named 4DSID_<app-name>)",
    )
    parser.add_argument("--app-name", default="WSZ-DB", help="4D application name (default WSZ-DB)")
    parser.add_argument(
        "--require-login",
        action="store_true",
        help="data requests need a session authenticated with $directory/login",
    )
    parser.add_argument(
        "--force-login",
        action="store_true",
        help="no session (licence) before $directory/login: other requests answer 401",
    )
    parser.add_argument(
        "--no-logout",
        dest="logout",
        action="store_false",
        help="$directory/logout answers 404 (as on pyERP's server) instead of ending the session",
    )
    parser.add_argument(
        "--serialize-sessions",
        action="store_true",
        help="run the requests of one session one at a time (4D legacy sessions)",
    )
    parser.add_argument(
        "--session-lifetime",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="idle lifetime of a session in seconds (default 3600)",
    )
    parser.add_argument(
        "--fourd-version",
        type=int,
        choices=FOURD_VERSIONS,
        default=18,
        help="4D version whose answers to imitate: 17, 18 (default) or 20",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument(
        "--change-tracking",
        action="store_true",
        help="tables carry __GlobalStamp and deletes are listed in __DeletedRecords",
    )
    parser.add_argument(
        "--no-quirks",
        dest="quirks",
        action="store_false",
        help=(
            "disable pyERP's server quirks (500 on strict date comparisons and __TIMESTAMP "
            "filters, !!YYYY-MM-DD!! stamps in update answers)"
        ),
    )


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Build the configuration the parsed options describe."""
    return EmulatorConfig(
        rows=args.rows,
        licences=args.licences,
        cookie=args.cookie,
        app_name=args.app_name,
        require_login=args.require_login,
        force_login=args.force_login,
        logout=args.logout,
        serialize_sessions=args.serialize_sessions,
        session_lifetime=args.session_lifetime,
        seed=args.seed,
        quirks=args.quirks,
        fourd_version=args.fourd_version,
        change_tracking=args.change_tracking,
    )


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Serve in the foreground until Ctrl-C (or SIGTERM); return the exit status."""
    try:
        server = make_server(config_from_args(args), args.host, args.port)
    except (OSError, ValueError) as exc:
        print(f"legacy-api emulator: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        # Everything after the handler is installed sits in the try: a signal may arrive
        # as soon as the URL is printed (a test or a supervisor reacts to that line).
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _stop)
            # Also SIGINT: a process started in the background by a non-interactive
            # shell inherits SIGINT ignored, and Python then installs no handler for it.
            signal.signal(signal.SIGINT, _stop)
        print(f"4D emulator serving on {server.base_url}/rest/ (Ctrl-C to stop)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("4D emulator stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m fourd_emulator``."""
    parser = argparse.ArgumentParser(prog="fourd_emulator", description="Run the 4D REST emulator.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
