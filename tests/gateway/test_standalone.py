"""``legacy-api gateway`` as real processes: token create, gunicorn workers, one 4D session."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from legacy_adapters.testing import free_port

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

pytest.importorskip("gunicorn")

BIN = Path(sys.executable).parent / "legacy-api"
# No 5xx; every status, content type and body as the gateway's own schema documents it.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


def _env(tmp_path: Path, emulators: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEGACY_API", "DJANGO_"))}
    env.update(
        LEGACY_API_LIVE_URL=emulators["live"].base_url,
        LEGACY_API_SESSION_STORE="file",
        LEGACY_API_SESSION_DIR=str(tmp_path / "sessions"),
        LEGACY_API_SESSION_KEY="TWmvhTkpQIMgbn9Ws0_yYiiTSZEZ7c3bJ-kEMVPZ2QA=",
        LEGACY_API_GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.sqlite3'}",
        LEGACY_API_GATEWAY_SECRET_KEY="standalone-test-key",
    )
    return env


def _token(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "gateway", "token", "create", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _get(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextlib.contextmanager
def _gateway(env: dict[str, str], tmp_path: Path, *, workers: int) -> Iterator[str]:
    """``legacy-api gateway`` on a free port until the block ends; yields its /api base URL."""
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w+")
    server = subprocess.Popen(
        [str(BIN), "gateway", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/schema/", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def test_token_create_prints_a_token_once(tmp_path: Path, emulators: dict[str, Any]) -> None:
    """``gateway token create`` prints one token; a second consumer of that name is refused."""
    env = _env(tmp_path, emulators)
    done = _token(env, "erp-reports", "--scope", "live:Kunden:read", "--scope", "live:Belege:read")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert re.fullmatch(r"lgw_[A-Za-z0-9_-]{40,}", token)
    assert token not in done.stderr
    again = _token(env, "erp-reports", "--scope", "live:Kunden:read")
    assert again.returncode == 1
    assert "exists" in again.stderr
    bad = _token(env, "other", "--scope", "live:Kunden")
    assert bad.returncode == 1
    assert "env:Table:action" in bad.stderr
    limited = _token(env, "lim", "--scope", "live:Kunden:read", "--fields", "Kunden=Name,Kundennr")
    assert limited.returncode == 0, limited.stderr
    bad_fields = _token(env, "lim2", "--scope", "live:Kunden:read", "--fields", "Kunden")
    assert bad_fields.returncode == 1
    assert "TABLE=F1,F2" in bad_fields.stderr


@pytest.fixture(params=["file", "redis"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The shared session store of the workers: a directory, or a private redis-server."""
    if request.param == "file":
        yield {"LEGACY_API_SESSION_STORE": "file"}
        return
    from legacy_adapters.testing import RedisServerError, private_redis_server  # noqa: PLC0415

    try:
        with private_redis_server() as url:
            yield {"LEGACY_API_SESSION_STORE": "redis", "LEGACY_API_REDIS_URL": url}
    except RedisServerError as exc:
        pytest.skip(f"no redis-server: {exc}")


def test_gunicorn_workers_share_one_4d_session(
    tmp_path: Path, emulators: dict[str, Any], store_env: dict[str, str]
) -> None:
    """Three gunicorn workers answer many requests and the emulator saw exactly one 4D session."""
    env = {**_env(tmp_path, emulators), **store_env}
    env["LEGACY_API_METRICS"] = "on"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    (tmp_path / "prom").mkdir()
    token = _token(env, "svc", "--scope", "live:*:read").stdout.strip()
    live = emulators["live"]
    created_before = live.stats()["sessions_created"]
    with _gateway(env, tmp_path, workers=3) as base:
        with ThreadPoolExecutor(6) as pool:
            answers = list(
                pool.map(lambda _: _get(f"{base}/live/Kunden/?limit=5", token), range(30))
            )
        assert {status for status, _ in answers} == {200}
        assert all(len(body["results"]) == 5 for _, body in answers)
        status, body = _get(f"{base}/live/Kunden/?where=Nummer%20%3D", token)
        assert status == 400
        assert body["type"].endswith("where-syntax")
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        # Every worker's client calls, summed over the multiprocess directory: the 30
        # lists (each first page opens a snapshot), not the malformed one (refused
        # before the client was called).
        reads = re.findall(
            r'^legacy_api_requests_total\{[^}]*outcome="ok"[^}]*verb="open snapshot"[^}]*\} (\S+)$',
            metrics,
            re.MULTILINE,
        )
        assert sum(float(v) for v in reads) == 30, metrics[:2000]
    text = (tmp_path / "gunicorn.log").read_text()
    pids = set(re.findall(r"/api/live/Kunden/\S* HTTP/1.1\" 200 .* pid=<(\d+)>", text))
    assert len(pids) >= 2, text[-2000:]
    assert live.stats()["sessions_created"] - created_before == 1


