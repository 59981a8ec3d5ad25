"""``legacy-api describe TABLE``: a table's schema as an aligned table or as JSON.

Kept out of ``cli.py`` so the command line only registers the subcommand; what is shown
is :class:`~legacy_core.schema.TableSchema` from ``client.describe``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from legacy_core.schema import TableSchema

__all__ = ["add_subcommand", "run", "schema_json", "schema_lines"]


def schema_json(schema: TableSchema) -> dict[str, Any]:
    """The schema as plain JSON: table, primary key, and every attribute in catalog order."""
    return {
        "table": schema.table,
        "primary_key": list(schema.primary_key),
        "attributes": [
            {
                "name": a.name,
                "kind": a.kind,
                "type": a.type,
                "simple_date": a.simple_date,
                "related_table": a.related_table,
                "indexed": a.indexed,
            }
            for a in schema.attributes.values()
        ],
    }


def schema_lines(schema: TableSchema) -> list[str]:
    """The schema as aligned text: one line per attribute, relations after the fields."""
    rows = [("name", "type", "notes")]
    for a in schema.fields:
        notes = [
            n
            for n, on in (
                ("primary key", a.name in schema.primary_key),
                ("date only", a.simple_date),
                ("indexed", a.indexed),
            )
            if on
        ]
        if not a.is_storage:
            notes.insert(0, a.kind)
        rows.append((a.name, a.type, ", ".join(notes)))
    for a in schema.relations:
        arrow = "->" if a.kind == "relatedEntity" else "->>"
        rows.append((a.name, a.kind, f"{arrow} {a.related_table or '?'}"))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    head = (
        f"{schema.table}: {len(schema.fields)} fields, {len(schema.relations)} relations, "
        f"primary key {', '.join(schema.primary_key) or '-'}"
    )
    body = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}".rstrip() for r in rows]
    return [head, *body]


def run(client: Any, args: argparse.Namespace) -> int:
    """Print the schema of ``args.table`` (``--json``: as JSON); exit status 0."""
    schema: TableSchema = client.describe(args.table)
    if args.json:
        print(json.dumps(schema_json(schema), indent=2, ensure_ascii=False))
    else:
        print("\n".join(schema_lines(schema)))
    return 0


def add_subcommand(
    sub: Any, common: argparse.ArgumentParser, client: Callable[[argparse.Namespace], Any]
) -> None:
    """Register ``describe TABLE [--json]``; ``client`` builds the client from the arguments."""
    parser = sub.add_parser(
        "describe", parents=[common], help="show a table's fields, types and relations"
    )
    parser.add_argument("table")
    parser.add_argument("--json", action="store_true", help="print the schema as JSON")
    parser.set_defaults(handler=lambda args: run(client(args), args))
