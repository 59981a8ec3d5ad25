"""The ``BUDGET`` key of ``settings.LEGACY_API``: parsed, checked, and obeyed by get_client()."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from legacy_adapters.django import get_client
from legacy_adapters.django._settings import parse_settings
from legacy_core.budget import BudgetLimits, StoreBudget, budget_key
from legacy_core.errors import BudgetExhausted
from legacy_core.model import Environment

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


def legacy_ids(**changes: Any) -> list[str]:
    """Run the app's checks with LEGACY_API changed; return the message ids."""
    with override_settings(LEGACY_API={**settings.LEGACY_API, **changes}):
        return sorted(m.id for m in checks.run_checks(tags=["legacy_api"]) if m.id)


@pytest.fixture
def live(emulators: dict[str, Any], flush_redis: None) -> Iterator[Any]:
    """The live emulator reset, answering after 20 ms so parallel pages overlap."""
    server = emulators["live"]
    server.reset()
    server.set_faults(latency_ms=20)
    yield server
    server.reset()


class TestParsing:
    """BUDGET becomes the ClientConfig's budget fields."""

    def test_limits_and_per_environment_overrides(self) -> None:
        """Flat keys set every environment's limits; an environment's dict overrides them."""
        raw = {
            **settings.LEGACY_API,
            "BUDGET": {
                "MAX_CONCURRENT": 8,
                "RATE": 20,
                "BURST": 40,
                "WAIT": 5,
                "LEASE": 60,
                "test": {"MAX_CONCURRENT": 2, "RATE": 1.5},
            },
        }
        parsed, problems = parse_settings(raw)
        assert [] == problems
        assert parsed is not None
        config = parsed.client_config()
        assert 5.0 == config.budget_wait
        assert {
            "live": BudgetLimits(max_concurrent=8, rate=20, burst=40, lease=60.0),
            "test": BudgetLimits(max_concurrent=2, rate=1.5, burst=40, lease=60.0),
        } == config.budget_limits()

    def test_default_is_no_budget(self) -> None:
        """Without BUDGET nothing is limited."""
        parsed, _ = parse_settings(settings.LEGACY_API)
        assert parsed is not None
        assert {} == parsed.client_config().budget_limits()


class TestChecks:
    """manage.py check reports a bad BUDGET before the first request."""

    @pytest.mark.parametrize(
        "budget",
        [
            "eight",
            {"MAX_CONURRENT": 8},
            {"MAX_CONCURRENT": 0},
            {"RATE": -1},
            {"WAIT": -1},
            {"test": {"MAX_CONCURRENT": 2, "LEASE": 5}},
            {"RATE": 5, "test": {"BURST": 0.5}},
            {"prod": {"MAX_CONCURRENT": 2}},
        ],
    )
    def test_bad_budget_is_an_error(self, budget: object) -> None:
        """A non-dict, a misspelt key, a bad number or an unknown environment is E001."""
        assert ["legacy_api.E001"] == legacy_ids(BUDGET=budget)

    def test_good_budget_passes(self) -> None:
        """A valid BUDGET adds no message."""
        assert [] == legacy_ids(BUDGET={"MAX_CONCURRENT": 2, "test": {"RATE": 5}})


class TestObeyed:
    """get_client() takes permits of the budget kept in the Django cache (Redis)."""

    def test_cap_holds_for_parallel_pages(self, live: Any) -> None:
        """Eight page workers under MAX_CONCURRENT=2: the emulator never serves more than two."""
        budget = {"MAX_CONCURRENT": 2}
        with override_settings(LEGACY_API={**settings.LEGACY_API, "BUDGET": budget}):
            client = get_client()
            frame = client.fetch_frame(TABLE, page_size=5, workers=8)
        assert 80 == len(frame)
        assert 1 <= live.stats()["peak_in_flight"] <= 2

    def test_wait_bound_raises_budget_exhausted(self, live: Any) -> None:
        """With the cap held elsewhere, a read raises BudgetExhausted after WAIT, sends nothing."""
        budget = {"MAX_CONCURRENT": 1, "WAIT": 0.2}
        with override_settings(LEGACY_API={**settings.LEGACY_API, "BUDGET": budget}):
            client = get_client()
            store = client.reader.budget.store
            assert isinstance(store, StoreBudget)  # the generic budget over the Django cache
            key = budget_key(Environment("live", live.base_url))
            assert 0.0 == store.take(key, "elsewhere", BudgetLimits(max_concurrent=1))
            with pytest.raises(BudgetExhausted):
                client.fetch_frame(TABLE)
        assert 0 == live.stats()["requests_total"]
