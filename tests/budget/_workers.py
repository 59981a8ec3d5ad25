"""Child-process workers of the budget tests (spawned): real clients, real HTTP, a shared store."""

from __future__ import annotations

import time
import traceback
from typing import Any

from legacy_core.model import Environment

__all__ = ["TABLE", "hold_permits", "read_worker", "row_tuples"]

TABLE = "Artikel_Variante"


def row_tuples(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a read is checked on: key, stamp, number and name of every row, in order."""
    return [(r["__KEY"], r["__STAMP"], r["Nummer"], r["Bezeichnung"]) for r in records]


def _django_with_redis_cache(url: str) -> None:
    """Set up Django in this child with one cache, ``legacy``: Django's RedisCache on ``url``."""
    from django.conf import settings  # noqa: PLC0415

    import django  # noqa: PLC0415

    backend = "django.core.cache.backends.redis.RedisCache"
    settings.configure(CACHES={"legacy": {"BACKEND": backend, "LOCATION": url}}, USE_TZ=True)
    django.setup()


def read_worker(config: dict[str, Any], rounds: int, workers: int, start: Any, out: Any) -> None:
    """Build a client for ``config``, wait at ``start``, read the table ``rounds`` times with
    ``workers`` parallel pages; put the rows of every read (or the crash) on ``out``.

    ``config["django_redis"]`` (a test-only key, taken out) sets Django up first.
    """
    try:
        config = dict(config)
        django_redis = config.pop("django_redis", None)
        if django_redis:
            _django_with_redis_cache(django_redis)
        from legacy_api import build_client  # noqa: PLC0415 - after spawn, in the child

        client = build_client(config)
        start.wait(60)
        reads = []
        for _ in range(rounds):
            frame = client.fetch_frame(TABLE, workers=workers)
            reads.append(row_tuples(frame.to_dict("records")))
        out.put({"reads": reads})
    except BaseException as exc:
        out.put({"crash": f"{exc!r}\n{traceback.format_exc()}"})


def hold_permits(redis_url: str, base_url: str, permits: int, lease: float, ready: Any) -> None:
    """Take ``permits`` permits of live's budget on Redis, report when, then hang until killed."""
    from legacy_adapters.stores import RedisSessionStore, budget_store  # noqa: PLC0415
    from legacy_core._steps import run  # noqa: PLC0415
    from legacy_core.budget import BudgetLimits, RequestBudget  # noqa: PLC0415
    from legacy_core.clock import SystemClock  # noqa: PLC0415

    limits = BudgetLimits(max_concurrent=permits, lease=lease)
    budget = RequestBudget(budget_store(RedisSessionStore(redis_url)), {"live": limits}, wait=5)
    env = Environment("live", base_url)
    before = time.monotonic()
    tokens = [run(budget.acquire_steps(env), SystemClock()) for _ in range(permits)]
    ready.put({"before": before, "tokens": len([t for t in tokens if t])})
    time.sleep(120)
