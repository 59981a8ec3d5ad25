"""Child-process workers of the read-cache process tests: real stores, real HTTP."""

from __future__ import annotations

import hashlib
import threading
import traceback
from collections.abc import Callable
from typing import Any

from legacy_api import build_client
from legacy_core.ports import SessionStore

__all__ = ["read_worker", "write_worker"]


def _client(base_url: str, table: str, store: Callable[[], SessionStore]) -> Any:
    config = {"environments": {"live": base_url}, "session_store": "memory", "cache": {table: 600}}
    return build_client(config, store=store())


def digest(records: list[dict[str, Any]]) -> str:
    """A short hash of a read's records: comparable across processes."""
    return hashlib.sha256(repr(records).encode()).hexdigest()[:16]


def read_worker(
    base_url: str,
    table: str,
    store: Callable[[], SessionStore],
    threads: int,
    start: Any,
    results: Any,
) -> None:
    """Read ``table`` once per thread, all threads of all processes released at once."""
    out: list[dict[str, Any]] = []
    try:
        client = _client(base_url, table, store)
        client.tables()  # log in before the barrier ($catalog): the read is all that counts
        lock = threading.Lock()

        def read() -> None:
            try:
                start.wait(timeout=30)
                records = list(client.iter_records(table))
                item = {"digest": digest(records), "rows": len(records)}
            except BaseException as exc:
                item = {"crash": f"{exc!r}\n{traceback.format_exc()}"}
            with lock:
                out.append(item)

        pool = [threading.Thread(target=read) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    except BaseException as exc:
        out.append({"crash": f"{exc!r}\n{traceback.format_exc()}"})
    results.put(out)


def write_worker(
    base_url: str,
    table: str,
    store: Callable[[], SessionStore],
    key: str,
    value: str,
    results: Any,
) -> None:
    """Write one field of ``table`` through a caching client of its own."""
    try:
        _client(base_url, table, store).push_field(table, key, "Bezeichnung", value)
        results.put({"ok": True})
    except BaseException as exc:
        results.put({"crash": f"{exc!r}\n{traceback.format_exc()}"})
