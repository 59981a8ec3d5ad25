"""``manage.py legacy_api_fetch TABLE``: read a 4D table through the project's client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legacy_core.errors import LegacyError
from legacy_core.query import Raw

__all__ = ["Command"]

_FORMATS = ("csv", "json", "table")


def _equality(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        msg = f"--where takes FIELD=VALUE, got {text!r}"
        raise CommandError(msg)
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a bare word is a string
    if isinstance(parsed, (list, dict)):
        parsed = value
    return name.strip(), parsed


class Command(BaseCommand):
    """Fetch rows of a 4D table and print them as CSV, JSON or a table."""

    help = "Fetch rows of a 4D table (through the shared session) and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options."""
        parser.add_argument("table", help="the 4D table, e.g. Artikel_Variante")
        parser.add_argument("--env", help="environment (default: DEFAULT_ENVIRONMENT)")
        parser.add_argument("--limit", type=int, help="at most this many rows (default: all)")
        parser.add_argument("--skip", type=int, default=0, help="rows to skip first")
        parser.add_argument("--fields", help="comma-separated attributes to fetch")
        parser.add_argument("--order-by", help="e.g. 'Nummer desc'")
        parser.add_argument(
            "--where",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="equality filter, repeatable (VALUE is JSON if it parses: 803721, true)",
        )
        parser.add_argument("--raw-filter", help="4D $filter text sent as written (explicit)")
        parser.add_argument("--raw", action="store_true", help="values as 4D sent them")
        parser.add_argument("--format", choices=_FORMATS, default="csv")
        parser.add_argument("--output", help="write to this file instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the read and write the result."""
        from legacy_adapters.django import get_client  # noqa: PLC0415 - after setup

        where: Any = dict(_equality(w) for w in options["where"]) or None
        if options["raw_filter"]:
            if where:
                msg = "use either --where or --raw-filter, not both"
                raise CommandError(msg)
            where = Raw(options["raw_filter"])
        try:
            client = get_client(options["env"])
            frame = client.fetch_frame(
                options["table"],
                where=where,
                fields=options["fields"],
                order_by=options["order_by"],
                limit=options["limit"],
                skip=options["skip"],
                raw=options["raw"],
            )
        except LegacyError as exc:
            raise CommandError(str(exc).splitlines()[0]) from exc
        fmt = options["format"]
        if fmt == "csv":
            text = frame.to_csv(index=False)
        elif fmt == "json":
            text = frame.to_json(orient="records", force_ascii=False, date_format="iso") + "\n"
        else:
            text = frame.to_string(index=False) + "\n"
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"{len(frame)} rows written to {options['output']}")
        else:
            self.stdout.write(text, ending="")
