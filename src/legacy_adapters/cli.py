"""The ``legacy-api`` command line: fetch, tables, get, push, health, session, metrics-server, ...

An application, so it (alone) configures structlog: silent by default, ``-v`` for more.
Errors print one line, ``error: ...``, and exit 2 for usage, configuration and invalid
queries, 1 for server and data errors (unreachable, not found, conflicts).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import structlog

from legacy_core.errors import ConfigurationError, InvalidQuery, LegacyError
from legacy_core.query import Raw

__all__ = ["ProgressBar", "build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_PREVIEW_ROWS = 10


class ProgressBar:
    """``rows / total`` with a bar on one stderr line, redrawn at most ten times a second."""

    def __init__(self, label: str, stream: TextIO, *, width: int = 30) -> None:
        """Draw on ``stream``; ``label`` prefixes the line (the table name)."""
        self.label = label
        self.stream = stream
        self.width = width
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        """Update to ``done`` of ``total`` rows (the facade's progress callback)."""
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(self.width * min(fraction, 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label}: {done:,}/{total:,} rows [{bar}] {fraction:4.0%}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _configure_logging(verbose: int) -> None:
    # Quiet by default: a failure is the one "error:" line; -v shows warnings (retries),
    # -vv the library's info events, -vvv every request.
    levels = [logging.CRITICAL, logging.WARNING, logging.INFO, logging.DEBUG]
    level = levels[min(verbose, len(levels) - 1)]
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def _client(args: argparse.Namespace) -> Any:
    from legacy_adapters.bootstrap import build_client  # noqa: PLC0415 - keep --help fast
    from legacy_adapters.config import load_config  # noqa: PLC0415

    environ = dict(os.environ)
    if args.config:
        environ["LEGACY_API_CONFIG"] = args.config
    mapping: dict[str, Any] = {}
    if args.url:
        name = args.env or "live"
        mapping["environments"] = {name: args.url}
        mapping["default_environment"] = name
    elif args.env:
        mapping["default_environment"] = args.env
    if getattr(args, "workers", None):
        mapping["workers"] = args.workers
    return build_client(load_config(mapping, environ))


# -- commands --------------------------------------------------------------------------


def _cmd_fetch(args: argparse.Namespace) -> int:
    client = _client(args)
    show_progress = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(args.table, sys.stderr) if show_progress else None
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in {".csv", ".parquet", ".json", ".jsonl"}:
        msg = f"--out {args.out}: use a .csv, .parquet, .json or .jsonl file"
        raise ConfigurationError(msg)
    try:
        frame = client.fetch_frame(
            args.table,
            where=Raw(args.where) if args.where else None,  # the user typed it: explicit Raw
            fields=args.fields or None,
            order_by=args.order_by or None,
            limit=args.limit,
            skip=args.skip,
            page_size=args.page_size,
            workers=args.workers,
            raw=args.raw,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    if out is None:
        rows, columns = frame.shape
        print(f"{args.table}: {rows:,} rows x {columns} columns")
        if rows:
            print(frame.head(_PREVIEW_ROWS).to_string(max_colwidth=40))
        return EXIT_OK
    _write_frame(frame, out)
    print(f"wrote {len(frame):,} rows of {args.table} to {out}", file=sys.stderr)
    return EXIT_OK


def _write_frame(frame: Any, out: Path) -> None:
    suffix = out.suffix.lower()
    try:
        if suffix == ".csv":
            frame.to_csv(out, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(out, index=False)
        else:
            frame.to_json(
                out,
                orient="records",
                lines=suffix == ".jsonl",
                date_format="iso",
                force_ascii=False,
                default_handler=str,
            )
    except (ImportError, OSError, ValueError, TypeError) as exc:
        # pyarrow missing, a directory that does not exist, a column parquet cannot hold
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"cannot write {out}: {first}"
        raise ConfigurationError(msg) from exc


def _cmd_tables(args: argparse.Namespace) -> int:
    for name in _client(args).tables():
        print(name)
    return EXIT_OK


def _cmd_get(args: argparse.Namespace) -> int:
    record = _client(args).get_record(args.table, args.key, raw=args.raw)
    print(json.dumps(dict(record), indent=2, ensure_ascii=False, default=str))
    return EXIT_OK


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _cmd_push(args: argparse.Namespace) -> int:
    result = _client(args).push_field(
        args.table, args.key, args.field, _parse_value(args.value), expected_stamp=args.stamp
    )
    print(f"saved {result.table}[{result.key}] {args.field}, __STAMP={result.stamp}")
    return EXIT_OK


def _cmd_health(args: argparse.Namespace) -> int:
    report = _client(args).health()
    healthy = True
    for name, entry in report.items():
        latency = f"{entry['latency'] * 1000:.1f} ms" if entry.get("latency") is not None else "-"
        state = "ok" if entry["ok"] else "FAIL"
        line = f"{name:<8} {state:<4} {latency:>10}  breaker={entry.get('breaker')}"
        if entry.get("error"):
            line += f"  {entry['error']}"
        print(line)
        healthy = healthy and bool(entry["ok"])
    return EXIT_OK if healthy else EXIT_ERROR


def _cmd_session(args: argparse.Namespace) -> int:
    client = _client(args)
    sessions = client.sessions
    if sessions is None:
        msg = f"backend {type(client.reader).__name__} has no shared sessions"
        raise ConfigurationError(msg)
    env = client.environments[client.environment_name(args.env)]
    session = sessions.acquire(env)
    # The repr never shows the cookie value.
    print(repr(session))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from legacy_adapters.demo import run_demo  # noqa: PLC0415

    status: int = run_demo(rows=args.rows, workers=args.workers or 2, progress=True)
    return status


def _cmd_metrics_server(args: argparse.Namespace) -> int:
    try:
        from legacy_adapters.observe._server import make_metrics_server  # noqa: PLC0415
    except ImportError as exc:
        msg = f"metrics-server needs the metrics extra: pip install 'legacy-api[metrics]' ({exc})"
        raise ConfigurationError(msg) from None
    server = make_metrics_server(args.host, args.port)
    print(f"serving metrics on http://{args.host}:{server.server_port}/metrics", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return EXIT_OK


def _add_emulator(sub: Any) -> None:
    try:
        emulator_cli: Any = importlib.import_module("fourd_emulator.cli")
    except ImportError:
        emulator_cli = None
    parser = sub.add_parser("emulator", help="run the 4D REST emulator (local development)")
    if emulator_cli is not None and hasattr(emulator_cli, "add_arguments"):
        emulator_cli.add_arguments(parser)
        parser.set_defaults(handler=lambda a: _int(emulator_cli.run(a)))
    else:
        parser.set_defaults(handler=_emulator_missing)


def _int(value: object) -> int:
    return value if isinstance(value, int) else EXIT_OK


def _emulator_missing(_args: argparse.Namespace) -> int:
    msg = "the emulator is not available in this installation (fourd_emulator.cli missing)"
    raise ConfigurationError(msg)


# -- parser ----------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"expected an integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 0:
        msg = f"expected an integer >= 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _fields(text: str) -> list[str]:
    return [f.strip() for f in text.split(",") if f.strip()]


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``legacy-api``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", help="environment (default: the configured default, 'live')")
    common.add_argument("--url", help="base URL for this one call, e.g. http://127.0.0.1:8080")
    common.add_argument("--config", help="TOML configuration file (else $LEGACY_API_CONFIG)")
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log warnings (-v), events (-vv), requests (-vvv)",
    )

    parser = argparse.ArgumentParser(
        prog="legacy-api", description="Read and write the legacy 4D ERP over its REST API."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = sub.add_parser("fetch", parents=[common], help="read a table into a file or preview")
    fetch.add_argument("table")
    fetch.add_argument("--where", help="4D filter text, sent as written: 'Nummer = 803721'")
    fetch.add_argument("--fields", type=_fields, help="attributes to read: a,b,c")
    fetch.add_argument("--order-by", help="'Nummer desc' or 'Nummer,Name'")
    fetch.add_argument("--limit", type=_positive, help="at most this many rows")
    fetch.add_argument("--skip", type=_positive, default=0, help="skip this many rows first")
    fetch.add_argument("--page-size", type=_positive, help="rows per request")
    fetch.add_argument("--workers", type=_positive, help="pages fetched in parallel")
    fetch.add_argument("--raw", action="store_true", help="values exactly as 4D sends them")
    fetch.add_argument("--out", help="write FILE.csv, .parquet, .json or .jsonl")
    fetch.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    fetch.set_defaults(handler=_cmd_fetch)

    tables = sub.add_parser("tables", parents=[common], help="list the tables")
    tables.set_defaults(handler=_cmd_tables)

    get = sub.add_parser("get", parents=[common], help="show one record as JSON")
    get.add_argument("table")
    get.add_argument("key")
    get.add_argument("--raw", action="store_true", help="values exactly as 4D sends them")
    get.set_defaults(handler=_cmd_get)

    # describe TABLE [--json]: registered by its own module (legacy_adapters._describe)
    importlib.import_module("legacy_adapters._describe").add_subcommand(sub, common, _client)

    push = sub.add_parser("push", parents=[common], help="set one field of one record")
    push.add_argument("table")
    push.add_argument("key")
    push.add_argument("field")
    push.add_argument("value", help='JSON if it parses (42, true, null, "text"), else text')
    push.add_argument("--stamp", type=_positive, help="only if __STAMP is still this")
    push.set_defaults(handler=_cmd_push)

    health = sub.add_parser("health", parents=[common], help="probe every environment")
    health.set_defaults(handler=_cmd_health)

    session = sub.add_parser(
        "session", parents=[common], help="show the shared session (logs in if there is none)"
    )
    session.set_defaults(handler=_cmd_session)

    demo = sub.add_parser("demo", parents=[common], help="run the demo against the emulator")
    demo.add_argument("--rows", type=_positive, default=60_000, help="rows per seeded table")
    demo.add_argument("--workers", type=_positive, default=2, help="pages fetched in parallel")
    demo.set_defaults(handler=_cmd_demo)

    metrics = sub.add_parser(
        "metrics-server", help="serve the metrics of every process in $PROMETHEUS_MULTIPROC_DIR"
    )
    metrics.add_argument("--port", type=_positive, default=9464, help="port (0: a free one)")
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on")
    metrics.set_defaults(handler=_cmd_metrics_server)

    _add_emulator(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "verbose", 0))
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigurationError, InvalidQuery) as exc:
        _error(exc)
        return EXIT_USAGE
    except LegacyError as exc:
        _error(exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _error(exc: LegacyError) -> None:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(f"error: {first}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
