"""The ``legacy-api`` command line: fetch, tables, get, push, health, session, metrics-server, ...

An application, so it (alone) configures structlog: silent by default, ``-v`` for more.
Errors print one line, ``error: ...``, and exit with the status of :data:`EXIT_CODES`:
1 for the user's input or data (bad input, unknown table or field, not found, conflict,
configuration), 2 for usage (argparse), 3 for the server (unavailable, licence, protocol).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from legacy_adapters._progress import ProgressBar, format_duration
from legacy_adapters._writers import FORMATS, Output, OutputError, open_writer, plan_output
from legacy_core.errors import (
    CircuitOpen,
    ConfigurationError,
    EntitySetExpired,
    LegacyError,
    LicenceExhausted,
    LockTimeout,
    ProtocolError,
    ServerBusy,
    ServerError,
    ServerUnavailable,
    SessionExpired,
)
from legacy_core.query import Filter, Raw, parse_where

__all__ = ["EXIT_CODES", "ProgressBar", "build_parser", "exit_status", "main"]

EXIT_OK, EXIT_USER, EXIT_USAGE, EXIT_SERVER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_USER: "user error: bad input, unknown table or field, not found, conflict, "
    "configuration, an output that cannot be written",
    EXIT_USAGE: "usage: unknown option or missing argument",
    EXIT_SERVER: "server: unavailable, busy, licence exhausted, circuit open, "
    "an answer that cannot be read",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
_SERVER_ERRORS = (
    ServerUnavailable,
    ServerBusy,
    ServerError,
    ProtocolError,
    LicenceExhausted,
    CircuitOpen,
    LockTimeout,
    SessionExpired,
    EntitySetExpired,
)
_PREVIEW_ROWS = 10


def exit_status(error: LegacyError) -> int:
    """The exit status for ``error``: 3 when the server is at fault, else 1 (the user's)."""
    return EXIT_SERVER if isinstance(error, _SERVER_ERRORS) else EXIT_USER


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
    client = build_client(load_config(mapping, environ))
    structlog.get_logger("legacy_api").info(
        "legacy_api.cli.target", target=_target(client, args), from_url_option=bool(args.url)
    )
    return client


def _target(client: Any, args: argparse.Namespace) -> str:
    """``live @ http://127.0.0.1:8080``: the environment a command talks to and its URL."""
    name = client.environment_name(args.env)
    environment = client.environments.get(name)
    return f"{name} @ {environment.base_url}" if environment is not None else name


def _where(args: argparse.Namespace) -> Filter | None:
    if args.raw_filter:
        return Raw(args.raw_filter)  # the user typed 4D syntax and said so: explicit Raw
    if args.where:
        return parse_where(args.where)
    return None


# -- commands --------------------------------------------------------------------------


def _cmd_fetch(args: argparse.Namespace) -> int:
    if args.format is not None and args.out is None:
        msg = "--format applies to --out; use --out - to write to stdout"
        raise ConfigurationError(msg)
    where = _where(args)  # a bad --where fails here, before any request
    output = plan_output(args.out, args.format) if args.out is not None else None
    client = _client(args)
    target = _target(client, args)
    show_progress = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = ProgressBar(args.table, sys.stderr) if show_progress else None
    read = {
        "where": where,
        "fields": args.fields or None,
        "order_by": args.order_by or None,
        "limit": args.limit,
        "skip": args.skip,
        "page_size": args.page_size,
        "workers": args.workers,
        "raw": args.raw,
        "progress": bar,
    }
    started = time.monotonic()
    frame: Any = None
    rows: int | None = None
    try:
        if output is None:
            frame = client.fetch_frame(args.table, **read)
        else:
            rows = _stream(client, args, output, read, bar)
    finally:
        if bar is not None:
            bar.close()
    if output is None:
        count, columns = frame.shape
        print(f"{args.table} from {target}: {count:,} rows x {columns} columns")
        if count:
            print(frame.head(_PREVIEW_ROWS).to_string(max_colwidth=40))
        return EXIT_OK
    if rows is None:
        return EXIT_OK  # its reader closed stdout (| head); _stream said so
    elapsed = time.monotonic() - started
    rate = f", {rows / elapsed:,.0f} rows/s" if elapsed > 0 and rows else ""
    print(
        f"wrote {rows:,} rows of {args.table} from {target} to {output.label} "
        f"({output.format}, {format_duration(elapsed)}{rate})",
        file=sys.stderr,
    )
    return EXIT_OK


def _stream(
    client: Any, args: argparse.Namespace, output: Output, read: dict[str, Any], bar: Any
) -> int | None:
    """Write the read page by page (memory: a few pages); the rows, or None if stdout closed."""

    def warn(line: str) -> None:
        if bar is not None:
            bar.close()  # a warning on its own line, not inside the bar
        print(f"warning: {line}", file=sys.stderr)

    columns = list(args.fields or ())
    pages = client.iter_pages(args.table, **read)
    try:
        with open_writer(output, columns=columns, warn=warn) as writer:
            for page in pages:
                writer.write_page(page.records)
    except LegacyError:
        raise  # ServerUnavailable is a ConnectionError, an OSError: not the file's fault
    except BrokenPipeError:
        if output.path is not None:
            raise
        # The reader of stdout has had enough (| head): stop reading, quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not fail again
        print(f"stopped reading {args.table}: stdout was closed", file=sys.stderr)
        return None
    except OutputError as exc:
        msg = f"cannot write {output.label}: {exc}"
        raise ConfigurationError(msg) from exc
    except OSError as exc:
        msg = f"cannot write {output.label}: {exc.strerror or exc}"
        raise ConfigurationError(msg) from exc
    finally:
        pages.close()  # releases the snapshot when the writer failed mid-read
    return writer.rows


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
    client = _client(args)
    report = client.health()
    healthy = True
    for name, entry in report.items():
        latency = f"{entry['latency'] * 1000:.1f} ms" if entry.get("latency") is not None else "-"
        state = "ok" if entry["ok"] else "FAIL"
        url = client.environments[name].base_url if name in client.environments else ""
        line = f"{name:<8} {state:<4} {latency:>10}  breaker={entry.get('breaker')}  {url}"
        if entry.get("error"):
            line += f"  {entry['error']}"
        print(line)
        healthy = healthy and bool(entry["ok"])
    return EXIT_OK if healthy else EXIT_SERVER


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


def _add_fetch(sub: Any, common: argparse.ArgumentParser) -> None:
    fetch = sub.add_parser(
        "fetch",
        parents=[common],
        help="read a table into a file, stdout or a preview",
        epilog=_FETCH_EPILOG + "\n\n" + _EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("table")
    filters = fetch.add_mutually_exclusive_group()
    filters.add_argument(
        "--where",
        metavar="EXPR",
        help='typed filter: "Nummer = 803721 and Aktiv = true" (see below)',
    )
    filters.add_argument(
        "--raw-filter", metavar="4D", help="4D $filter text sent as written: 'Nummer = 803721'"
    )
    fetch.add_argument("--fields", type=_fields, help="attributes to read: a,b,c")
    fetch.add_argument("--order-by", help="'Nummer desc' or 'Nummer,Name'")
    fetch.add_argument("--limit", type=_positive, help="at most this many rows")
    fetch.add_argument("--skip", type=_positive, default=0, help="skip this many rows first")
    fetch.add_argument("--page-size", type=_positive, help="rows per request")
    fetch.add_argument("--workers", type=_positive, help="pages fetched in parallel")
    fetch.add_argument("--raw", action="store_true", help="values exactly as 4D sends them")
    fetch.add_argument(
        "--out",
        metavar="FILE",
        help="write FILE.csv, .jsonl, .json or .parquet page by page; '-' for stdout",
    )
    fetch.add_argument(
        "--format",
        choices=FORMATS,
        help="format of --out (default: from the suffix; jsonl for stdout)",
    )
    fetch.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    fetch.set_defaults(handler=_cmd_fetch)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``legacy-api``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", help="environment (default: the configured default, 'live')")
    common.add_argument(
        "--url",
        help="base URL for this one call, e.g. http://127.0.0.1:8080; it stands for the "
        "environment --env names (default 'live', whose credentials it uses), and the "
        "output names it: 'live @ http://127.0.0.1:8080'",
    )
    common.add_argument("--config", help="TOML configuration file (else $LEGACY_API_CONFIG)")
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log warnings (-v), events (-vv), requests (-vvv)",
    )

    parser = argparse.ArgumentParser(
        prog="legacy-api",
        description="Read and write the legacy 4D ERP over its REST API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"legacy-api {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_fetch(sub, common)

    tables = sub.add_parser("tables", parents=[common], help="list the tables")
    tables.set_defaults(handler=_cmd_tables)

    get = sub.add_parser("get", parents=[common], help="show one record as JSON")
    get.add_argument("table")
    get.add_argument("key")
    get.add_argument("--raw", action="store_true", help="values exactly as 4D sends them")
    get.set_defaults(handler=_cmd_get)

    # describe TABLE [--json]: registered by its own module (legacy_adapters._describe)
    importlib.import_module("legacy_adapters._describe").add_subcommand(sub, common, _client)
    # sync TABLE --to ...: registered by its own module (legacy_adapters.sync._cli)
    importlib.import_module("legacy_adapters.sync._cli").add_subcommand(sub, common, _client)

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
    # gateway [--port N] and gateway token create: their own module (Django imported on use)
    importlib.import_module("legacy_adapters.django.gateway._cli").add_subcommand(sub)
    return parser


def _version() -> str:
    from legacy_api import __version__  # noqa: PLC0415 - only for --version

    return __version__


_EPILOG = "exit status:\n" + "\n".join(
    textwrap.fill(meaning, 78, initial_indent=f"  {code:<4}", subsequent_indent=" " * 6)
    for code, meaning in EXIT_CODES.items()
)
_FETCH_EPILOG = """\
--where: comparisons = != < <= > >= (also == and #), begin, like, in [a, b],
joined by and / or, negated by not, grouped by ( ); values are integers,
floats, 'quoted' or "quoted" strings, true, false, null, ISO dates 2025-01-31
and bare words as text (01067 stays text):
  --where "Nummer = 803721 and Aktiv = true"
  --where "Bezeichnung begin Engel or Typ in [1, 2]"
  --where "Auslaufdatum = null and created_date >= 2025-01-01"
--raw-filter sends 4D's own syntax unchanged.

--out FILE writes while reading (memory: a few pages); nested 4D objects are
JSON text in CSV and Parquet; Parquet needs pyarrow (checked before reading)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the console script exits with it).

    0 ok, 1 the user's input or data, 2 usage (argparse), 3 the server; see EXIT_CODES.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "verbose", 0))
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except LegacyError as exc:
        _error(exc, args)
        return exit_status(exc)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _error(exc: LegacyError, args: argparse.Namespace) -> None:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    url = getattr(args, "url", None)
    if url and exc.environment is not None and url not in first:
        first += f" [{args.env or 'live'} @ {url}]"
    print(f"error: {first}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
