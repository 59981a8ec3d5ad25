"""Bounded waiting end to end: BudgetExhausted from a real client, its logs and its metrics.

The permits are held by a "foreign" holder on the same private Redis (another process's
permit as far as the client can tell); the client reads over HTTP from the emulator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from fourd_emulator import EmulatorServer
from legacy_adapters.stores import RedisBudget
from legacy_api import build_client
from legacy_core import instrument
from legacy_core.budget import BudgetLimits, budget_key
from legacy_core.errors import BudgetExhausted
from legacy_core.model import Environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TABLE = "Artikel_Variante"
WAIT = 0.3


@pytest.fixture
def metrics() -> Iterator[Any]:
    """The Prometheus plug-in on a registry of its own, installed for the test only."""
    prometheus_client = pytest.importorskip("prometheus_client")  # the metrics extra
    from legacy_adapters.observe._metrics import PrometheusInstrumentation  # noqa: PLC0415

    made = PrometheusInstrumentation.create(
        prometheus_client.CollectorRegistry(), add_to_default=False
    )
    instrument.install(made)
    yield made
    instrument.uninstall(made)


def sample(metrics: Any, **labels: str) -> float:
    """The value of the budget counter with ``labels``."""
    from legacy_adapters.observe._metrics import PREFIX  # noqa: PLC0415

    total = 0.0
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == PREFIX + "budget_events_total" and labels.items() <= s.labels.items():
                total += s.value
    return total


def client_of(server: EmulatorServer, redis_url: str, **extra: Any) -> Any:
    """A client capped at one request in flight on Redis, waiting WAIT s, retrying thrice."""
    return build_client(
        {
            "environments": {"live": server.base_url},
            "session_store": "redis",
            "redis_url": redis_url,
            "retries": 3,
            "budget": {"max_concurrent": 1, "wait": WAIT},
        },
        **extra,
    )


def hold_the_permit(client: redis.Redis[bytes], server: EmulatorServer) -> tuple[RedisBudget, str]:
    """Take live's only permit as another process would; return the store and the key."""
    budget = RedisBudget(client)
    key = budget_key(Environment("live", server.base_url))
    assert 0.0 == budget.take(key, "foreign", BudgetLimits(max_concurrent=1))
    return budget, key


class TestExhausted:
    """No permit within budget_wait: a typed error, nothing sent, nothing retried."""

    def test_raises_budget_exhausted_and_sends_nothing(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
    ) -> None:
        """A held cap gives BudgetExhausted after ~budget_wait, once, with 4D never asked."""
        hold_the_permit(redis_client, slow_emulator)
        client = client_of(slow_emulator, redis_server_url)
        started = time.monotonic()
        with capture_logs() as logs, pytest.raises(BudgetExhausted) as caught:
            client.fetch_frame(TABLE)
        elapsed = time.monotonic() - started
        err = caught.value
        assert err.not_applied
        assert err.retry_after is not None
        assert 0 < err.retry_after <= 1.0
        assert "live" == err.environment
        assert "live" in str(err)
        assert "max 1 concurrent" in str(err)
        # Waited its budget once: three retries would have waited four times over.
        assert WAIT <= elapsed < 2 * WAIT + 0.5
        assert 0 == slow_emulator.stats()["requests_total"]
        events = [e["event"] for e in logs]
        assert 1 == events.count("legacy_api.budget.exhausted")
        assert not [e for e in events if e.startswith("legacy_api.retry")]
        (exhausted,) = [e for e in logs if e["event"] == "legacy_api.budget.exhausted"]
        assert "warning" == exhausted["log_level"]
        assert "live" == exhausted["environment"]
        assert exhausted["waited_ms"] >= WAIT * 1000

    def test_prometheus_counts_it(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
        metrics: Any,
    ) -> None:
        """Three exhausted reads count three waits and three exhausted in budget_events."""
        hold_the_permit(redis_client, slow_emulator)
        client = client_of(slow_emulator, redis_server_url, budget_wait=0.05)
        for _ in range(3):
            with pytest.raises(BudgetExhausted):
                client.fetch_frame(TABLE)
        assert 3.0 == sample(metrics, environment="live", event="exhausted")
        assert 3.0 == sample(metrics, environment="live", event="waits")

    def test_breaker_does_not_count_it(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
    ) -> None:
        """Six exhausted reads in a row (the breaker trips at five failures) leave it closed."""
        budget, key = hold_the_permit(redis_client, slow_emulator)
        client = client_of(slow_emulator, redis_server_url, budget_wait=0.05)
        for _ in range(6):
            with pytest.raises(BudgetExhausted):
                client.fetch_frame(TABLE)
        assert "closed" == client.breaker("live").state
        budget.give_back(key, "foreign")
        assert 60 == len(client.fetch_frame(TABLE))  # no CircuitOpen: 4D is asked again


class TestWaited:
    """A wait that ends in a permit is logged and counted, and the read goes on."""

    def test_wait_then_permit_is_reported(
        self,
        slow_emulator: EmulatorServer,
        redis_client: redis.Redis[bytes],
        redis_server_url: str,
    ) -> None:
        """The foreign permit given back after 0.2 s: the read waits, logs waited, reads all."""
        budget, key = hold_the_permit(redis_client, slow_emulator)
        client = client_of(slow_emulator, redis_server_url, budget_wait=10)
        timer = threading.Timer(0.2, budget.give_back, args=(key, "foreign"))
        timer.start()
        try:
            with capture_logs() as logs:
                frame = client.fetch_frame(TABLE)
        finally:
            timer.cancel()
        assert 60 == len(frame)
        waited = [e for e in logs if e["event"] == "legacy_api.budget.waited"]
        assert waited, [e["event"] for e in logs]
        assert waited[0]["waited_ms"] >= 150
        assert "info" == waited[0]["log_level"]
        assert not [e for e in logs if e["event"] == "legacy_api.budget.exhausted"]
