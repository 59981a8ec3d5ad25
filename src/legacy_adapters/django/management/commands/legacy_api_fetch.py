"""``manage.py legacy_api_fetch TABLE``: read a 4D table through the project's client.

``--where`` takes the same typed mini-language as the CLI (``Nummer = 803721 and Aktiv =
true``, :func:`legacy_core.query.parse_where`); ``--raw-filter`` sends 4D syntax as
written. The old ``FIELD=VALUE`` form (VALUE as JSON if it parses, else text) still works
where it meant something else, with a DeprecationWarning (ADR 0026).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legacy_core.errors import InvalidQuery, LegacyError
from legacy_core.query import Comparison, Field, Filter, Raw, parse_where, render

__all__ = ["Command"]

_FORMATS = ("csv", "json", "table")


def _legacy_equality(text: str) -> Filter | None:
    """What ``FIELD=VALUE`` meant before ADR 0026, or None if ``text`` was not that form."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a bare word is a string
    if isinstance(parsed, (list, dict)):
        parsed = value
    try:
        comparison: Filter = Field(name.strip()) == parsed
    except InvalidQuery:
        return None  # a name the old form refused too (it raised later, on the filter)
    return comparison


def _one_where(text: str) -> tuple[Filter, str | None]:
    """The filter of one ``--where`` and, for the old form's meaning, a deprecation notice."""
    legacy = _legacy_equality(text)
    try:
        parsed = parse_where(text)
    except InvalidQuery as exc:
        if legacy is None:
            raise CommandError(str(exc).splitlines()[0]) from exc
        return legacy, _notice(text, legacy)
    # A text the language reads as one equality on the same field, but with another value
    # (Name='x' with its quotes, Flag=True as text), keeps the old meaning; anything the
    # language reads as more (a = 1 and b = 2) is the language's.
    if (
        isinstance(legacy, Comparison)
        and isinstance(parsed, Comparison)
        and parsed.attribute == legacy.attribute
        and parsed.op in {"=", "==="}
        and render(parsed) != render(legacy)
    ):
        return legacy, _notice(text, legacy)
    return parsed, None


def _notice(text: str, legacy: Filter) -> str:
    return (
        f"--where {text!r} is read as the old FIELD=VALUE form ({render(legacy).text}); this "
        "form is deprecated: write the value in the where language, e.g. Name = 'some text'"
    )


def _nested_as_json(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


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
            metavar="EXPR",
            help='typed filter, as in the CLI: "Nummer = 803721 and Aktiv = true" '
            "(repeatable: all must hold)",
        )
        parser.add_argument("--raw-filter", help="4D $filter text sent as written (explicit)")
        parser.add_argument("--raw", action="store_true", help="values as 4D sent them")
        parser.add_argument("--format", choices=_FORMATS, default="csv")
        parser.add_argument("--output", help="write to this file instead of stdout")

    def _where(self, texts: list[str], raw_filter: str | None) -> Filter | None:
        if raw_filter:
            if texts:
                msg = "use either --where or --raw-filter, not both"
                raise CommandError(msg)
            return Raw(raw_filter)
        where: Filter | None = None
        for text in texts:
            part, notice = _one_where(text)
            if notice is not None:
                warnings.warn(notice, DeprecationWarning, stacklevel=2)
                self.stderr.write(f"warning: {notice}")
            where = part if where is None else where & part
        return where

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the read and write the result."""
        from legacy_adapters.django import get_client  # noqa: PLC0415 - after setup

        where = self._where(options["where"], options["raw_filter"])
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
            # Nested 4D objects as JSON text, as the CLI writes them (not Python reprs).
            nested = [c for c in frame.columns if frame[c].dtype == object]
            for column in nested:
                frame[column] = frame[column].map(_nested_as_json)
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
