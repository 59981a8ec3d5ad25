"""Pages of the documentation site generated from the code (run by mkdocs-gen-files).

Everything here is read from the definitions the program itself uses — the CLI's argparse
parser, the emulator's options, the Prometheus metrics, the Django app's ``DEFAULTS`` and
commands, the error classes — so the site cannot drift from the code (ADR 0033).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]


# -- home: the README, its links made relative to docs/ ---------------------------------------


def _home() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    text = text.replace("](docs/adr/)", "](adr/index.md)").replace("](docs/", "](")

    def outside(match: re.Match[str]) -> str:
        # A link to a file outside docs/ (dashboards/...) has no page: show the path.
        label, target = match.group(1), match.group(2)
        if target.startswith(("http://", "https://", "#")) or target.endswith(".md"):
            return match.group(0)
        if "/" in target and not target.startswith("adr/"):
            return f"{label} (`{target}` in the repository)"
        return match.group(0)

    return re.sub(r"\[([^\]]+)\]\(([^)#\s]+)\)", outside, text)


# -- argparse rendering -----------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _option_rows(parser: argparse.ArgumentParser) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            name = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0:
                name += f" `{action.metavar or action.dest.upper()}`"
        else:
            name = f"`{action.metavar or action.dest}` (positional)"
        default = action.default
        shown = "—" if default in (None, argparse.SUPPRESS, False) else f"`{default}`"
        if action.choices:
            shown += " (one of " + ", ".join(f"`{c}`" for c in action.choices) + ")"
        yield f"| {name} | {shown} | {_escape(action.help or '')} |"


def _options_table(parser: argparse.ArgumentParser) -> str:
    rows = list(_option_rows(parser))
    if not rows:
        return "No options.\n"
    return "| option | default | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _subparsers(parser: argparse.ArgumentParser) -> Iterable[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _cli() -> str:
    from legacy_adapters.cli import build_parser  # noqa: PLC0415

    parser = build_parser()
    parser.prog = "legacy-api"
    helps = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
    out = [
        "# The `legacy-api` command line\n",
        "Generated from `legacy_adapters.cli.build_parser()`, the parser the command runs.\n",
        f"```text\n{parser.format_help()}```\n",
    ]
    for name, sub in _subparsers(parser):
        out.append(f"## `legacy-api {name}`\n")
        if helps.get(name):
            out.append(f"{helps[name][0].upper()}{helps[name][1:]}.\n")
        out.append(f"```text\n{sub.format_usage()}```\n")
        out.append(_options_table(sub))
    return "\n".join(out)


def _emulator() -> str:
    from fourd_emulator.cli import add_arguments  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="legacy-api emulator")
    add_arguments(parser)
    return "\n".join(
        [
            "# The emulator's switches\n",
            (
                "Generated from `fourd_emulator.cli.add_arguments`, shared by "
                "`legacy-api emulator` and `python -m fourd_emulator`. What each one imitates: "
                "[the emulator guide](../emulator.md).\n"
            ),
            f"```text\n{parser.format_usage()}```\n",
            _options_table(parser),
            (
                "From Python: `fourd_emulator.serve(EmulatorConfig(...))` starts it in a thread "
                "(see [the tutorial](../tutorial.md)).\n"
            ),
            "::: fourd_emulator.EmulatorConfig\n",
            "::: fourd_emulator.serve\n",
        ]
    )


# -- metrics ----------------------------------------------------------------------------------


def _metrics() -> str:
    out = [
        "# Metric names\n",
        (
            "Generated from `legacy_adapters.observe._metrics.PrometheusInstrumentation`: every "
            "metric the client exports once metrics are on (`LEGACY_API_METRICS=on`, the "
            "`metrics` extra). Labels are bounded: never a key, a filter or a URL "
            "([ADR 0021](../adr/0021-instrumentation-hook.md)).\n"
        ),
    ]
    try:
        from prometheus_client import CollectorRegistry  # noqa: PLC0415

        from legacy_adapters.observe._metrics import PrometheusInstrumentation  # noqa: PLC0415
    except ImportError:  # pragma: no cover - the docs extra installs the metrics extra too
        out.append("*(install the `metrics` extra to list them)*\n")
        return "\n".join(out)
    made = PrometheusInstrumentation.create(CollectorRegistry(), add_to_default=False)
    out.append("| name | type | labels | meaning |\n|---|---|---|---|")
    for metric in sorted(made.registry.collect(), key=lambda m: m.name):
        collector = made.registry._names_to_collectors.get(metric.name)
        labels = getattr(collector, "_labelnames", ())
        name = metric.name + ("_total" if metric.type == "counter" else "")
        label_text = ", ".join(f"`{label}`" for label in labels) or "—"
        out.append(f"| `{name}` | {metric.type} | {label_text} | {_escape(metric.documentation)} |")
    return "\n".join(out) + "\n"


# -- errors -----------------------------------------------------------------------------------


def _errors() -> str:
    from legacy_core import errors  # noqa: PLC0415

    def first_line(cls: type) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.split("\n\n")[0].replace("\n", " ")

    def builtins_of(cls: type) -> str:
        extra = [b.__name__ for b in cls.__bases__ if not issubclass(b, errors.LegacyError)]
        return f" *(also {', '.join(f'`{b}`' for b in extra)})*" if extra else ""

    def tree(cls: type, depth: int) -> Iterator[str]:
        ref = f"[`{cls.__name__}`][legacy_core.errors.{cls.__name__}]"
        yield f"{'    ' * depth}- {ref}{builtins_of(cls)}: {first_line(cls)}"
        subclasses = [c for c in cls.__subclasses__() if c.__module__ == errors.__name__]
        for sub in sorted(subclasses, key=lambda c: c.__name__):
            yield from tree(sub, depth + 1)

    return "\n".join(
        [
            "# Errors\n",
            (
                "Every failure is a `legacy_api.errors.LegacyError` (the module is "
                "`legacy_core.errors`, re-exported as `legacy_api.errors`). Categories also "
                "inherit the builtin that matches their meaning, so `except LookupError` "
                "catches a missing record ([ADR 0002](../adr/0002-error-model.md), "
                "[ADR 0018](../adr/0018-error-mapping-by-4d-code.md)). Generated from the "
                "classes:\n"
            ),
            *tree(errors.LegacyError, 0),
            (
                "\nHow each one is handled in practice: "
                "[the tutorial](../tutorial.md#5-handle-each-error).\n"
            ),
            "## Reference\n",
            (
                "::: legacy_core.errors\n    options:\n      show_root_heading: false\n"
                "      members_order: source\n"
            ),
        ]
    )


# -- Django -----------------------------------------------------------------------------------


def _defaults_source() -> str:
    path = ROOT / "src/legacy_adapters/django/_settings.py"
    source = path.read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "DEFAULTS":
            lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
            return "\n".join(lines).replace("DEFAULTS: Mapping[str, Any] = ", "LEGACY_API = ")
    msg = f"no DEFAULTS in {path}"
    raise LookupError(msg)


def _command_help(name: str) -> str:
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import load_command_class  # noqa: PLC0415

    import django  # noqa: PLC0415

    if not settings.configured:
        settings.configure(INSTALLED_APPS=["legacy_adapters.django"])
        django.setup()
    command = load_command_class("legacy_adapters.django", name)
    return command.create_parser("manage.py", name).format_help()


def _django() -> str:
    out = [
        "# The Django app\n",
        (
            'Add `"legacy_adapters.django"` to `INSTALLED_APPS`; services call `get_client()`. '
            "The whole setup, step by step: [the migration guide](../migration.md).\n"
        ),
        "## Settings\n",
        (
            "`settings.LEGACY_API` is one dict; every key and its default, read from "
            "`legacy_adapters.django._settings.DEFAULTS` (`manage.py check` reports bad values):\n"
        ),
        f"```python\n{_defaults_source()}\n```\n",
        "## Management commands\n",
    ]
    try:
        for name in ("legacy_api_fetch", "legacy_api_session", "legacy_api_sync"):
            out += [f"### `manage.py {name}`\n", f"```text\n{_command_help(name)}```\n"]
    except ImportError:  # pragma: no cover - the docs extra installs the django extra too
        out.append("*(install the `django` extra to list them)*\n")
    out += [
        "## Functions\n",
        "::: legacy_adapters.django.get_client\n",
        "::: legacy_adapters.django.reset_client\n",
        "::: legacy_adapters.django.check_health\n",
        "::: legacy_adapters.django.middleware\n",
        "## Sync into Django models\n",
        "See [the sync guide](../sync.md#pyerps-products-sync-with-this-engine).\n",
        "::: legacy_adapters.django.sync\n",
    ]
    return "\n".join(out)


# -- decisions --------------------------------------------------------------------------------


def _adr_index() -> str:
    out = [
        "# Decisions (ADRs)\n",
        "Each real decision of the project, in the order it was taken.\n",
    ]
    for path in sorted((ROOT / "docs/adr").glob("[0-9][0-9][0-9][0-9]-*.md")):
        title = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        out.append(f"- [{title}]({path.name})")
    return "\n".join(out) + "\n"


PAGES = {
    "index.md": _home,
    "reference/cli.md": _cli,
    "reference/emulator.md": _emulator,
    "reference/metrics.md": _metrics,
    "reference/errors.md": _errors,
    "reference/django.md": _django,
    "adr/index.md": _adr_index,
}

for page, render in PAGES.items():
    with mkdocs_gen_files.open(page, "w") as handle:
        handle.write(render())