def test_schemathesis_finds_no_server_error(tmp_path: Path, emulators: dict[str, Any]) -> None:
    """Schemathesis, driven by the gateway's own OpenAPI schema, gets no 5xx and no bad answer."""
    pytest.importorskip("schemathesis")
    from fourd_emulator import EmulatorConfig, serve  # noqa: PLC0415

    # Its own emulator: every scope, so generated writes reach 4D (and must not break it).
    with serve(EmulatorConfig(rows=20, seed=9)) as own:
        env = _env(tmp_path, {"live": own})
        token = _token(env, "fuzz", "--scope", "*:*:*").stdout.strip()
        done = _schemathesis(env, tmp_path, token)
        assert own.stats()["requests_total"] > 0
    assert "generated" in done.stdout
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def _schemathesis(env: dict[str, str], tmp_path: Path, token: str) -> Any:
    with _gateway(env, tmp_path, workers=2) as base:
        return subprocess.run(
            [
                str(BIN.parent / "st"), "run", f"{base}/schema/",
                "--header", f"Authorization: Bearer {token}",
                "--checks", ",".join(CHECKS),
                "--max-examples", "40",
                "--generation-deterministic",
                "--suppress-health-check", "all",
            ],
            capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path,  # its cache
            env={**env, "SCHEMATHESIS_HOOKS": ""},
        )  # fmt: skip


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server (or $REDIS_URL) for one test."""
    from legacy_adapters.testing import RedisServerError, private_redis_server  # noqa: PLC0415

    try:
        with private_redis_server() as url:
            yield url
    except RedisServerError as exc:
        pytest.skip(f"no redis-server: {exc}")


def test_throttle_is_shared_by_the_workers(
    tmp_path: Path, emulators: dict[str, Any], redis_url: str
) -> None:
    """With Redis, a 5/min rate holds for three workers: of 12 requests 5 pass, kept in Redis."""
    import redis  # noqa: PLC0415

    env = {
        **_env(tmp_path, emulators),
        "LEGACY_API_SESSION_STORE": "redis",
        "LEGACY_API_REDIS_URL": redis_url,
        "LEGACY_API_GATEWAY_THROTTLE": "5/min",
    }
    token = _token(env, "slow", "--scope", "live:*:read").stdout.strip()
    with _gateway(env, tmp_path, workers=3) as base:
        # One after the other: the window is not locked, so racing requests could pass.
        statuses = [_get(f"{base}/live/Kunden/?limit=1", token)[0] for _ in range(12)]
    assert statuses == [200] * 5 + [429] * 7
    keys = redis.Redis.from_url(redis_url).keys("legacy-gateway:*throttle_legacy_gateway_slow")
    assert len(keys) == 1  # the window lives in Redis, where every worker reads it


def test_docs_page_renders_in_headless_chromium(tmp_path: Path, emulators: dict[str, Any]) -> None:
    """Swagger UI, from the gateway's own assets, renders every operation (DOM and screenshot)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium (Debian's `chromium` package)")
    env = _env(tmp_path, emulators)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000"]
    shot = tmp_path / "docs.png"
    with _gateway(env, tmp_path, workers=1) as base:
        page = f"{base}/docs/"
        dom = subprocess.run(
            [chromium, *flags, "--dump-dom", page],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout  # fmt: skip
        subprocess.run(
            [chromium, *flags, "--window-size=1280,1600", f"--screenshot={shot}", page],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        with urllib.request.urlopen(f"{base}/schema/", timeout=10) as answer:
            operations = {
                op["operationId"]
                for item in json.loads(answer.read())["paths"].values()
                for op in item.values()
            }
    rendered = set(re.findall(r'id="operations-(?!tag-)[^"-]+-([^"]+)"', dom))
    assert operations == rendered
    assert len(operations) == 7
    assert re.findall(r'<script src="([^"]+)"', dom)
    assert all(src.startswith("/api/static/") for src in re.findall(r'<script src="([^"]+)"', dom))
    # A rendered page (badges, paths) compresses far worse than a blank one (~5 kB).
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 30_000
