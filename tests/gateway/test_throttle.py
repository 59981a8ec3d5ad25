"""Per-caller rates kept in a real Redis (a private redis-server): 429 problems over the rate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.gateway.conftest import requests_total

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)
pytest.importorskip("redis")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server (or $REDIS_URL)."""
    from legacy_adapters.testing import RedisServerError, private_redis_server  # noqa: PLC0415

    try:
        with private_redis_server() as url:
            yield url
    except RedisServerError as exc:
        pytest.skip(f"no redis-server: {exc}")


@pytest.fixture
def throttled(redis_url: str) -> Iterator[None]:
    """THROTTLE_RATE 3/min in a Redis cache, emptied first."""
    import redis  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415

    redis.Redis.from_url(redis_url).flushdb()
    caches = {
        **settings.CACHES,
        "gateway_throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
        },
    }
    gateway = {"THROTTLE_RATE": "3/min", "THROTTLE_CACHE": "gateway_throttle"}
    with override_settings(CACHES=caches, LEGACY_API_GATEWAY=gateway):
        yield


def test_over_the_rate_is_429_without_4d(
    api: Any, make_token: Any, emulators: dict[str, Any], throttled: None, redis_url: str
) -> None:
    """The 4th request in a minute is a 429 problem with Retry-After; 4D never sees it."""
    import redis  # noqa: PLC0415

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('live:*:read')}")
    for _ in range(3):
        assert api.get("/api/live/Kunden/?limit=1").status_code == 200
    before = requests_total(emulators["live"])
    answer = api.get("/api/live/Kunden/?limit=1")
    assert answer.status_code == 429
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("throttled")
    assert 0 < int(answer["Retry-After"]) <= 60
    assert requests_total(emulators["live"]) == before
    assert redis.Redis.from_url(redis_url).dbsize() >= 1  # the window lives in Redis


def test_each_caller_has_its_own_window(api: Any, make_token: Any, throttled: None) -> None:
    """One consumer over its rate does not slow another down."""
    first, second = make_token("live:*:read"), make_token("live:*:read")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first}")
    statuses = [api.get("/api/live/Kunden/?limit=1").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    assert api.get("/api/live/Kunden/?limit=1").status_code == 200


def _racing(count: int, rate: str, redis_url: str) -> list[bool]:
    """``count`` threads released together, each asking the throttle once for one caller."""
    import threading  # noqa: PLC0415

    from django.http import HttpRequest  # noqa: PLC0415
    from django.test import override_settings  # noqa: PLC0415
    from rest_framework.request import Request  # noqa: PLC0415

    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415
    from legacy_adapters.django.gateway.throttle import CallerRateThrottle  # noqa: PLC0415

    gateway = {"THROTTLE_RATE": rate, "THROTTLE_REDIS_URL": redis_url}
    barrier = threading.Barrier(count)
    results: list[bool] = []
    lock = threading.Lock()
    with override_settings(LEGACY_API_GATEWAY=gateway):

        def one() -> None:
            request = Request(HttpRequest())
            request.user = Consumer(name="racer", scopes=["live:*:read"], fields={})
            throttle = CallerRateThrottle()
            barrier.wait()
            allowed = throttle.allow_request(request, None)
            with lock:
                results.append(allowed)

        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results


def test_racing_threads_never_pass_more_than_the_limit(redis_url: str) -> None:
    """60 threads racing one caller's 25/min window: exactly 25 pass, in three rounds."""
    import redis  # noqa: PLC0415

    redis.Redis.from_url(redis_url).flushdb()
    passed = []
    for _ in range(3):
        results = _racing(60, "25/min", redis_url)
        assert len(results) == 60
        passed.append(results.count(True))
    assert passed == [25, 0, 0]
    window = "legacy-gateway:throttle_legacy_gateway_racer"
    assert redis.Redis.from_url(redis_url).zcard(window) == 25  # the window lives in Redis


def test_the_window_slides(redis_url: str) -> None:
    """Requests older than the window no longer count: after it, the caller may again."""
    import time  # noqa: PLC0415

    import redis  # noqa: PLC0415

    redis.Redis.from_url(redis_url).flushdb()
    assert _racing(8, "5/s", redis_url).count(True) == 5
    time.sleep(1.1)
    assert _racing(8, "5/s", redis_url).count(True) == 5


def test_redis_down_lets_requests_through(api: Any, make_token: Any) -> None:
    """With the throttle's Redis unreachable a request still answers 200 (logged, not a 500)."""
    from django.test import override_settings  # noqa: PLC0415

    gateway = {"THROTTLE_RATE": "1/min", "THROTTLE_REDIS_URL": "redis://127.0.0.1:1/0"}
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('live:*:read')}")
    with override_settings(LEGACY_API_GATEWAY=gateway):
        statuses = [api.get("/api/live/Kunden/?limit=1").status_code for _ in range(2)]
    assert statuses == [200, 200]
