"""``manage.py legacy_api_sync MAPPING|--all [--full] [--write-back] [--yaml PATH]``: sync 4D.

``--write-back`` first pushes each mapping's recorded local changes (``SyncOutgoing``,
ADR 0036), then syncs it.

Mappings come from ``settings.LEGACY_API_SYNC_MAPPINGS`` and from each ``--yaml`` file
(pyERP's sync YAML). ``--all`` runs every mapping, parents before variants
(``dependencies``/``after``); a failed mapping skips the ones that depend on it. Exit
status as the CLI's (ADR 0026): 0 ok, 1 the user's input, data or configuration (also
the sink refusing a batch), 2 usage, 3 the 4D server.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from django.core.management.base import BaseCommand, CommandError, CommandParser

from legacy_core.errors import LegacyError

__all__ = ["Command"]

EXIT_USER, EXIT_USAGE = 1, 2


class Command(BaseCommand):
    """Run one sync mapping, or all of them in dependency order."""

    help = "Sync 4D tables into Django models (incremental; --full copies everything)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options."""
        parser.add_argument("mapping", nargs="?", help="the mapping's name")
        parser.add_argument("--all", action="store_true", help="every mapping, in order")
        parser.add_argument("--full", action="store_true", help="a full copy (not incremental)")
        parser.add_argument(
            "--yaml",
            action="append",
            default=[],
            metavar="PATH",
            help="also load the mappings of this pyERP sync YAML file (repeatable)",
        )
        parser.add_argument("--json", action="store_true", help="one JSON summary per line")
        parser.add_argument(
            "--write-back",
            action="store_true",
            help="push the recorded local changes (SyncOutgoing) to 4D before each sync",
        )

    def _choose(self, options: dict[str, Any]) -> list[Any]:
        from legacy_adapters.cli import exit_status  # noqa: PLC0415 - after setup
        from legacy_adapters.django.sync import (  # noqa: PLC0415 - models need the registry
            configured_mappings,
            load_yaml,
            run_order,
        )

        name, every = options["mapping"], options["all"]
        if bool(name) == bool(every):
            msg = "give one MAPPING or --all"
            raise CommandError(msg, returncode=EXIT_USAGE)
        try:
            for path in options["yaml"]:
                for note in load_yaml(path).notes:
                    self.stderr.write(f"note: {note}")
            mappings = configured_mappings(options["yaml"])
            if every:
                return run_order(list(mappings.values()))
            if name in mappings:
                return [mappings[name]]
        except LegacyError as exc:
            raise CommandError(str(exc).splitlines()[0], returncode=exit_status(exc)) from exc
        known = ", ".join(sorted(mappings)) or "none (LEGACY_API_SYNC_MAPPINGS)"
        msg = f"unknown sync mapping {name!r}; known: {known}"
        raise CommandError(msg, returncode=EXIT_USER)

    def handle(self, *args: Any, **options: Any) -> None:
        """Pick the mappings and run them."""
        from legacy_adapters.cli import exit_status  # noqa: PLC0415 - after setup
        from legacy_adapters.django.sync import run_mapping  # noqa: PLC0415

        chosen = self._choose(options)
        failed: dict[str, int] = {}
        for m in chosen:
            blocked = [d for d in m.after if d in failed]
            if blocked:
                failed[m.name] = EXIT_USER
                self.stderr.write(f"{m.name}: skipped, {', '.join(blocked)} failed")
                continue
            try:
                if options["write_back"]:
                    self._show(self._write_back(m), options)
                summary = run_mapping(m, full=options["full"])
            except LegacyError as exc:
                failed[m.name] = exit_status(exc)
                self.stderr.write(f"error: {m.name}: {str(exc).splitlines()[0]}")
                continue
            self._show(summary, options)
        if failed:
            msg = f"{len(failed)} of {len(chosen)} mapping(s) failed: {', '.join(failed)}"
            raise CommandError(msg, returncode=max(failed.values()))

    def _write_back(self, m: Any) -> Any:
        from legacy_adapters.django import get_client  # noqa: PLC0415
        from legacy_adapters.sync import WriteBack  # noqa: PLC0415

        push = WriteBack(get_client(), m.mapping, m.sink(), environment=m.environment)
        return push.run()

    def _show(self, summary: Any, options: dict[str, Any]) -> None:
        if options["json"]:
            self.stdout.write(json.dumps(attrs.asdict(summary)))
        else:
            self.stdout.write(summary.line())
