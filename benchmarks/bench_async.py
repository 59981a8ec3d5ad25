"""The async client against the sync client and the transport limit, in one run.

Run: ``.venv/bin/python -m benchmarks async`` (all benchmarks: ``make bench``). One emulator
in its own process serves N rows with 5 ms latency per request; each reader reads all of
them in pages of 1,000 with 8 requests in flight:

(e) ``AsyncLegacyClient.fetch_frame(workers=8)`` on one event loop, no threads, against
(f) ``LegacyClient.fetch_frame(workers=8)``: 8 worker threads. Both read with
    ``consistent=False`` (plain ``$skip``/``$top`` pages, the requests the limit sends);
    (e') is the async client's default snapshot read through one 4D entity set;
(g) the transport limit: 8 threads each looping over a keep-alive ``requests.Session``,
    ``orjson`` decoding, one DataFrame at the end (no sessions, retries or typing);
(h) the latency floor: pages x 5 ms / 8, what no client under this latency can beat.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pandas as pd
import requests

from benchmarks.bench_client import PAGE, TABLE, admin, best_of, emulator, quiet, shape
from legacy_api import build_async_client, build_client

LATENCY_MS = 5.0
CONCURRENCY = 8
FULL = {"rows": 200_000, "repeats": 3}
QUICK = {"rows": 20_000, "repeats": 2}


def _config(base: str) -> dict[str, Any]:
    return {
        "environments": {"live": base},
        "session_store": "memory",
        "page_size": PAGE,
        "workers": CONCURRENCY,
    }


def threaded_limit(base: str, rows: int, threads: int = CONCURRENCY) -> pd.DataFrame:
    """The fastest honest threaded reader: ``threads`` keep-alive sessions, one frame."""
    with requests.Session() as first:
        first.get(f"{base}/rest/$info", timeout=60).raise_for_status()  # the one login
        cookies = first.cookies.get_dict()
    skips = list(range(0, rows, PAGE))

    def worker(index: int) -> list[tuple[int, list[dict[str, Any]]]]:
        got: list[tuple[int, list[dict[str, Any]]]] = []
        with requests.Session() as session:
            session.cookies.update(cookies)
            for skip in skips[index::threads]:
                response = session.get(
                    f"{base}/rest/{TABLE}",
                    params={"$skip": skip, "$top": min(PAGE, rows - skip)},
                    timeout=60,
                )
                response.raise_for_status()
                got.append((skip, orjson.loads(response.content)["__ENTITIES"]))
        return got

    with ThreadPoolExecutor(threads) as pool:
        pages = [page for part in pool.map(worker, range(threads)) for page in part]
    pages.sort(key=lambda page: page[0])
    return pd.DataFrame([entity for _skip, entities in pages for entity in entities])


def bench(base: str, rows: int, repeats: int) -> dict[str, float]:
    """Seconds for each reader of ``rows`` rows under the emulated latency."""
    sync_client = build_client(_config(base))

    def sync_read() -> tuple[int, tuple[str, ...]]:
        frame = sync_client.fetch_frame(
            TABLE, raw=True, limit=rows, workers=CONCURRENCY, consistent=False
        )
        return shape(frame)

    async def async_reads(consistent: bool) -> tuple[float, tuple[int, tuple[str, ...]]]:
        async with build_async_client(_config(base)) as client:
            await client.fetch_frame(TABLE, raw=True, limit=2 * PAGE)  # login, pools warm
            loop = asyncio.get_running_loop()
            best, result = float("inf"), (0, ())
            for _ in range(repeats):
                started = loop.time()
                frame = await client.fetch_frame(
                    TABLE, raw=True, limit=rows, workers=CONCURRENCY, consistent=consistent
                )
                best = min(best, loop.time() - started)
                result = shape(frame)
                del frame
            return best, result

    shape(threaded_limit(base, rows))  # warm-up: the emulator generates rows lazily
    admin(base, "faults", {"latency_ms": LATENCY_MS})
    out: dict[str, float] = {}
    try:
        sync_read()  # its login and pools warm, as the async run's first read does
        out["limit"], expected = best_of(repeats, lambda: shape(threaded_limit(base, rows)))
        out["sync"], got_sync = best_of(repeats, sync_read)
        out["async"], got_async = asyncio.run(async_reads(consistent=False))
        out["async_set"], got_set = asyncio.run(async_reads(consistent=True))
    finally:
        admin(base, "faults", {})
    for name, got in (("sync", got_sync), ("async", got_async), ("async (set)", got_set)):
        if got != expected:
            raise AssertionError(f"the {name} client read {got[0]} rows, the limit {expected[0]}")
    out["floor"] = -(-rows // PAGE) * LATENCY_MS / 1000 / CONCURRENCY
    out["rows"] = float(expected[0])
    return out


def _row(label: str, text: str, value: str, goal: str = "(info)", met: str = "") -> str:
    return f"| {label} | {text} | {value} | {goal} | {met} |"


def run(rows: int | None = None, repeats: int | None = None) -> str:
    """Run (e)-(h) and return the markdown section for docs/benchmarks.md."""
    sizes = dict(QUICK if os.environ.get("BENCH_QUICK") else FULL)
    if rows is not None:
        sizes["rows"] = rows
    if repeats is not None:
        sizes["repeats"] = repeats
    with quiet(), emulator(sizes["rows"]) as base:
        got = bench(base, sizes["rows"], sizes["repeats"])
    ratio: Callable[[str, str], float] = lambda a, b: got[a] / got[b]  # noqa: E731
    n = int(got["rows"])
    table = [
        "| | measurement | result | goal | met |",
        "|---|---|---|---|---|",
        _row(
            "e",
            f"`AsyncLegacyClient.fetch_frame` {n:,} rows (raw), 8 pages in flight, "
            f"{LATENCY_MS:g} ms latency: {got['async']:.2f}s vs the sync client "
            f"(8 threads) {got['sync']:.2f}s",
            f"**{ratio('async', 'sync'):.2f}x**",
            "≤ 1.10x",
            "yes" if ratio("async", "sync") <= 1.10 else "**no**",
        ),
        _row(
            "e'",
            f"the async client with the default snapshot read (one 4D entity set, "
            f"`consistent=True`) {got['async_set']:.2f}s vs plain `$skip`/`$top`",
            f"{ratio('async_set', 'async'):.2f}x",
        ),
        _row(
            "f",
            f"the sync client vs the transport limit (8 threads, keep-alive, orjson) "
            f"{got['limit']:.2f}s",
            f"{ratio('sync', 'limit'):.2f}x",
        ),
        _row(
            "g",
            f"the async client vs the transport limit {got['limit']:.2f}s",
            f"**{ratio('async', 'limit'):.2f}x**",
            "≤ 1.25x",
            "yes" if ratio("async", "limit") <= 1.25 else "**no**",
        ),
        _row(
            "h",
            f"latency floor (pages x {LATENCY_MS:g} ms / 8) {got['floor']:.2f}s: async / floor",
            f"{ratio('async', 'floor'):.2f}x",
        ),
    ]
    return "\n".join(
        [
            "## Async client (`benchmarks/bench_async.py`)",
            "",
            (
                f"{n:,} rows of `{TABLE}`, pages of {PAGE:,}, best of {sizes['repeats']}, "
                "one emulator process; every reader gets the same rows in the same order."
            ),
            "",
            *table,
            "",
        ]
    )
