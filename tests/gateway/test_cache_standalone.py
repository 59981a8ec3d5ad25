"""The read cache behind the gateway: gunicorn workers sharing a private Redis (ADR 0030)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.test_standalone import _env, _gateway, _get, _token

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)
pytest.importorskip("gunicorn")
pytest.importorskip("redis")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server for the workers' sessions and cache."""
    from legacy_adapters.testing import RedisServerError, private_redis_server  # noqa: PLC0415

    try:
        with private_redis_server() as url:
            yield url
    except RedisServerError as exc:
        pytest.skip(f"no redis-server: {exc}")


def _reads(emulator: Any, kind: str = "GET /rest/{table}") -> int:
    return int(sum(emulator.stats()["requests"].get(kind, {}).values()))


def _call(
    url: str, token: str, method: str = "GET", body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"} | headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_cached_table_is_read_once_for_every_worker(
    tmp_path: Path, emulators: dict[str, Any], redis_url: str
) -> None:
    """30 lists of a cached table over 3 workers make one 4D read; an uncached one makes 30."""
    env = _env(tmp_path, emulators) | {
        "LEGACY_API_SESSION_STORE": "redis",
        "LEGACY_API_REDIS_URL": redis_url,
        "LEGACY_API_CACHE": "Kunden=3600",
    }
    token = _token(env, "svc", "--scope", "live:*:read").stdout.strip()
    live = emulators["live"]
    with _gateway(env, tmp_path, workers=3) as base:
        for table in ("Kunden", "Artikel_Variante"):  # every worker has its schema cached
            _get(f"{base}/live/{table}/?limit=1", token)
        reads, sets = _reads(live), _reads(live, "GET /rest/{table}?$method=entityset")
        with ThreadPoolExecutor(6) as pool:
            cached = list(
                pool.map(lambda _: _get(f"{base}/live/Kunden/?limit=5", token), range(30))
            )
        assert {status for status, _ in cached} == {200}
        assert len({json.dumps(body["results"], sort_keys=True) for _, body in cached}) == 1
        assert _reads(live) - reads == 1
        with ThreadPoolExecutor(6) as pool:
            plain = list(
                pool.map(lambda _: _get(f"{base}/live/Artikel_Variante/?limit=5", token), range(30))
            )
        assert {status for status, _ in plain} == {200}
        assert _reads(live, "GET /rest/{table}?$method=entityset") - sets == 30


def test_etag_follows_a_write_through_the_gateway(
    tmp_path: Path, emulators: dict[str, Any], redis_url: str
) -> None:
    """A cached record answers 304 without 4D; after a PATCH the old ETag gets the new record."""
    env = _env(tmp_path, emulators) | {
        "LEGACY_API_SESSION_STORE": "redis",
        "LEGACY_API_REDIS_URL": redis_url,
        "LEGACY_API_CACHE": "Kunden=3600",
    }
    token = _token(env, "rw", "--scope", "live:Kunden:read", "--scope", "live:Kunden:write")
    token_text = token.stdout.strip()
    live = emulators["live"]
    with _gateway(env, tmp_path, workers=3) as base:
        _, listed = _get(f"{base}/live/Kunden/?limit=1", token_text)
        key = listed["results"][0]["__KEY"]
        url = f"{base}/live/Kunden/{key}/"
        status, headers, _ = _call(url, token_text)
        assert status == 200
        old = headers["ETag"]
        before = live.stats()["requests_total"]
        for _ in range(6):  # several workers: all find the record in the shared cache
            assert _call(url, token_text, **{"If-None-Match": old})[0] == 304
        assert live.stats()["requests_total"] == before
        status, _, _ = _call(url, token_text, "PATCH", {"Name": "Nach dem Schreiben"})
        assert status == 200
        for _ in range(3):
            status, headers, body = _call(url, token_text, **{"If-None-Match": old})
            assert status == 200
            assert headers["ETag"] != old
            assert json.loads(body)["Name"] == "Nach dem Schreiben"
        assert _call(url, token_text, **{"If-None-Match": headers["ETag"]})[0] == 304
