"""The architecture check: legacy_core imports no I/O library and nothing from the adapters."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import legacy_core

CORE = Path(legacy_core.__file__).parent

# Third-party packages the core may use (ARCHITECTURE.md; numpy is pandas' own array
# library, used for frame dtypes; pyarrow only behind the ``arrow`` extra).
# ahocorasick: the pure string-matching automaton of the secret redactor (ADR 0020);
# polars: only ``fetch_polars``, on use, zero-copy from Arrow (ADR 0025);
# pydantic: only the row models of ``legacy_core.tables``, on use (ADR 0029).
ALLOWED_THIRD_PARTY = {
    "attrs",
    "cattrs",
    "structlog",
    "pluggy",
    "pandas",
    "numpy",
    "pyarrow",
    "polars",
    "ahocorasick",
    "pydantic",
}

# Standard-library modules that talk to the network, other processes or databases.
FORBIDDEN_STDLIB = {
    "asyncio",
    "ftplib",
    "http",
    "imaplib",
    "multiprocessing",
    "poplib",
    "select",
    "selectors",
    "smtplib",
    "socket",
    "socketserver",
    "sqlite3",
    "ssl",
    "subprocess",
    "telnetlib",
    "urllib.error",
    "urllib.request",
    "urllib.response",
    "xmlrpc",
}

# Named outright so the failure message is obvious even if the allow-list changes.
FORBIDDEN_THIRD_PARTY = {
    "aiohttp",
    "django",
    "fourd_emulator",
    "httpx",
    "legacy_adapters",
    "redis",
    "requests",
    "urllib3",
    "wsz_api",
}


def imports_of(source: str, module: str) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, anywhere in the file.

    Covers ``import x``, ``from x import y`` (also ``y`` as a possible submodule),
    relative imports resolved against ``module``, imports inside functions or
    ``TYPE_CHECKING`` blocks, and ``importlib.import_module("x")``/``__import__("x")``
    with a literal name.
    """
    package = module.rpartition(".")[0] if not module.endswith("__init__") else module
    package = package.removesuffix(".__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    found.add("." * node.level + (node.module or ""))  # escapes the top package
                    continue
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and _is_dynamic_import(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def violation(name: str) -> str | None:
    """Why importing ``name`` from legacy_core is not allowed, or None if it is."""
    top = name.split(".", maxsplit=1)[0]
    if name.startswith("."):
        return "relative import leaving legacy_core"
    if top in FORBIDDEN_THIRD_PARTY:
        return "forbidden package"
    if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_STDLIB):
        return "standard-library I/O module"
    if top == "legacy_core" or top in ALLOWED_THIRD_PARTY or top == "__future__":
        return None
    if top in sys.stdlib_module_names:
        return None
    return (
        "not on the allow-list (stdlib, attrs, cattrs, structlog, pluggy, pandas, numpy, "
        "pyarrow, polars)"
    )


def core_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE.parent).with_suffix("")
        modules.append((".".join(relative.parts), path))
    return modules


class TestImportCollector:
    def test_every_form_of_import_is_seen(self):
        """The collector sees plain, from, relative, nested, TYPE_CHECKING and dynamic imports."""
        source = textwrap.dedent(
            """
            import os, json as j
            from typing import TYPE_CHECKING
            from . import errors
            from .model import Query
            if TYPE_CHECKING:
                import redis
            def later():
                import requests
                from urllib import request
                importlib.import_module("django.conf")
            class C:
                def m(self):
                    __import__("httpx")
            """
        )
        found = imports_of(source, "legacy_core.service")
        assert {
            "os",
            "json",
            "typing",
            "typing.TYPE_CHECKING",
            "legacy_core",
            "legacy_core.errors",
            "legacy_core.model",
            "legacy_core.model.Query",
            "redis",
            "requests",
            "urllib",
            "urllib.request",
            "django.conf",
            "httpx",
        } == found

    def test_relative_imports_resolve_inside_packages(self):
        """In ``pkg/__init__.py`` and ``pkg/mod.py`` a leading dot means ``pkg``."""
        assert {"legacy_core.errors"} <= imports_of("from .errors import X", "legacy_core.__init__")
        assert {"legacy_core.sub.model"} <= imports_of(
            "from .model import Y", "legacy_core.sub.other"
        )
        assert {"legacy_core.errors"} <= imports_of(
            "from ..errors import Z", "legacy_core.sub.other"
        )

    @pytest.mark.parametrize(
        ("name", "allowed"),
        [
            ("attrs", True),
            ("collections.abc", True),
            ("urllib.parse", True),
            ("legacy_core.errors", True),
            ("pandas.api.types", True),
            ("requests", False),
            ("urllib3.util", False),
            ("django.conf", False),
            ("redis.client", False),
            ("socket", False),
            ("http.client", False),
            ("urllib.request", False),
            ("ssl", False),
            ("subprocess", False),
            ("sqlite3", False),
            ("legacy_adapters.memory", False),
            ("fourd_emulator", False),
            ("wsz_api", False),
            ("numpy", True),
            ("cryptography.fernet", False),
            ("..outside", False),
        ],
    )
    def test_the_rules(self, name, allowed):
        """The allow-list admits pure modules and refuses I/O libraries and adapters."""
        assert allowed == (violation(name) is None)


class TestCoreArchitecture:
    def test_the_core_has_modules_to_check(self):
        """The walk sees the core's modules (so the check cannot pass by seeing nothing)."""
        names = {name for name, _ in core_modules()}
        assert {"legacy_core.errors", "legacy_core.ports", "legacy_core.resilience"} <= names

    @pytest.mark.parametrize(
        ("module", "path"), core_modules(), ids=[name for name, _ in core_modules()]
    )
    def test_core_module_imports_only_pure_code(self, module, path):
        """No module of legacy_core imports an I/O library or an adapter."""
        found = imports_of(path.read_text(encoding="utf-8"), module)
        bad = {name: why for name in sorted(found) if (why := violation(name))}
        assert {} == bad

    def test_importing_the_core_loads_no_io_library(self):
        """A fresh interpreter importing every legacy_core module has no I/O library loaded."""
        code = textwrap.dedent(
            """
            import importlib, pkgutil, sys
            import legacy_core
            for info in pkgutil.walk_packages(legacy_core.__path__, "legacy_core."):
                try:
                    importlib.import_module(info.name)
                except ModuleNotFoundError as exc:
                    # A feature module of an extra that is not installed (columnar:
                    # pyarrow); test_optional_imports holds it to needing only that.
                    if exc.name not in ("pyarrow", "polars"):
                        raise
            banned = ("requests", "urllib3", "httpx", "aiohttp", "django", "redis",
                      "legacy_adapters", "fourd_emulator", "wsz_api")
            print(sorted(m for m in sys.modules if m.split(".")[0] in banned))
            print(len([m for m in sys.modules if m.startswith("legacy_core.")]))
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        loaded, count = result.stdout.strip().splitlines()
        assert "[]" == loaded
        assert int(count) >= 5
