"""Benchmark of the 4D emulator: rows/s served in pages of 1,000 and memory at 1M rows.

Run: ``.venv/bin/python benchmarks/bench_emulator.py [--rows-1m]``. The client side is a
plain ``requests.Session`` (keep-alive), so the figures include HTTP and JSON parsing.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import orjson
import requests

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.testing import emulator_process

ROWS = 100_000
PAGE = 1_000
TABLE = "Artikel_Variante"


def page_through(base_url: str, rows: int, page: int, *, parse: bool) -> tuple[int, float, int]:
    """Read ``rows`` rows of TABLE in pages; return (rows, seconds, bytes)."""
    got = 0
    size = 0
    with requests.Session() as s:
        start = time.perf_counter()
        for skip in range(0, rows, page):
            r = s.get(f"{base_url}/rest/{TABLE}", params={"$skip": skip, "$top": page}, timeout=60)
            r.raise_for_status()
            size += len(r.content)
            if parse:
                got += len(orjson.loads(r.content)["__ENTITIES"])
            else:
                got += min(page, rows - skip)
        return got, time.perf_counter() - start, size


def bench_throughput(rows: int, page: int, repeats: int) -> dict[str, float]:
    """Rows/s for ``rows`` rows in pages of ``page`` (after a warm-up pass that generates them)."""
    with serve(EmulatorConfig(rows=rows)) as server:
        t0 = time.perf_counter()
        page_through(server.base_url, rows, page, parse=False)
        cold = time.perf_counter() - t0
        best_raw = best_parsed = 0.0
        size = 0
        for _ in range(repeats):
            n, secs, size = page_through(server.base_url, rows, page, parse=False)
            best_raw = max(best_raw, n / secs)
            n, secs, _ = page_through(server.base_url, rows, page, parse=True)
            best_parsed = max(best_parsed, n / secs)
        return {
            "cold_rows_per_s": rows / cold,
            "raw_rows_per_s": best_raw,
            "parsed_rows_per_s": best_parsed,
            "mb_per_pass": size / 1e6,
        }


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else float("nan")


def bench_memory(rows: int) -> dict[str, float]:
    """RSS of a separate ``python -m fourd_emulator --rows N`` process at stages of use."""
    with emulator_process("--rows", str(rows)) as (proc, base):
        out = {"rss_start_mb": _rss_mb(proc.pid)}
        t0 = time.perf_counter()
        page_through(base, 100_000, PAGE, parse=False)
        out["rss_after_100k_paged_mb"] = _rss_mb(proc.pid)
        # A filter over the whole table generates every row and builds one column cache.
        r = requests.get(
            f"{base}/rest/{TABLE}", params={"$filter": "Nummer >= 900000", "$top": 10}, timeout=600
        )
        r.raise_for_status()
        out["full_scan_s"] = time.perf_counter() - t0
        out["count_matched"] = orjson.loads(r.content)["__COUNT"]
        out["rss_after_full_table_mb"] = _rss_mb(proc.pid)
        n, secs, _ = page_through(base, 100_000, PAGE, parse=False)
        out["rows_per_s_at_1m"] = n / secs
        n, secs, _ = page_through(base, 100_000, PAGE, parse=True)
        out["parsed_rows_per_s_at_1m"] = n / secs
        return out


def main() -> int:
    """Run and print the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--page", type=int, default=PAGE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    t = bench_throughput(args.rows, args.page, args.repeats)
    print(f"emulator throughput: {args.rows} rows of {TABLE} in pages of {args.page}")
    print(f"  cold (generating rows):   {t['cold_rows_per_s']:>10,.0f} rows/s")
    print(f"  warm, body read:          {t['raw_rows_per_s']:>10,.0f} rows/s")
    print(f"  warm, body parsed orjson: {t['parsed_rows_per_s']:>10,.0f} rows/s")
    print(f"  bytes per pass:           {t['mb_per_pass']:>10.1f} MB")
    if not args.skip_memory:
        m = bench_memory(args.memory_rows)
        print(f"emulator memory at --rows {args.memory_rows}:")
        print(f"  RSS after start:                 {m['rss_start_mb']:>8.0f} MB")
        print(f"  RSS after paging 100k rows:      {m['rss_after_100k_paged_mb']:>8.0f} MB")
        print(
            f"  RSS after a full-table filter:   {m['rss_after_full_table_mb']:>8.0f} MB "
            f"({m['full_scan_s']:.0f} s to generate and scan, {m['count_matched']:,} matched)"
        )
        print("  warm paging (server in its own process), first 100k rows:")
        print(f"    body read:                     {m['rows_per_s_at_1m']:>8,.0f} rows/s")
        print(f"    body parsed with orjson:       {m['parsed_rows_per_s_at_1m']:>8,.0f} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
