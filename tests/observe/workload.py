"""A client workload against the emulator that touches every metric family (also run as a script).

``python -m tests.observe.workload URL [LICENCE_URL]`` runs it in a process of its own
(the multiprocess and Prometheus tests); the in-process tests call :func:`run`.
"""

from __future__ import annotations

import sys
from typing import Any

import requests

from legacy_adapters.bootstrap import build_client
from legacy_core.errors import LegacyError, LicenceExhausted, RecordNotFound, StampConflict
from legacy_core.model import FieldUpdate
from legacy_core.resilience import CircuitBreaker, RetryPolicy

TABLE = "Artikel_Variante"


def client_for(url: str, env: str = "live", **overrides: Any) -> Any:
    """A client on ``url`` (as ``env``) with quick retries (the emulator's faults are brief)."""
    return build_client(
        {"environments": {env: url}, "default_environment": env, "session_store": "memory"},
        retry=RetryPolicy(attempts=8, base=0.001, cap=0.005),
        breakers=lambda name: CircuitBreaker(name=name, failure_threshold=3, reset_timeout=60),
        **overrides,
    )


def run(url: str, licence_url: str | None = None, *, emulator: Any = None) -> dict[str, int]:
    """Reads (paged, snapshot, with 503s retried), a missing record, a write and a stale one.

    With ``licence_url`` (an emulator with no licence free, environment ``test``) one call
    gets a 402, which opens that breaker. Returns what the workload did, for the assertions.
    """
    client = client_for(url, page_size=100)
    frame = client.fetch_frame(TABLE, limit=450)
    done = {"rows": len(frame)}
    if emulator is not None:
        emulator.set_faults(error_503_rate=0.5, seed=3)
    client.fetch_frame(TABLE, limit=200, consistent=False)
    if emulator is not None:
        emulator.set_faults()
    try:
        client.get_record(TABLE, 99_999_999)
    except RecordNotFound:
        done["not_found"] = 1
    keys = [str(k) for k in frame["__KEY"].iloc[:30]]
    written = client.update_many(FieldUpdate(TABLE, k, {"Bezeichnung": "x"}) for k in keys)
    done["written"] = len(written)
    record = frame.iloc[0]
    stamp = int(record["__STAMP"])  # stale now: the batch above changed it
    try:
        client.push_field(TABLE, record["__KEY"], "Bezeichnung", "y", expected_stamp=stamp)
    except StampConflict:
        done["stamp_conflict"] = 1
    if licence_url is not None:
        refused = client_for(licence_url, "test")
        for _ in range(2):  # the second call fails fast on the open breaker
            try:
                refused.count(TABLE)
            except LicenceExhausted:
                done["licence"] = done.get("licence", 0) + 1
            except LegacyError:
                done["fast_fail"] = done.get("fast_fail", 0) + 1
    return done


class RemoteFaults:
    """The emulator's fault switch over its admin endpoint (for a workload in another process)."""

    def __init__(self, url: str) -> None:
        """Control the emulator at ``url``."""
        self.url = url

    def set_faults(self, **faults: Any) -> None:
        """``POST /_emulator/faults``."""
        requests.post(self.url + "/_emulator/faults", json=faults, timeout=10).raise_for_status()


if __name__ == "__main__":
    live = sys.argv[1]
    print(run(live, sys.argv[2] if len(sys.argv) > 2 else None, emulator=RemoteFaults(live)))
