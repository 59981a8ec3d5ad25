"""Licences held over time: a soak of many processes and threads, session kills, a licence cap.

Issue 10's figure. N processes x M threads of mixed reads and writes run against one
emulator with serialised (legacy) sessions and a licence cap, sharing sessions through a
private Redis; the parent kills every server session at a fixed period. The emulator's
licence timeline (every change of the number of live sessions) gives licences held over
time: the maximum, the share of time at one licence, and how long more than one was held
after each kill. Run alone with ``.venv/bin/python -m benchmarks.bench_licences``
(``--quick`` for a short run); ``run()`` returns the markdown section for
docs/benchmarks.md. ``soak()`` is what the short versions in ``make test`` call.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import structlog

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.testing import private_redis_server
from legacy_core.errors import LegacyError

TABLE = "Artikel_Variante"
WRITE_FIELD = "Bezeichnung_FS"
USER, PASSWORD = "admin", "secret"


@attrs.frozen
class SoakSpec:
    """One soak run: load shape, faults and server behaviour."""

    processes: int = 16
    threads: int = 4
    duration: float = 60.0
    kill_every: float = 10.0
    licences: int | None = 3
    logout: bool = True
    """Whether the server offers ``$directory/logout`` (pyERP's may not)."""
    force_login: bool = False
    """Dead cookies answer 401 and open no session; credentials log in."""
    busy: int = 2
    """CPU busy loops running beside the soak (the races show up only on a busy machine)."""
    latency_ms: float = 2.0
    write_share: float = 0.1
    rows: int = 300
    seed: int = 0
    recheck_interval: float | None = None
    """Override of the provider's ``recheck_interval`` (None: its default)."""


# --------------------------------------------------------------------------- worker side


class _EventCounter:
    """A structlog processor that counts the library's events and drops them."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> Any:
        with self._lock:
            self.counts[str(event.get("event"))] += 1
        raise structlog.DropEvent


def _worker(
    spec: SoakSpec, base_url: str, redis_url: str, index: int, start: Any, out: Any
) -> None:
    """One process: ``spec.threads`` threads of mixed calls until the deadline; report."""
    from legacy_adapters.bootstrap import build_client  # noqa: PLC0415 - in the child only

    counter = _EventCounter()
    structlog.configure(processors=[counter])
    config: dict[str, Any] = {
        "environments": {"live": base_url},
        "session_store": "redis",
        "redis_url": redis_url,
        "page_size": 20,
        "read_timeout": 30.0,
    }
    if spec.force_login:
        config["credentials"] = {"live": (USER, PASSWORD)}
    client = build_client(config)
    provider: Any = client.reader.sessions  # type: ignore[attr-defined]
    if spec.recheck_interval is not None:
        provider.recheck_interval = spec.recheck_interval
    # Before the start line: the cold start (one shared login) is not part of the soak.
    keys = [str(r["__KEY"]) for r in client.iter_records(TABLE, fields=["__KEY"], limit=200)]
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def thread(t: int) -> None:
        rng = random.Random(spec.seed * 1000 + index * 16 + t)
        start.wait(60)
        deadline = time.monotonic() + spec.duration
        while time.monotonic() < deadline:
            roll = rng.random()
            try:
                if roll < spec.write_share:
                    key = rng.choice(keys)
                    client.push_field(TABLE, key, WRITE_FIELD, f"soak {index}.{t}")
                    what = "write"
                elif roll < 0.4:
                    client.get_record(TABLE, rng.choice(keys))
                    what = "get"
                elif roll < 0.6:
                    client.count(TABLE)
                    what = "count"
                else:
                    list(client.iter_records(TABLE, limit=20, skip=rng.randrange(200)))
                    what = "read"
            except LegacyError as exc:
                what = f"error:{type(exc).__name__}"
            with lock:
                outcomes[what] += 1

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(spec.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put(
        {
            "outcomes": dict(outcomes),
            "provider": provider.stats(),
            "events": dict(counter.counts),
        }
    )


def _spin(stop: Any) -> None:
    """Burn one core until told to stop."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


# --------------------------------------------------------------------------- parent side


@contextlib.contextmanager
def _busy(n: int, ctx: Any) -> Iterator[None]:
    stop = ctx.Event()
    spinners = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n)]
    for p in spinners:
        p.start()
    try:
        yield
    finally:
        stop.set()
        for p in spinners:
            p.join(10)


