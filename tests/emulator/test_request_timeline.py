"""The emulator's request timeline: one entry per REST request's arrival, with its overlap."""

from __future__ import annotations

import threading
import time

import requests

from fourd_emulator import EmulatorServer


def test_each_rest_request_is_one_arrival(server: EmulatorServer) -> None:
    """Three REST requests give three arrivals in time order; admin calls are not counted."""
    server.reset()
    before = time.monotonic()
    for _ in range(3):
        requests.get(f"{server.base_url}/rest/$catalog", timeout=5)
    requests.get(f"{server.base_url}/_emulator/stats", timeout=5)
    timeline = server.request_timeline()
    assert 3 == len(timeline)
    times = [t for t, _ in timeline]
    assert times == sorted(times)
    assert before <= times[0] <= times[-1] <= time.monotonic()
    assert [1, 1, 1] == [n for _, n in timeline]
    over_http = requests.get(f"{server.base_url}/_emulator/requests/timeline", timeout=5).json()
    assert [list(entry) for entry in timeline] == over_http


def test_overlapping_requests_show_their_count(server: EmulatorServer) -> None:
    """Four requests held 100 ms each, sent at once, arrive while others are in flight."""
    server.reset()
    server.set_faults(latency_ms=100)
    threads = [
        threading.Thread(
            target=requests.get, args=(f"{server.base_url}/rest/$catalog",), kwargs={"timeout": 5}
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = [n for _, n in server.request_timeline()]
    assert 4 == len(counts)
    assert max(counts) >= 2
    assert max(counts) == server.stats()["peak_in_flight"]
    server.reset()
    assert [] == server.request_timeline()
