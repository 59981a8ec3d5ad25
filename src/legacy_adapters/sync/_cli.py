"""``legacy-api sync TABLE --to sqlite:PATH|postgresql://...``: one run of a table's sync."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import attrs

from legacy_core.sync import (
    GlobalStampWatermark,
    ModifiedWatermark,
    SyncMapping,
    TimestampWatermark,
    Watermark,
)

__all__ = ["add_subcommand", "mapping_from_args"]

_EPILOG = """\
The first run copies the table; every later run reads only the rows changed since the
last one (watermark and overlap, ADR 0031) and applies deletes. The target keeps one
table named after the 4D table (one column per field, nested objects as JSON, the key
as primary key), _legacy_sync_checkpoints and the _legacy_sync_events outbox.

  legacy-api sync Artikel_Variante --to sqlite:artikel.db
  legacy-api sync Kunden --to postgresql://postgres@127.0.0.1/erp --fields Name,Email
  legacy-api sync Kunden --to sqlite:k.db --watermark global-stamp --deletes deleted-records"""


def _watermark(args: argparse.Namespace) -> Watermark:
    overlap = None if args.overlap is None else round(args.overlap * 1000)
    if args.watermark == "global-stamp":
        return GlobalStampWatermark(overlap=args.overlap_stamps)
    if args.watermark == "timestamp":
        return TimestampWatermark() if overlap is None else TimestampWatermark(overlap=overlap)
    return ModifiedWatermark() if overlap is None else ModifiedWatermark(overlap=overlap)


def mapping_from_args(args: argparse.Namespace) -> SyncMapping:
    """The mapping the options describe (default: every field, ``__KEY``, modified_*)."""
    fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else []
    return SyncMapping(
        args.table,
        watermark=_watermark(args),
        key=args.key,
        fields=fields,
        deletes=args.deletes.replace("-", "_"),
        name=args.name or args.table,
    )


def _run(client: Any, args: argparse.Namespace) -> int:
    from legacy_adapters.sync import SyncRunner, open_sink  # noqa: PLC0415 - keep --help fast

    mapping = mapping_from_args(args)
    sink = open_sink(args.to)
    try:
        runner = SyncRunner(client, mapping, sink, batch_size=args.batch_size, full=args.full)
        summary = runner.run()
    finally:
        sink.close()
    if args.json:
        print(json.dumps(attrs.asdict(summary)))
    else:
        print(summary.line())
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        msg = f"must be a positive integer, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_subcommand(
    sub: Any, common: argparse.ArgumentParser, client: Callable[[argparse.Namespace], Any]
) -> None:
    """Register ``sync TABLE --to TARGET``; ``client`` builds the client from the arguments."""
    parser = sub.add_parser(
        "sync",
        parents=[common],
        help="keep a SQLite/PostgreSQL copy of a table in step (incremental)",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("table")
    parser.add_argument(
        "--to", required=True, metavar="TARGET", help="sqlite:PATH or postgresql://..."
    )
    parser.add_argument("--key", default="__KEY", help="key field (default __KEY)")
    parser.add_argument("--fields", help="comma-separated fields (default: all)")
    parser.add_argument(
        "--watermark",
        choices=["modified", "timestamp", "global-stamp"],
        default="modified",
        help="modified_date+modified_time (default), __TIMESTAMP, or __GlobalStamp",
    )
    parser.add_argument(
        "--deletes",
        choices=["keys", "deleted-records", "none"],
        default="keys",
        help="key-set comparison (default), 4D's __DeletedRecords table, or none",
    )
    parser.add_argument(
        "--overlap", type=float, metavar="SECONDS", help="time re-read (default 300)"
    )
    parser.add_argument(
        "--overlap-stamps", type=int, default=0, metavar="N", help="stamps re-read (global-stamp)"
    )
    parser.add_argument("--name", help="checkpoint name (default: the table)")
    parser.add_argument(
        "--batch-size", type=_positive, default=500, help="rows per page and transaction"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="copy the whole table whatever the checkpoint says (deletes applied; the nightly run)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=lambda args: _run(client(args), args))
