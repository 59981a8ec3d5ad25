"""The gateway's throughput and latency: 4 gunicorn workers, concurrent clients, the 4D cost.

Issue 19's figure. One emulator, ``legacy-api gateway --workers 4`` as a real process
(file session store), a consumer token, then C client threads sending list requests
(``GET /api/live/Artikel_Variante/?limit=50``) for D seconds: requests per second,
latency percentiles, the 4D requests the emulator answered meanwhile and the 4D sessions
opened. There is no shared read cache yet (ADR 0032), so every gateway read is a 4D
read: the "cached" row of the issue cannot be measured. ``BENCH_QUICK=1`` for a short run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.testing import free_port

BIN = Path(sys.executable).parent / "legacy-api"
WORKERS = 4


def _env(tmp: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_API", "DJANGO_"))}
    env.update(
        LEGACY_API_LIVE_URL=base_url,
        LEGACY_API_SESSION_STORE="file",
        LEGACY_API_SESSION_DIR=str(tmp / "sessions"),
        LEGACY_API_SESSION_KEY="TWmvhTkpQIMgbn9Ws0_yYiiTSZEZ7c3bJ-kEMVPZ2QA=",
        LEGACY_API_GATEWAY_DATABASE_URL=f"sqlite:///{tmp / 'gateway.sqlite3'}",
        LEGACY_API_GATEWAY_SECRET_KEY="bench",
    )
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


def measure(clients: int = 8, seconds: float = 10.0, rows: int = 2000) -> dict[str, Any]:
    """Run the load once; return the figures."""
    with serve(EmulatorConfig(rows=rows, seed=1)) as emulator, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = _env(tmp, emulator.base_url)
        token = subprocess.run(
            [str(BIN), "gateway", "token", "create", "bench", "--scope", "live:*:read"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        port = free_port()
        log = (tmp / "gunicorn.log").open("w")
        server = subprocess.Popen(
            [str(BIN), "gateway", "--port", str(port), "--workers", str(WORKERS)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}/api"
        try:
            for _ in range(150):
                try:
                    urllib.request.urlopen(f"{base}/schema/", timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.2)
            url = f"{base}/live/Artikel_Variante/?limit=50"
            _load(url, token, WORKERS, 1.0)  # warm: every worker has its client and schema
            before = emulator.stats()
            latencies = _load(url, token, clients, seconds)
            after = emulator.stats()
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    ms = sorted(1000 * x for x in latencies)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(ms),
        "rps": len(ms) / seconds,
        "p50": statistics.median(ms),
        "p95": ms[int(0.95 * (len(ms) - 1))],
        "p99": ms[int(0.99 * (len(ms) - 1))],
        "fourd_requests": after["requests_total"] - before["requests_total"],
        "sessions": after["sessions_created"],
    }


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    quick = os.environ.get("BENCH_QUICK") == "1"
    f = measure(clients=4 if quick else 8, seconds=3.0 if quick else 10.0)
    return "\n".join(
        [
            "### gateway",
            "",
            (
                f"`legacy-api gateway --workers {WORKERS}` (gunicorn, file session store) against "
                f"one emulator; {f['clients']} client threads for {f['seconds']:.0f} s of "
                "`GET /api/live/Artikel_Variante/?limit=50` (uncached: there is no read cache "
                "yet, so a cached row cannot be measured)."
            ),
            "",
            "| requests | req/s | p50 ms | p95 ms | p99 ms | 4D requests | 4D sessions |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            (
                f"| {f['requests']} | {f['rps']:.0f} | {f['p50']:.1f} | {f['p95']:.1f} | "
                f"{f['p99']:.1f} | {f['fourd_requests']} | {f['sessions']} |"
            ),
        ]
    )


if __name__ == "__main__":
    print(run())
