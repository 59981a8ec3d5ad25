"""The gateway's throughput and latency: 4 gunicorn workers, concurrent clients, the 4D cost.

Issue 19's figure. One emulator, ``legacy-api gateway --workers 4`` as a real process
(sessions and the read cache in a private Redis, else the file store), a consumer token,
then C client threads sending list requests for D seconds, twice: ``GET
/api/live/Artikel_Variante/?limit=50`` with the table opted in to the read cache on
``live`` (``LEGACY_API_LIVE_CACHE``), and the same read on ``test`` (the same emulator,
not cached, so every list opens a 4D entity set). Per row: requests per second, latency
percentiles, the 4D requests the emulator answered meanwhile and the 4D sessions opened.
``BENCH_QUICK=1`` for a short run.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.testing import RedisServerError, free_port, private_redis_server

BIN = Path(sys.executable).parent / "legacy-api"
WORKERS = 4


def _env(tmp: Path, base_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_API", "DJANGO_"))}
    env.update(
        LEGACY_API_LIVE_URL=base_url,
        LEGACY_API_TEST_URL=base_url,
        LEGACY_API_LIVE_CACHE="Artikel_Variante=3600",
        LEGACY_API_SESSION_STORE="file",
        LEGACY_API_SESSION_DIR=str(tmp / "sessions"),
        LEGACY_API_SESSION_KEY="TWmvhTkpQIMgbn9Ws0_yYiiTSZEZ7c3bJ-kEMVPZ2QA=",
        LEGACY_API_GATEWAY_DATABASE_URL=f"sqlite:///{tmp / 'gateway.sqlite3'}",
        LEGACY_API_GATEWAY_SECRET_KEY="bench",
    )
    if redis_url is not None:
        env.update(LEGACY_API_SESSION_STORE="redis", LEGACY_API_REDIS_URL=redis_url)
    return env


def _load(url: str, token: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        while time.monotonic() < stop:
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as answer:
                json.loads(answer.read())
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def _figures(latencies: list[float], seconds: float, fourd: int) -> dict[str, Any]:
    ms = sorted(1000 * x for x in latencies)
    return {
        "requests": len(ms),
        "rps": len(ms) / seconds,
        "p50": statistics.median(ms),
        "p95": ms[int(0.95 * (len(ms) - 1))],
        "p99": ms[int(0.99 * (len(ms) - 1))],
        "fourd_requests": fourd,
    }


@contextlib.contextmanager
def _redis() -> Iterator[str | None]:
    try:
        with private_redis_server() as url:
            yield url
    except RedisServerError:
        yield None  # no redis-server here: the file store shares sessions and cache


def measure(clients: int = 8, seconds: float = 10.0, rows: int = 2000) -> dict[str, Any]:
    """Run the cached and the uncached load once each; return the figures."""
    with (
        serve(EmulatorConfig(rows=rows, seed=1)) as emulator,
        tempfile.TemporaryDirectory() as d,
        _redis() as redis_url,
    ):
        tmp = Path(d)
        env = _env(tmp, emulator.base_url, redis_url)
        token = subprocess.run(
            [str(BIN), "gateway", "token", "create", "bench", "--scope", "*:*:read"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        port = free_port()
        log = (tmp / "gunicorn.log").open("w")
        server = subprocess.Popen(
            [str(BIN), "gateway", "--port", str(port), "--workers", str(WORKERS)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}/api"
        rows_out: dict[str, dict[str, Any]] = {}
        try:
            for _ in range(150):
                try:
                    urllib.request.urlopen(f"{base}/schema/", timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.2)
            for name, env_name in (("cached", "live"), ("uncached", "test")):
                url = f"{base}/{env_name}/Artikel_Variante/?limit=50"
                _load(url, token, WORKERS, 0.5)  # warm: every worker has its client and schema
                before = emulator.stats()["requests_total"]
                latencies = _load(url, token, clients, seconds)
                fourd = emulator.stats()["requests_total"] - before
                rows_out[name] = _figures(latencies, seconds, fourd)
            sessions = emulator.stats()["sessions_created"]
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    return {
        "clients": clients,
        "seconds": seconds,
        "store": "redis" if redis_url is not None else "file",
        "sessions": sessions,
        **rows_out,
    }


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    quick = os.environ.get("BENCH_QUICK") == "1"
    f = measure(clients=4 if quick else 8, seconds=3.0 if quick else 10.0)
    lines = [
        "### gateway",
        "",
        (
            f"`legacy-api gateway --workers {WORKERS}` (gunicorn, {f['store']} store for "
            f"sessions and the read cache) against one emulator; {f['clients']} client "
            f"threads for {f['seconds']:.0f} s of `GET /api/ENV/Artikel_Variante/?limit=50`, "
            "cached (the table opted in to the read cache on `live`) and uncached (`test`: "
            f"every list opens a 4D entity set). 4D sessions opened by the 4 workers: "
            f"{f['sessions']} (one per environment)."
        ),
        "",
        "| read | requests | req/s | p50 ms | p95 ms | p99 ms | 4D requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("cached", "uncached"):
        r = f[name]
        lines.append(
            f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['p99']:.1f} | {r['fourd_requests']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
