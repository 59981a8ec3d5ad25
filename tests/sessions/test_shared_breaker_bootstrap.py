"""build_client shares circuit-breaker state through Redis when the redis store is configured."""

from __future__ import annotations

import pytest

from legacy_adapters.bootstrap import build_client
from legacy_adapters.testing import free_port
from legacy_core.errors import CircuitOpen, ConfigurationError, ServerUnavailable


def _client(redis_url: str, url: str, **extra: object):
    return build_client(
        {
            "environments": {"live": url},
            "session_store": "redis",
            "redis_url": redis_url,
            "retries": 0,
            **extra,
        }
    )


@pytest.mark.integration
class TestSharedBreakerFromBootstrap:
    """Two independently built clients (as two processes would) see one breaker."""

    def test_outage_seen_by_one_client_fails_the_other_fast(self, redis_db):
        """After client A trips the breaker on a dead server, client B fails fast without I/O."""
        url, _client_redis = redis_db
        dead = f"http://127.0.0.1:{free_port()}"
        a = _client(url, dead)
        b = _client(url, dead)
        for _ in range(5):
            with pytest.raises(ServerUnavailable):
                a.tables()
        with pytest.raises(CircuitOpen) as caught:
            b.tables()
        assert "live" == caught.value.environment

    def test_switched_off_breakers_stay_per_process(self, redis_db):
        """With shared_breaker=False client B still tries the server itself."""
        url, _client_redis = redis_db
        dead = f"http://127.0.0.1:{free_port()}"
        a = _client(url, dead, shared_breaker=False)
        b = _client(url, dead, shared_breaker=False)
        for _ in range(5):
            with pytest.raises(ServerUnavailable):
                a.tables()
        with pytest.raises(ServerUnavailable):
            b.tables()

    def test_shared_breaker_needs_redis(self, tmp_path):
        """Asking for shared breakers with the file store is a configuration error."""
        with pytest.raises(ConfigurationError, match="needs the redis session store"):
            build_client(
                {
                    "environments": {"live": "http://127.0.0.1:9"},
                    "session_store": "file",
                    "session_dir": str(tmp_path),
                    "shared_breaker": True,
                }
            )
