"""``python -m benchmarks [NAME ...] [--quick]``: run benchmarks, update docs/benchmarks.md.

Each module's section sits between ``<!-- bench:NAME -->`` markers, so running one module
replaces only its own section; the header records the machine and the date of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import io
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TITLE = "# Benchmarks"


def modules() -> list[str]:
    """The benchmark modules present, in name order (``client``, ``emulator``, …)."""
    here = Path(__file__).resolve().parent
    return sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))


def machine() -> str:
    """One line describing where the numbers were measured."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if found:
            cpu = found.group(1).strip()
    memory = ""
    with contextlib.suppress(OSError):
        found = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if found:
            memory = f", {int(found.group(1)) / 2**20:.0f} GiB RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def section(name: str) -> str:
    """Run one module and return its markdown section."""
    module = importlib.import_module(f"benchmarks.bench_{name}")
    started = time.perf_counter()
    if hasattr(module, "run"):
        body = str(module.run())
    else:
        out = io.StringIO()
        argv = sys.argv
        sys.argv = [f"bench_{name}"]  # a module's own argparse must not see our arguments
        try:
            with contextlib.redirect_stdout(out):
                module.main()
        finally:
            sys.argv = argv
        body = f"### {name}\n\n```\n{out.getvalue().rstrip()}\n```"
    took = time.perf_counter() - started
    return f"{body.rstrip()}\n\n_(ran in {took:.0f}s)_"


def update(doc: str, name: str, text: str) -> str:
    """Replace (or append) the marked section of ``name`` in ``doc``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{text}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(doc):
        return pattern.sub(lambda _m: block, doc)
    return f"{doc.rstrip()}\n\n{block}\n"


def header(doc: str) -> str:
    """Set the machine and date lines at the top of ``doc``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"{TITLE}\n\n"
        "Produced by `make bench` (`python -m benchmarks`); each section is rewritten when "
        "its module runs.\n\n"
        f"- Machine: {machine()}\n- Last run: {now}\n"
    )
    rest = doc.split("<!-- bench:", 1)
    return head if len(rest) == 1 else f"{head}\n<!-- bench:{rest[1]}"


def main(argv: list[str] | None = None) -> int:
    """Run the named modules (default: all) and update docs/benchmarks.md."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"modules to run (default all: {modules()})")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"
    names = args.names or modules()
    unknown = sorted(set(names) - set(modules()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {modules()}")
    doc = DOC.read_text() if DOC.exists() else TITLE + "\n"
    for name in names:
        print(f"running bench_{name} ...", file=sys.stderr, flush=True)
        text = section(name)
        print(text, flush=True)
        doc = update(header(doc), name, text)
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(doc)  # after every module: a later failure keeps the earlier results
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
