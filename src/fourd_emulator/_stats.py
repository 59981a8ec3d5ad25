"""The emulator's counters (``GET /_emulator/stats``) and the route label a request counts under.

Not thread-safe by itself: the emulator counts under its lock.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Literal

import orjson

from fourd_emulator._http import ENTITY_PATH, Request

__all__ = ["Counter", "Counters", "route_label"]

Counter = Literal[
    "sessions_created",
    "sessions_logged_out",
    "logins",
    "login_failures",
    "licences_refused",
    "writes_applied",
    "entities_created",
    "entities_deleted",
    "stamp_conflicts",
    "entity_sets_created",
    "rows_sent",
]
"""The plain counters; requests and faults are counted by :meth:`Counters.request`/``fault``."""


class Counters:
    """What the emulator counted since the last reset, in the order the stats list it."""

    def __init__(self, timeline_cap: int = 200_000) -> None:
        self.arrivals: deque[tuple[float, int]] = deque(maxlen=timeline_cap)
        """``(monotonic t, in flight)`` at each REST request's arrival, the newest kept."""
        self._values: dict[str, Any] = {
            "sessions_created": 0,
            "sessions_logged_out": 0,
            "logins": 0,
            "login_failures": 0,
            "licences_refused": 0,
            "writes_applied": 0,
            "entities_created": 0,
            "entities_deleted": 0,
            "stamp_conflicts": 0,
            "entity_sets_created": 0,
            "rows_sent": 0,
            "requests_total": 0,
            "peak_in_flight": 0,
            "requests": {},
            "faults": {"latency": 0, "503": 0, "reset": 0, "truncate": 0},
        }

    def add(self, name: Counter, n: int = 1) -> None:
        """Count ``n`` more of ``name``."""
        self._values[name] += n

    def in_flight(self, n: int) -> None:
        """Note that a request arrived and ``n`` are being served at once (keeps the peak)."""
        self._values["peak_in_flight"] = max(self._values["peak_in_flight"], n)
        self.arrivals.append((time.monotonic(), n))

    def fault(self, kind: str) -> None:
        """Count an injected fault: ``latency``, ``503``, ``reset`` or ``truncate``."""
        self._values["faults"][kind] += 1

    def request(self, label: str, status: int) -> None:
        """Count one answered request by its route label and HTTP status."""
        self._values["requests_total"] += 1
        by_status = self._values["requests"].setdefault(label, {})
        key = str(status)
        by_status[key] = by_status.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        """A deep copy of the counters, as JSON."""
        out: dict[str, Any] = orjson.loads(orjson.dumps(self._values))
        return out


def route_label(req: Request) -> str:  # noqa: PLR0911 - one label per route
    """The route ``req`` counts under: ``GET /rest/{table}({key})``, ``POST /rest/{table}?...``."""
    p = req.path
    if p.startswith("$"):
        head = p.split("/", 1)[0]
        if head == "$directory":
            return f"{req.method} /rest/{p}"
        if head == "$catalog" and p != "$catalog":
            return f"{req.method} /rest/$catalog/{{table}}"
        return f"{req.method} /rest/{head}"
    m = ENTITY_PATH.match(p)
    if m is None:
        return f"{req.method} /rest/?"
    rest = m.group("rest") or ""
    if m.group("pkey") is not None or m.group("bkey") is not None:
        suffix = "?$method=delete" if req.query.get("$method") == "delete" else ""
        return f"{req.method} /rest/{{table}}({{key}}){suffix}"
    if rest.startswith("$entityset/"):
        suffix = "?$method=release" if req.query.get("$method") == "release" else ""
        return f"{req.method} /rest/{{table}}/$entityset/{{id}}{suffix}"
    method = req.query.get("$method")
    suffix = f"?$method={method}" if method else ""
    return f"{req.method} /rest/{{table}}{suffix}"
