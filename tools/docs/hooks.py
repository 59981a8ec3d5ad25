"""MkDocs hooks of the site (mkdocs.yml ``hooks:``): every ADR in the navigation.

The "Decisions" section lists ``adr/index.md`` in mkdocs.yml; the ADR files themselves
are added here in number order, so a new ADR needs no edit of mkdocs.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SECTION = "Decisions"


def on_config(config: Any) -> Any:
    """Append every ``docs/adr/NNNN-*.md`` to the navigation's Decisions section."""
    adr_dir = Path(config["docs_dir"]) / "adr"
    adrs = sorted(p.name for p in adr_dir.glob("[0-9][0-9][0-9][0-9]-*.md"))
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and SECTION in entry:
            listed = entry[SECTION]
            known = {
                item if isinstance(item, str) else next(iter(item.values())) for item in listed
            }
            listed.extend(f"adr/{name}" for name in adrs if f"adr/{name}" not in known)
    return config
