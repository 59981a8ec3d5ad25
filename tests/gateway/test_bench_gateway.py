"""The gateway benchmark runs end to end in a second and its cached row spares 4D."""

from __future__ import annotations

import pytest

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)
pytest.importorskip("gunicorn")


def test_tiny_run_reports_cached_and_uncached() -> None:
    """A tiny run measures both rows; the cached one asks 4D far less than the uncached one."""
    from benchmarks import bench_gateway  # noqa: PLC0415

    figures = bench_gateway.measure(clients=2, seconds=0.5, rows=200)
    cached, uncached = figures["cached"], figures["uncached"]
    assert cached["requests"] > 0
    assert uncached["requests"] > 0
    assert uncached["fourd_requests"] >= uncached["requests"]  # one entity set per list
    assert cached["fourd_requests"] <= 1  # served from the cache warmed before the run
    assert figures["sessions"] == 2  # one per environment (live and test), for 4 workers