def soak(spec: SoakSpec) -> dict[str, Any]:
    """Run one soak and return its figures (see ``summarise``)."""
    ctx = multiprocessing.get_context("forkserver")
    config = EmulatorConfig(
        rows=spec.rows,
        licences=spec.licences,
        serialize_sessions=True,
        logout=spec.logout,
        force_login=spec.force_login,
        users={USER: PASSWORD},
        seed=spec.seed,
    )
    with private_redis_server() as redis_url, serve(config) as server:
        server.set_faults(latency_ms=spec.latency_ms)
        start = ctx.Barrier(spec.processes * spec.threads + 1)
        out = ctx.Queue()
        workers = [
            ctx.Process(
                target=_worker, args=(spec, server.base_url, redis_url, i, start, out), daemon=True
            )
            for i in range(spec.processes)
        ]
        with _busy(spec.busy, ctx):
            for p in workers:
                p.start()
            start.wait(120)
            server.reset_peak()
            began = server.emulator.now()
            kills = _kill_periodically(server, spec)
            reports = [out.get(timeout=spec.duration + 120) for _ in workers]
            for p in workers:
                p.join(30)
            ended = server.emulator.now()
            timeline = server.licence_timeline()
            stats = server.stats()
    return summarise(spec, reports, kills, timeline, stats, began, ended)


def _kill_periodically(server: EmulatorServer, spec: SoakSpec) -> list[float]:
    """Kill every server session each ``kill_every`` seconds; return the emulator times."""
    kills: list[float] = []
    deadline = time.monotonic() + spec.duration
    while time.monotonic() + spec.kill_every < deadline - 0.5:
        time.sleep(spec.kill_every)
        kills.append(server.emulator.now())
        server.expire_sessions()
    time.sleep(max(deadline - time.monotonic(), 0.0))
    return kills


def summarise(
    spec: SoakSpec,
    reports: list[dict[str, Any]],
    kills: list[float],
    timeline: list[tuple[float, int]],
    stats: dict[str, Any],
    began: float,
    ended: float,
) -> dict[str, Any]:
    """Figures of one run: licences over time, sessions created, failures, orphans."""
    outcomes: collections.Counter[str] = collections.Counter()
    provider: collections.Counter[str] = collections.Counter()
    events: collections.Counter[str] = collections.Counter()
    for r in reports:
        outcomes.update(r["outcomes"])
        provider.update(r["provider"])
        events.update(r["events"])
    held = _time_at(timeline, began, ended)
    span = max(ended - began, 1e-9)
    over_one = _excursions(timeline, began, ended, above=1)
    failed = {k.removeprefix("error:"): v for k, v in outcomes.items() if k.startswith("error:")}
    return {
        "spec": attrs.asdict(spec),
        "requests": sum(v for k, v in outcomes.items() if not k.startswith("error:")),
        "failed": sum(failed.values()),
        "failed_by_type": failed,
        "breaker_openings": events.get("legacy_api.breaker.opened", 0),
        "kills": len(kills),
        "sessions_created": stats["sessions_created"],
        "licences_max": max((n for _, n in timeline), default=0),
        "licences_at_end": stats["active_sessions"],
        "share_at_most_one": round(sum(t for n, t in held.items() if n <= 1) / span, 4),
        "seconds_above_two": round(sum(t for n, t in held.items() if n > 2), 3),
        "longest_above_one_s": round(max(over_one, default=0.0), 3),
        "orphans_closed": provider["orphans_closed"],
        "orphans_left": provider["orphans_left"],
        "logins": provider["logins"],
        "adopted": provider["adopted"],
        "recoveries": provider["recoveries"],
        "licence_refusals": provider["licence_refusals"],
        "licence_backoffs": provider["licence_backoffs"],
        "logouts_unsupported": provider["logouts_unsupported"],
        "server_sessions_logged_out": stats.get("sessions_logged_out", 0),
        "server_licences_refused": stats.get("licences_refused", 0),
    }


def _time_at(timeline: list[tuple[float, int]], began: float, ended: float) -> dict[int, float]:
    """Seconds spent at each number of live sessions between ``began`` and ``ended``."""
    spent: collections.Counter[int] = collections.Counter()
    points = sorted(timeline)
    for (t0, n), (t1, _) in zip(points, [*points[1:], (ended, 0)], strict=True):
        lo, hi = max(t0, began), min(t1, ended)
        if hi > lo:
            spent[n] += hi - lo
    return dict(spent)


