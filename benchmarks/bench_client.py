"""Benchmarks of the LegacyClient over the emulator: throughput, memory and batched writes.

Run: ``.venv/bin/python -m benchmarks client`` (all benchmarks: ``make bench``). Every ratio
is measured in one run against one emulator, which runs in its own process (``python -m
fourd_emulator``) so that it does not share the client's GIL.

(a) ``fetch_frame`` of N rows vs the transport limit: a keep-alive ``requests.Session``
    loop, ``orjson`` decoding and one DataFrame at the end.
(b) the same vs a WSZ-style baseline (a new connection per page, the session cookie re-read
    from a TOML file per call, ``pd.concat`` per page) with 5 ms emulated latency,
    sequential and with 4 workers.
(c) peak memory / final DataFrame memory for 1M rows, in a subprocess.
(d) 10k field updates via ``update_many`` vs one request per field.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import requests
import structlog

from legacy_adapters.bootstrap import build_client

TABLE = "Artikel_Variante"
PAGE = 1000
FULL = {"rows": 200_000, "memory_rows": 1_000_000, "updates": 10_000, "repeats": 3}
WSZ_DEADLINE = 240.0
"""Seconds after which the 100-row WSZ-style run stops (its ratio is then a lower bound)."""
QUICK = {"rows": 20_000, "memory_rows": 50_000, "updates": 1_000, "repeats": 2}


# -- plumbing ----------------------------------------------------------------------------


@contextlib.contextmanager
def emulator(rows: int) -> Iterator[str]:
    """Run ``python -m fourd_emulator`` on a free port; yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fourd_emulator", "--port", "0", "--rows", str(rows)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"(http://\S+?)/rest/", line)
        if found is None:
            raise RuntimeError(f"emulator did not start: {line!r}")
        # Keep reading its log lines: a full pipe would block the emulator mid-benchmark.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def admin(base: str, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the emulator's admin endpoint (stats, faults, reset)."""
    if body is None:
        response = requests.get(f"{base}/_emulator/{what}", timeout=60)
    else:
        response = requests.post(f"{base}/_emulator/{what}", json=body, timeout=60)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def quiet_logging() -> None:
    """Keep the library's per-request logs out of the timing.

    With structlog unconfigured the library logs through the stdlib logger ``legacy_api``,
    which is silent below WARNING; resetting undoes any configuration made before.
    """
    structlog.reset_defaults()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """quiet_logging for a block (the library stays on stdlib logging afterwards)."""
    quiet_logging()
    yield


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeats`` timed calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        result = None  # let the previous result go before the next run
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def make_client(base: str, **overrides: Any) -> Any:
    """A client built by the composition root, as pyERP would build it."""
    return build_client(
        {"environments": {"live": base}, "session_store": "memory", "page_size": PAGE},
        **overrides,
    )


# -- the baselines -----------------------------------------------------------------------


def get_body(session: requests.Session, url: str, params: dict[str, Any]) -> bytes:
    """One GET's body read at once, as the client's transport reads it (no 10 KB chunks)."""
    response = session.get(url, params=params, timeout=60, stream=True)
    response.raise_for_status()
    body: bytes = response.raw.read(decode_content=True)
    return body


def transport_limit(base: str, rows: int) -> pd.DataFrame:
    """The fastest honest client: keep-alive session, orjson, one DataFrame at the end."""
    entities: list[dict[str, Any]] = []
    with requests.Session() as session:
        session.get(f"{base}/rest/$info", timeout=60).raise_for_status()  # the one login
        for skip in range(0, rows, PAGE):
            body = get_body(
                session, f"{base}/rest/{TABLE}", {"$skip": skip, "$top": min(PAGE, rows - skip)}
            )
            entities.extend(orjson.loads(body)["__ENTITIES"])
    return pd.DataFrame(entities)


def wsz_style(
    base: str, rows: int, config: Path, page: int = PAGE, deadline: float = float("inf")
) -> tuple[pd.DataFrame, bool]:
    """What the old package did per page: read the cookie file, new connection, concat.

    Stops after ``deadline`` seconds (the per-page ``concat`` is quadratic); returns the
    frame and whether it completed.
    """
    started = time.perf_counter()
    frame = pd.DataFrame()
    for skip in range(0, rows, page):
        if time.perf_counter() - started > deadline:
            return frame, False
        with config.open("rb") as fh:
            cookie = tomllib.load(fh)["session"]["cookie"]
        response = requests.get(  # no Session: a new TCP connection every call
            f"{base}/rest/{TABLE}",
            params={"$skip": skip, "$top": min(page, rows - skip)},
            headers={"Cookie": f"WASID4D={cookie}"},
            timeout=60,
        )
        response.raise_for_status()
        frame = pd.concat([frame, pd.DataFrame(response.json()["__ENTITIES"])], ignore_index=True)
    return frame, True


def wsz_config(base: str, directory: str) -> Path:
    """Log in once and write the cookie to a config.toml, as the old package kept it."""
    response = requests.get(f"{base}/rest/$info", timeout=60)
    response.raise_for_status()
    path = Path(directory) / "config.toml"
    path.write_text(f'[session]\ncookie = "{response.cookies["WASID4D"]}"\n')
    return path


# -- the measurements --------------------------------------------------------------------


def without_gc(fn: Callable[..., pd.DataFrame], *args: Any) -> pd.DataFrame:
    """Call ``fn`` with the cyclic GC off, as ``fetch_frame`` runs by default."""
    gc.disable()
    try:
        return fn(*args)
    finally:
        gc.enable()


def shape(frame: pd.DataFrame) -> tuple[int, tuple[str, ...]]:
    """Rows and columns: what is kept of a frame, so only one big frame lives at a time."""
    return len(frame), tuple(frame.columns)


def bench_throughput(base: str, rows: int, repeats: int) -> dict[str, float]:
    """(a) and (b): seconds for each reader of ``rows`` rows."""
    client = make_client(base)

    def ours(workers: int, *, raw: bool = True) -> tuple[int, tuple[str, ...]]:
        return shape(client.fetch_frame(TABLE, raw=raw, limit=rows, workers=workers))

    shape(transport_limit(base, rows))  # warm-up: the emulator generates rows lazily
    out: dict[str, float] = {}
    out["limit"], expected = best_of(repeats, lambda: shape(transport_limit(base, rows)))
    out["limit_nogc"], _ = best_of(repeats, lambda: shape(without_gc(transport_limit, base, rows)))
    out["ours"], got = best_of(repeats, lambda: ours(1))
    out["ours_typed"], _ = best_of(repeats, lambda: ours(1, raw=False))
    if expected != got:
        raise AssertionError(f"fetch_frame {got[0]} rows, the transport loop {expected[0]}")
    admin(base, "faults", {"latency_ms": 5.0})
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = wsz_config(base, directory)

            def wsz(page: int, deadline: float) -> tuple[tuple[int, tuple[str, ...]], bool]:
                frame, done = wsz_style(base, rows, config, page, deadline)
                return shape(frame), done

            out["wsz"], (old, _done) = best_of(1, lambda: wsz(PAGE, float("inf")))
            out["wsz_100"], (_shape, done) = best_of(1, lambda: wsz(100, WSZ_DEADLINE))
            out["wsz_100_complete"] = float(done)
        out["ours_latency"], _ = best_of(repeats, lambda: ours(1))
        out["ours_latency_4"], got = best_of(repeats, lambda: ours(4))
        if old[0] != got[0]:
            raise AssertionError(f"the WSZ-style baseline read {old[0]} rows, not {got[0]}")
    finally:
        admin(base, "faults", {})
    return out


def bench_updates(base: str, updates: int) -> dict[str, float]:
    """(d): update_many vs one keep-alive POST per field; requests counted by the emulator."""
    client = make_client(base)
    keys = list(client.fetch_frame(TABLE, limit=updates, fields=["Nummer"], raw=True)["__KEY"])
    before = admin(base, "stats")["requests_total"]
    started = time.perf_counter()
    with requests.Session() as session:
        session.get(f"{base}/rest/$info", timeout=60).raise_for_status()
        for i, key in enumerate(keys):
            session.post(
                f"{base}/rest/{TABLE}",
                params={"$method": "update"},
                data=orjson.dumps({"__KEY": key, "Bezeichnung": f"single {i}"}),
                timeout=60,
            ).raise_for_status()
    single = time.perf_counter() - started
    middle = admin(base, "stats")["requests_total"]
    started = time.perf_counter()
    results = client.update_many(
        {"table": TABLE, "key": key, "field": "Bezeichnung", "value": f"batched {i}"}
        for i, key in enumerate(keys)
    )
    batched = time.perf_counter() - started
    after = admin(base, "stats")["requests_total"]
    if len(results) != len(keys):
        raise AssertionError("update_many lost updates")
    return {
        "single_s": single,
        "single_requests": middle - before - 1,  # minus the $info login
        "batched_s": batched,
        "batched_requests": after - middle,
    }


def bench_memory(base: str, rows: int) -> dict[str, float]:
    """(c): run the memory probe in a fresh process and return what it measured."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_client", "--memory-probe", base, str(rows)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def _rss(field: str) -> int:
    """A /proc/self/status memory field in bytes (VmRSS, VmHWM)."""
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def _nested_extra(value: Any) -> int:
    """Bytes a nested value holds beyond its outer object (containers and their values).

    Dict keys are not counted: orjson shares short keys between all records, so counting
    them per record would overstate the frame (and flatter the ratio).
    """
    if isinstance(value, dict):
        return sum(sys.getsizeof(v) + _nested_extra(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(sys.getsizeof(v) + _nested_extra(v) for v in value)
    return 0


def frame_bytes(frame: pd.DataFrame, sample: int = 20_000) -> tuple[int, int]:
    """(pandas' deep memory_usage, the same plus what nested 4D objects hold).

    ``memory_usage(deep=True)`` counts a dict as its outer object only; the contents are
    measured on an even sample of rows and scaled (a full walk of 1M rows costs minutes).
    """
    pandas_deep = int(frame.memory_usage(deep=True, index=True).sum())
    rows = len(frame)
    if rows == 0:
        return pandas_deep, pandas_deep
    step = max(rows // sample, 1)
    nested = 0
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            nested += sum(_nested_extra(v) for v in column.iloc[::step])
    scaled = nested * rows / len(range(0, rows, step))
    return pandas_deep, int(pandas_deep + scaled)


def memory_probe(base: str, rows: int) -> dict[str, float]:
    """Inside the probe process: peak RSS growth of one fetch_frame vs the frame's size."""
    quiet_logging()
    client = make_client(base)
    client.fetch_frame(TABLE, raw=True, limit=2 * PAGE)  # imports and pools warmed up
    gc.collect()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    before = _rss("VmRSS")
    started = time.perf_counter()
    frame = client.fetch_frame(TABLE, raw=True, limit=rows)
    elapsed = time.perf_counter() - started
    peak = max(_rss("VmHWM"), _rss("VmRSS"))
    pandas_deep, nested = frame_bytes(frame)
    return {
        "rows": float(len(frame)),
        "seconds": elapsed,
        "peak_growth": float(peak - before),
        "frame_pandas_deep": float(pandas_deep),
        "frame_bytes": float(nested),
    }


# -- report ------------------------------------------------------------------------------


def _progress(what: str, numbers: dict[str, float]) -> None:
    """Raw numbers on stderr as each part finishes (a long run keeps what it measured)."""
    shown = ", ".join(f"{k}={v:.3f}" for k, v in numbers.items())
    print(f"bench_client {what}: {shown}", file=sys.stderr, flush=True)


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def run(
    rows: int | None = None,
    memory_rows: int | None = None,
    updates: int | None = None,
    repeats: int | None = None,
) -> str:
    """Run (a)-(d) and return the markdown section for docs/benchmarks.md."""
    sizes = dict(QUICK if os.environ.get("BENCH_QUICK") else FULL)
    for name, value in (("rows", rows), ("memory_rows", memory_rows), ("updates", updates),
                        ("repeats", repeats)):  # fmt: skip
        if value is not None:
            sizes[name] = value
    with quiet(), emulator(max(sizes["rows"], sizes["memory_rows"], sizes["updates"])) as base:
        speed = bench_throughput(base, sizes["rows"], sizes["repeats"])
        _progress("throughput (a, b)", speed)
        writes = bench_updates(base, sizes["updates"])
        _progress("updates (d)", writes)
        memory = bench_memory(base, sizes["memory_rows"])
        _progress("memory (c)", memory)
    n = sizes["rows"]
    a = speed["ours"] / speed["limit"]
    a_nogc = speed["ours"] / speed["limit_nogc"]
    b1 = speed["wsz"] / speed["ours_latency"]
    b4 = speed["wsz"] / speed["ours_latency_4"]
    b100 = speed["wsz_100"] / speed["ours_latency_4"]
    complete = bool(speed["wsz_100_complete"])
    bound = "" if complete else "≥ "
    wsz_100 = f"{speed['wsz_100']:.2f}s" if complete else f"stopped after {speed['wsz_100']:.0f}s"
    c = memory["peak_growth"] / memory["frame_bytes"]
    c_pandas = memory["peak_growth"] / memory["frame_pandas_deep"]
    d_share = writes["batched_requests"] / writes["single_requests"]
    d_speed = writes["single_s"] / writes["batched_s"]
    rows_md = [
        "| | measurement | result | goal | met |",
        "|---|---|---|---|---|",
        (
            f"| a | `fetch_frame` {n:,} rows (raw) vs transport limit: {speed['ours']:.2f}s vs "
            f"{speed['limit']:.2f}s | **{a:.2f}x** | ≤ 1.10x | {_mark(a <= 1.10)} |"
        ),
        (
            f"| a | the same vs the transport limit with the GC paused too "
            f"({speed['limit_nogc']:.2f}s) | **{a_nogc:.2f}x** | ≤ 1.10x | "
            f"{_mark(a_nogc <= 1.10)} |"
        ),
        (
            f"| a' | typed decoding (dates, times) instead of raw: {speed['ours_typed']:.2f}s | "
            f"{speed['ours_typed'] / speed['limit']:.2f}x | (info) | |"
        ),
        (
            f"| b | WSZ-style {speed['wsz']:.2f}s vs `fetch_frame` sequential "
            f"{speed['ours_latency']:.2f}s, 5 ms latency | **{b1:.1f}x** faster | (info) | |"
        ),
        (
            f"| b | WSZ-style vs `fetch_frame` 4 workers {speed['ours_latency_4']:.2f}s | "
            f"**{b4:.1f}x** faster | ≥ 8x | {_mark(b4 >= 8)} |"
        ),
        (
            f"| b' | WSZ-style with 4D's default pages of 100 rows {wsz_100} vs "
            f"`fetch_frame` 4 workers | **{bound}{b100:.1f}x** faster | ≥ 8x | "
            f"{_mark(b100 >= 8)} |"
        ),
        (
            f"| c | peak RSS growth {memory['peak_growth'] / 2**20:,.0f} MiB / frame "
            f"{memory['frame_bytes'] / 2**20:,.0f} MiB ({memory['rows']:,.0f} rows, "
            f"{memory['seconds']:.0f}s) | **{c:.2f}** | ≤ 1.5 | {_mark(c <= 1.5)} |"
        ),
        (
            f"| c' | same vs pandas' `memory_usage(deep=True)` "
            f"{memory['frame_pandas_deep'] / 2**20:,.0f} MiB (counts dicts shallowly) | "
            f"{c_pandas:.2f} | (info) | |"
        ),
        (
            f"| d | {sizes['updates']:,} updates: {writes['batched_requests']:.0f} requests vs "
            f"{writes['single_requests']:.0f} | **{d_share:.2%}** of the requests | ≤ 1% | "
            f"{_mark(d_share <= 0.01)} |"
        ),
        (
            f"| d | `update_many` {writes['batched_s']:.2f}s vs one request per field "
            f"{writes['single_s']:.2f}s | **{d_speed:.0f}x** faster | ≥ 20x | "
            f"{_mark(d_speed >= 20)} |"
        ),
    ]
    notes = [
        "",
        (
            f"Sizes: {n:,} rows for (a)/(b), {sizes['memory_rows']:,} for (c), "
            f"{sizes['updates']:,} updates for (d); best of {sizes['repeats']} runs (the "
            "WSZ-style baseline once); table `Artikel_Variante` (36 columns incl. nested "
            "objects), pages of 1,000, raw values unless noted. The emulator runs in its own "
            "process on the same 2-core machine, so its JSON encoding competes with the client "
            "for CPU: the ratios, not the absolute times, are the result."
        ),
        "",
        (
            "The GC: `fetch_frame` pauses Python's cyclic garbage collector while it "
            "assembles a frame (`LegacyClient(pause_gc=True)`, the default), because every "
            "full collection walks the millions of nested 4D objects already read. The naive "
            "transport loop pays those collections (row a, first line); the second line "
            "pauses the GC in the loop as well, the like-for-like comparison."
        ),
        "",
        (
            "Method notes: the old package's page size is not known. Row (b) gives the "
            "WSZ-style baseline the client's page size, isolating connection reuse, session "
            "handling, `concat` per page and parallel pages; row (b') uses the 100 rows 4D "
            "sends when a request has no `$top`. (c) measures the probe "
            "process's peak RSS growth during one `fetch_frame` (VmHWM reset before it) against "
            "the frame's memory with nested 4D objects measured recursively; pandas' own "
            "`memory_usage(deep=True)` counts a dict as its outer object only (row c')."
        ),
    ]
    notes += shortfalls(sizes, speed, writes, memory)
    return "\n".join(["### Client (`benchmarks/bench_client.py`)", "", *rows_md, *notes])


def shortfalls(
    sizes: dict[str, int],
    speed: dict[str, float],
    writes: dict[str, float],
    memory: dict[str, float],
) -> list[str]:
    """One explanatory paragraph per goal that this run missed, from its own numbers."""
    out: list[str] = []
    pages = max(sizes["rows"] // PAGE, 1)
    if speed["ours"] / speed["limit_nogc"] > 1.10:
        out.append(
            f"(a) missed: {speed['ours'] / speed['limit_nogc']:.2f}x. The client adds per page an "
            "entity-set window, a session lookup, retries/breaker bookkeeping and the "
            "column conversion; check the machine load (the emulator shares its 2 cores)."
        )
    if speed["wsz"] / speed["ours_latency_4"] < 8:
        page_ms = 1000 * speed["limit_nogc"] / pages
        out.append(
            f"(b) missed with equal page sizes: {speed['wsz'] / speed['ours_latency_4']:.1f}x "
            f"with 4 workers ({speed['wsz_100'] / speed['ours_latency_4']:.1f}x against "
            f"100-row pages, row b'). A page of {PAGE:,} rows takes about {page_ms:.0f} ms "
            "in the transport-limit loop, against 5 ms of latency. The emulator serves a warm "
            "page from pre-encoded bytes in a few ms (see its section: the body-read rate); "
            "most of the page is client CPU: orjson parsing about 1.8 MB of nested JSON (the "
            "emulator section's parsed rate) and building the frame. Parsing holds the GIL "
            "and the emulator needs the second core, so on this 2-core machine 4 workers "
            "only overlap the latency and the serving with the parsing. The old package's "
            "per-page costs (new connection, cookie file, `concat` of the growing frame) are "
            "small next to the parsing with 1,000-row pages and grow with the number of "
            "pages (row b'). With spare client cores and a real server's latency, parallel "
            "pages recover more of the wait."
        )
    if memory["peak_growth"] / memory["frame_bytes"] > 1.5:
        out.append(
            f"(c) missed: {memory['peak_growth'] / memory['frame_bytes']:.2f}. Peak RSS "
            "includes allocator slack (freed page dicts are not returned to the OS at once)."
        )
    batched = writes["batched_requests"] / max(writes["single_requests"], 1)
    speedup = writes["single_s"] / writes["batched_s"]
    if batched > 0.01 or speedup < 20:
        per_update = 1000 * writes["batched_s"] / sizes["updates"]
        per_request = 1000 * writes["single_s"] / max(writes["single_requests"], 1)
        out.append(
            f"(d) {'missed' if speedup < 20 else 'partly missed'}: {speedup:.0f}x. A batched "
            f"update still costs the emulator about {per_update:.2f} ms (decode, stamp check, "
            f"save, audit, the saved entity in the answer) while a whole single request "
            f"costs {per_request:.2f} ms over keep-alive loopback; the speed-up is bounded by "
            "their ratio. The baseline is the conservative one (one keep-alive connection); "
            "the old package opened a new connection and re-read its cookie file per call."
        )
    return [line for paragraph in out for line in ("", paragraph)]


def main(argv: list[str] | None = None) -> int:
    """Print the markdown section (or, with --memory-probe, the probe's JSON)."""
    parser = argparse.ArgumentParser(prog="bench_client")
    parser.add_argument("--memory-probe", nargs=2, metavar=("BASE_URL", "ROWS"))
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    if args.memory_probe:
        base, rows = args.memory_probe
        print(json.dumps(memory_probe(base, int(rows))))
        return 0
    if args.quick:
        os.environ["BENCH_QUICK"] = "1"
    print(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
