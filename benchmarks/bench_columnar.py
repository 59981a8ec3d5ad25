"""Columnar reads (issue 15) against today's frames and the wire, in one run.

Run: ``.venv/bin/python -m benchmarks columnar`` (all benchmarks: ``make bench``). One
emulator in its own process serves N rows of ``Artikel_Variante`` (36 attributes, nested
4D objects) in pages of 1,000, without added latency, so every reader is bounded by its
own CPU:

(i)   today's ``fetch_frame`` (typed, NumPy dtypes, nested objects as dicts);
(j)   ``fetch_arrow`` sequential (one request, then its decode, then the next);
(k)   ``fetch_arrow(workers=W)``: pages decoded on W threads while others are on the wire;
(l)   ``fetch_frame(dtype_backend="pyarrow")`` (the Arrow path, then ``to_pandas``);
(m)   the body-read limit: W keep-alive threads GET every page, bodies read, not parsed;
(n)   the orjson loop: one keep-alive session, ``orjson.loads`` per page, nothing built.

Peak RSS (``VmHWM`` growth of a fresh process) for 1M rows per path: today's frame,
``fetch_arrow`` against its table's ``nbytes``, the pyarrow frame; and the peak RSS of the
CLI writing 1M rows to Parquet page by page.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import requests

from benchmarks.bench_async import threaded_limit
from benchmarks.bench_client import (
    PAGE,
    TABLE,
    _rss,
    best_of,
    emulator,
    get_body,
    make_client,
    quiet,
    quiet_logging,
)

WORKERS = 4
FULL = {"rows": 200_000, "memory_rows": 1_000_000, "repeats": 3}
QUICK = {"rows": 20_000, "memory_rows": 50_000, "repeats": 2}
PATHS = ("frame", "arrow", "frame_pyarrow")


def orjson_loop(base: str, rows: int) -> int:
    """Sequential keep-alive GETs with ``orjson.loads`` of each body: the parse alone."""
    entities = 0
    with requests.Session() as session:
        session.get(f"{base}/rest/$info", timeout=60).raise_for_status()
        for skip in range(0, rows, PAGE):
            params = {"$skip": skip, "$top": min(PAGE, rows - skip)}
            body = get_body(session, f"{base}/rest/{TABLE}", params)
            entities += len(orjson.loads(body)["__ENTITIES"])
    return entities


def bench(base: str, rows: int, repeats: int) -> dict[str, float]:
    """Seconds of each reader for ``rows`` rows, with a check that they read the same rows."""
    client = make_client(base)
    threaded_limit(base, rows, WORKERS)  # warm-up: the emulator generates rows lazily
    client.fetch_arrow(TABLE, limit=2 * PAGE)  # session, catalog and imports warm
    out: dict[str, float] = {}
    out["frame"], frame = best_of(repeats, lambda: client.fetch_frame(TABLE, limit=rows))
    keys = frame["__KEY"].tolist()
    del frame
    out["arrow"], table = best_of(repeats, lambda: client.fetch_arrow(TABLE, limit=rows))
    if table.column("__KEY").to_pylist() != keys:
        raise AssertionError("fetch_arrow read other rows than fetch_frame")
    del table
    out["arrow_workers"], table = best_of(
        repeats, lambda: client.fetch_arrow(TABLE, limit=rows, workers=WORKERS)
    )
    if table.column("__KEY").to_pylist() != keys:
        raise AssertionError("fetch_arrow(workers) read other rows than fetch_frame")
    del table
    out["frame_pyarrow"], frame = best_of(
        repeats, lambda: client.fetch_frame(TABLE, limit=rows, dtype_backend="pyarrow")
    )
    if frame["__KEY"].tolist() != keys:
        raise AssertionError("the pyarrow frame holds other rows than fetch_frame")
    del frame
    out["limit"], _read = best_of(repeats, lambda: threaded_limit(base, rows, WORKERS))
    out["orjson"], parsed = best_of(repeats, lambda: orjson_loop(base, rows))
    if parsed != rows:
        raise AssertionError(f"the orjson loop parsed {parsed} rows of {rows}")
    out["rows"] = float(rows)
    return out


def memory(base: str, rows: int, path: str) -> dict[str, float]:
    """Run the memory probe of one path in a fresh process and return what it measured."""
    probe = ["-m", "benchmarks.bench_columnar", "--memory-probe", base, str(rows), path]
    result = subprocess.run(
        [sys.executable, *probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def memory_probe(base: str, rows: int, path: str) -> dict[str, float]:
    """Inside the probe process: peak RSS growth of one read, and what the result holds."""
    quiet_logging()
    client = make_client(base)
    client.fetch_arrow(TABLE, limit=2 * PAGE)  # imports and pools warmed up
    client.fetch_frame(TABLE, limit=2 * PAGE)
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    before = _rss("VmRSS")
    started = time.perf_counter()
    if path == "arrow":
        result: Any = client.fetch_arrow(TABLE, limit=rows, workers=WORKERS)
        size, got = float(result.nbytes), result.num_rows
    elif path == "frame_pyarrow":
        result = client.fetch_frame(TABLE, limit=rows, dtype_backend="pyarrow", workers=WORKERS)
        size, got = float(result.memory_usage(deep=True).sum()), len(result)
    else:
        result = client.fetch_frame(TABLE, limit=rows)
        size, got = float(result.memory_usage(deep=True).sum()), len(result)
    elapsed = time.perf_counter() - started
    peak = max(_rss("VmHWM"), _rss("VmRSS"))
    return {
        "rows": float(got),
        "seconds": elapsed,
        "peak_growth": float(peak - before),
        "result_bytes": size,
    }


def cli_parquet(base: str, rows: int) -> dict[str, float]:
    """Peak RSS of ``legacy-api fetch TABLE --out x.parquet`` (its own process) for ``rows``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "variants.parquet"
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
        )
        cli = [
            str(Path(sys.executable).with_name("legacy-api")),
            "fetch",
            TABLE,
            "--url",
            base,
            "--limit",
            str(rows),
            "--out",
            str(out),
        ]
        env = {**os.environ, "LEGACY_API_SESSION_STORE": "memory"}
        result = subprocess.run(
            [sys.executable, "-c", script, *cli],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        seconds, peak = result.stdout.split()
        import pyarrow.parquet as pq  # noqa: PLC0415 - the benchmark's own check

        written = pq.ParquetFile(out).metadata.num_rows
    return {"rows": float(written), "seconds": float(seconds), "peak_rss": float(peak)}


def _row(label: str, text: str, value: str, goal: str = "(info)", met: str = "") -> str:
    return f"| {label} | {text} | {value} | {goal} | {met} |"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def run(rows: int | None = None, repeats: int | None = None, memory_rows: int | None = None) -> str:
    """Run (i)-(n) and the memory probes; return the markdown section for docs/benchmarks.md."""
    sizes = dict(QUICK if os.environ.get("BENCH_QUICK") else FULL)
    for name, value in (("rows", rows), ("repeats", repeats), ("memory_rows", memory_rows)):
        if value is not None:
            sizes[name] = value
    with quiet(), emulator(max(sizes["rows"], sizes["memory_rows"])) as base:
        got = bench(base, sizes["rows"], sizes["repeats"])
        mem = {path: memory(base, sizes["memory_rows"], path) for path in PATHS}
        cli = cli_parquet(base, sizes["memory_rows"])
    n = int(got["rows"])

    def rate(name: str) -> float:
        return got["rows"] / got[name]

    def faster(name: str) -> float:
        return got["frame"] / got[name]

    mib = 2**20
    arrow_mem, frame_mem = mem["arrow"], mem["frame"]
    m = int(arrow_mem["rows"])
    table = [
        "| | measurement | result | goal | met |",
        "|---|---|---|---|---|",
        _row(
            "i",
            f"today's `fetch_frame` {n:,} rows (typed): {got['frame']:.2f}s, "
            f"{rate('frame'):,.0f} rows/s",
            "1.00x",
        ),
        _row(
            "j",
            f"`fetch_arrow` sequential: {got['arrow']:.2f}s, {rate('arrow'):,.0f} rows/s "
            "(rows/s vs i)",
            f"**{faster('arrow'):.2f}x**",
            "≥ 3x",
            _met(faster("arrow") >= 3),
        ),
        _row(
            "k",
            f"`fetch_arrow(workers={WORKERS})`: {got['arrow_workers']:.2f}s, "
            f"{rate('arrow_workers'):,.0f} rows/s vs the body-read limit (m) "
            f"{rate('limit'):,.0f} rows/s",
            f"**{got['limit'] / got['arrow_workers']:.2f}x** of the limit "
            f"({faster('arrow_workers'):.2f}x of i)",
            "≥ 0.5x",
            _met(got["limit"] / got["arrow_workers"] >= 0.5),
        ),
        _row(
            "l",
            f'`fetch_frame(dtype_backend="pyarrow")`: {got["frame_pyarrow"]:.2f}s (vs i)',
            f"**{faster('frame_pyarrow'):.2f}x**",
            "≥ 2x",
            _met(faster("frame_pyarrow") >= 2),
        ),
        _row(
            "m",
            f"body-read limit, {WORKERS} keep-alive threads, not parsed: {got['limit']:.2f}s",
            f"{rate('limit'):,.0f} rows/s",
        ),
        _row(
            "n",
            f"orjson loop (one session, `orjson.loads` per page, nothing built): "
            f"{got['orjson']:.2f}s; `fetch_arrow` sequential vs it",
            f"{got['orjson'] / got['arrow']:.2f}x",
        ),
        _row(
            "o",
            f"peak RSS growth, `fetch_arrow` of {m:,} rows: {arrow_mem['peak_growth'] / mib:,.0f} "
            f"MiB vs the table's `nbytes` {arrow_mem['result_bytes'] / mib:,.0f} MiB",
            f"**{arrow_mem['peak_growth'] / arrow_mem['result_bytes']:.2f}x**",
            "≤ 1.5x",
            _met(arrow_mem["peak_growth"] <= 1.5 * arrow_mem["result_bytes"]),
        ),
        _row(
            "p",
            f"peak RSS growth, today's `fetch_frame` of {m:,} rows: "
            f"{frame_mem['peak_growth'] / mib:,.0f} MiB; `fetch_arrow` needs less by",
            f"**{frame_mem['peak_growth'] / arrow_mem['peak_growth']:.1f}x**",
            "≥ 4x",
            _met(frame_mem["peak_growth"] >= 4 * arrow_mem["peak_growth"]),
        ),
        _row(
            "q",
            f'peak RSS growth, `fetch_frame(dtype_backend="pyarrow")` of {m:,} rows: '
            f"{mem['frame_pyarrow']['peak_growth'] / mib:,.0f} MiB (vs today's)",
            f"{frame_mem['peak_growth'] / mem['frame_pyarrow']['peak_growth']:.1f}x less",
        ),
        _row(
            "r",
            f"peak RSS of `legacy-api fetch {TABLE} --out x.parquet`, {int(cli['rows']):,} rows "
            f"written in {cli['seconds']:.1f}s (the whole process)",
            f"**{cli['peak_rss'] / mib:,.0f} MiB**",
            "< 500 MB",
            _met(cli["peak_rss"] < 500e6),
        ),
    ]
    return "\n".join(
        [
            "## Columnar reads (`benchmarks/bench_columnar.py`)",
            "",
            (
                f"{n:,} rows of `{TABLE}` (memory: {m:,}), pages of {PAGE:,}, no added "
                f"latency, best of {sizes['repeats']}, one emulator process; every reader "
                "checked to read the same keys in the same order."
            ),
            "",
            *table,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.bench_columnar [--memory-probe BASE ROWS PATH]``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--memory-probe"]:
        base, rows, path = args[1], int(args[2]), args[3]
        print(json.dumps(memory_probe(base, rows, path)))
        return 0
    print(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