def _excursions(
    timeline: list[tuple[float, int]], began: float, ended: float, *, above: int
) -> list[float]:
    """Durations of the stretches with more than ``above`` live sessions."""
    out: list[float] = []
    since: float | None = None
    for t, n in sorted(timeline):
        if t < began:
            continue
        if n > above and since is None:
            since = t
        elif n <= above and since is not None:
            out.append(t - since)
            since = None
    if since is not None:
        out.append(ended - since)
    return out


# --------------------------------------------------------------------------- report


_COLUMNS = (
    ("run", None),
    ("kills", "kills"),
    ("sessions created", "sessions_created"),
    ("licences max", "licences_max"),
    ("time at 1 licence", "share_at_most_one"),
    ("longest > 1 (s)", "longest_above_one_s"),
    ("s > 2", "seconds_above_two"),
    ("orphans closed", "orphans_closed"),
    ("orphans left", "orphans_left"),
    ("requests", "requests"),
    ("failed", "failed"),
    ("breaker openings", "breaker_openings"),
)


def table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table with one row per run."""
    head = "| " + " | ".join(c for c, _ in _COLUMNS) + " |"
    rule = "|" + "|".join("---" if k is None else "---:" for _, k in _COLUMNS) + "|"
    rows = [head, rule]
    for name, r in results.items():
        cells = [name]
        for _, key in _COLUMNS[1:]:
            value = r[key]  # type: ignore[index]
            if key == "share_at_most_one":
                cells.append(f"{value:.1%}")
            else:
                cells.append(f"{value:,}" if isinstance(value, int) else f"{value:g}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def runs(*, quick: bool = False) -> dict[str, SoakSpec]:
    """The three runs issue 10 asks for: with logout, without, with force-login."""
    base = SoakSpec(duration=20.0, kill_every=5.0) if quick else SoakSpec()
    return {
        "logout": base,
        "--no-logout": attrs.evolve(base, logout=False),
        "--force-login": attrs.evolve(base, force_login=True),
    }


def run(*, quick: bool | None = None) -> str:
    """Run every soak and return the markdown section."""
    if quick is None:
        quick = os.environ.get("BENCH_QUICK") == "1"
    specs = runs(quick=quick)
    results = {name: soak(spec) for name, spec in specs.items()}
    spec = next(iter(specs.values()))
    intro = (
        f"{spec.processes} processes x {spec.threads} threads of mixed reads and writes "
        f"({spec.write_share:.0%} writes) for {spec.duration:g} s against one emulator with "
        f"serialised sessions, {spec.latency_ms:g} ms latency and a licence cap of "
        f"{spec.licences}; every server session killed every {spec.kill_every:g} s; sessions "
        f"shared through a private Redis; {spec.busy} CPU busy loops beside it on the "
        f"{os.cpu_count()}-core machine. Licences are read off the emulator's timeline "
        "(every change of the number of live sessions). Baseline, from the issue: the first "
        "version held 2 licences in steady use (peak 3) and left up to 15 sessions alive "
        "after one loss."
    )
    goal = (
        "Goal: 1 licence in steady state and at most 2 for under 1 s after a kill (with "
        "logout); sessions created <= kills + 1 + orphans closed; 0 failed requests, 0 "
        "breaker openings; with `--force-login` sessions created = kills + 1. Without logout "
        "the orphans stay alive until they idle out: that column is the figure to minimise."
    )
    lines = [
        "## Licences held over time (issue 10)",
        "",
        intro,
        "",
        table(results),
        "",
        goal,
        "",
        "Raw figures:",
        "",
        "```json",
        json.dumps(results, indent=1, sort_keys=True),
        "```",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the soaks and print the section (or one run's JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="bench_licences", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 s runs, a kill every 5 s")
    parser.add_argument("--json", action="store_true", help="print the raw figures only")
    args = parser.parse_args(argv)
    if args.json:
        results = {name: soak(spec) for name, spec in runs(quick=args.quick).items()}
        print(json.dumps(results, indent=1, sort_keys=True))
    else:
        print(run(quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
