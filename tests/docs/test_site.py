"""The documentation site builds with ``mkdocs build --strict`` (ADR 0033)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly(site):
    """No broken link, missing anchor, unresolved reference or docstring warning."""
    assert (site / "index.html").is_file()
    assert (site / "search" / "search_index.json").is_file()


def test_the_reference_documents_the_public_api(site):
    """The LegacyClient page documents its verbs from their docstrings."""
    page = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    for verb in ("fetch_frame", "update_many", "push_field", "describe"):
        assert f'id="legacy_core.service.LegacyClient.{verb}"' in page
    # The docstrings' reST roles became links (tools/docs/griffe_roles.py), not text.
    assert ":class:`" not in page
    assert 'href="../errors/#legacy_core.errors.PartialWrite"' in page


def test_generated_pages_follow_the_code(site):
    """The CLI, emulator, metrics, errors and ADR pages list what the code defines."""
    from fourd_emulator.cli import add_arguments  # noqa: PLC0415
    from legacy_adapters.cli import build_parser  # noqa: PLC0415
    from legacy_core import errors  # noqa: PLC0415

    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert all(f"legacy-api {name}" in cli for name in commands)

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    emulator = (site / "reference" / "emulator" / "index.html").read_text(encoding="utf-8")
    flags = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    assert all(flag in emulator for flag in flags if flag != "--help")

    tree = (site / "reference" / "errors" / "index.html").read_text(encoding="utf-8")
    names = [
        n
        for n, v in vars(errors).items()
        if isinstance(v, type) and issubclass(v, errors.LegacyError)
    ]
    assert all(name in tree for name in names)

    adrs = sorted((ROOT / "docs" / "adr").glob("[0-9]*.md"))
    index = (site / "adr" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{p.stem}/"' in index for p in adrs)
    home = (site / "index.html").read_text(encoding="utf-8")  # the navigation lists each ADR
    assert all(f'href="adr/{p.stem}/"' in home for p in adrs)


def test_the_metrics_page_lists_every_metric(site):
    """Every metric the Prometheus instrumentation registers is named on the metrics page."""
    prometheus_client = pytest.importorskip("prometheus_client")
    from legacy_adapters.observe._metrics import PrometheusInstrumentation  # noqa: PLC0415

    made = PrometheusInstrumentation.create(
        prometheus_client.CollectorRegistry(), add_to_default=False
    )
    names = [m.name for m in made.registry.collect()]
    page = (site / "reference" / "metrics" / "index.html").read_text(encoding="utf-8")
    assert len(names) > 10
    assert all(f"<code>{name}" in page for name in names)
