"""The emulator's control surface: the ``/_emulator/`` endpoints, custom tables, faults, stats.

What tests, benchmarks and the demo drive besides the REST API. ``Emulator``'s public
control methods delegate to :class:`Control`; the endpoints call those methods.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from fourd_emulator._config import Faults
from fourd_emulator._errors import entry
from fourd_emulator._faults import FaultDice
from fourd_emulator._http import Response, content_length, error, json_answer
from fourd_emulator._log import get_logger
from fourd_emulator._schema import AttributeSpec, GenContext, TableSpec
from fourd_emulator._state import State
from fourd_emulator._store import Table, assemble, compact
from fourd_emulator._values import iso_ms

if TYPE_CHECKING:
    from fourd_emulator._app import Emulator

__all__ = ["CATALOG_TYPES", "UNSET", "Control", "admin"]

log = get_logger()

UNSET: Any = object()
"""``set_faults(licences=...)`` not given: the configured cap stays in force."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MANAGED = frozenset({"__KEY", "__STAMP", "__TIMESTAMP"})
CATALOG_TYPES = frozenset(
    {"bool", "blob", "byte", "date", "duration", "image", "long", "long64", "number"}
    | {"string", "uuid", "word", "object"}
)


def _no_generator(_ctx: GenContext, _index: int, _rng: random.Random) -> dict[str, Any]:
    msg = "tables added with add_table have no generated rows"
    raise AssertionError(msg)


class Control:
    """The control operations on the shared state, each under the state's lock(s)."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._config = state.config
        self._db = state.db

    def add_table(
        self,
        name: str,
        attributes: Mapping[str, str],
        rows: Sequence[Mapping[str, Any]],
        key: str,
    ) -> None:
        """Validate and encode the rows of ``name``, then serve it (see ``Emulator.add_table``)."""
        if not _IDENTIFIER.match(name):
            msg = f"invalid table name {name!r}"
            raise ValueError(msg)
        specs: list[AttributeSpec] = []
        for attr, type_ in attributes.items():
            if attr in _MANAGED:
                continue
            if type_ not in CATALOG_TYPES or not _IDENTIFIER.match(attr):
                msg = f"table {name}: attribute {attr!r} has unknown 4D type {type_!r}"
                raise ValueError(msg)
            specs.append(AttributeSpec(attr, type_, simple_date=type_ == "date"))
        # The catalog's key names the primary-key attribute; without one, __KEY stands in.
        pk = key if any(a.name == key for a in specs) else "__KEY"
        spec = TableSpec(name, tuple(specs), size=lambda _rows: 0, generate=_no_generator, key=pk)
        now = iso_ms(self._state.now())
        known = {a.name for a in specs} | _MANAGED
        encoded: list[bytes] = []
        keys: list[str] = []
        for n, row in enumerate(rows):
            raw_key = row.get("__KEY", row.get(key))
            unknown = sorted(set(row) - known)
            if raw_key is None or unknown:
                what = f"attributes not in the catalog: {unknown}" if unknown else "no key"
                msg = f"table {name}: row {n} has {what}"
                raise ValueError(msg)
            keys.append(str(raw_key))
            values = {a.name: row.get(a.name) for a in specs}
            stamp = int(row.get("__STAMP") or 1)
            record = assemble(spec, keys[-1], str(row.get("__TIMESTAMP") or now), stamp, values)
            encoded.append(compact(orjson.dumps(record)))
        if len(set(keys)) != len(keys):
            msg = f"table {name}: duplicate keys"
            raise ValueError(msg)
        with self._state.write_lock, self._state.lock:
            table_id = 1000 + len(self._db.custom)
            self._db.add(Table(spec, self._db.ctx, table_id, rows=encoded, keys=keys))

    def stats(self) -> dict[str, Any]:
        """Counters as ``GET /_emulator/stats`` returns them."""
        with self._state.lock:
            self._state.purge(full=True)
            out = self._state.stats.as_dict()
            out["active_sessions"] = len(self._state.sessions)
            out["active_sessions_peak"] = self._state.sessions.peak
            out["authenticated_sessions"] = sum(s.authenticated for s in self._state.sessions)
            out["active_entity_sets"] = len(self._state.entity_sets)
            out["licences"] = self._state.licence_cap()
            out["clock_offset"] = self._state.clock_offset
            out["faults_config"] = self._state.dice.faults.as_dict()
            out["materialized_rows"] = {
                name: t.materialized_rows() for name, t in self._db.tables.items()
            }
        return dict(out)

    def set_faults(
        self,
        *,
        latency_ms: float = 0.0,
        latency_jitter_ms: float = 0.0,
        error_503_rate: float = 0.0,
        reset_rate: float = 0.0,
        truncate_rate: float = 0.0,
        licences: int | None = UNSET,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Replace all fault settings (unnamed ones go back to none) and reseed their RNG.

        ``licences`` overrides the configured cap while given (None: unlimited).
        """
        faults = Faults(
            latency_ms=float(latency_ms),
            latency_jitter_ms=float(latency_jitter_ms),
            error_503_rate=float(error_503_rate),
            reset_rate=float(reset_rate),
            truncate_rate=float(truncate_rate),
            licences=None if licences is UNSET else licences,
            licences_override=licences is not UNSET,
            seed=self._config.seed if seed is None else int(seed),
        )
        with self._state.lock:
            self._state.dice = FaultDice(faults)
        log.info("legacy_api.emulator.faults", **faults.as_dict())
        return faults.as_dict()

    def expire_sessions(self, session_id: str | None = None) -> int:
        """End one session (by its cookie value) or all; return how many ended."""
        with self._state.lock:
            return self._state.sessions.kill(session_id)

    def reset_peak(self) -> int:
        """Set the peak to the live sessions now and start a new timeline; return the peak."""
        with self._state.lock:
            return self._state.sessions.reset_peak()

    def licence_timeline(self) -> list[tuple[float, int]]:
        """``(t, active)`` after every change of the live sessions since the last reset."""
        with self._state.lock:
            self._state.sessions.purge(full=True)
            return list(self._state.sessions.timeline)

    def request_timeline(self) -> list[tuple[float, int]]:
        """``(t, in_flight)`` at each REST request's arrival since the last reset."""
        with self._state.lock:
            return list(self._state.stats.arrivals)

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's clock forward (sessions and entity sets age); return the offset."""
        with self._state.lock:
            self._state.clock_offset += max(float(seconds), 0.0)
            return self._state.clock_offset

    def audit(self) -> list[dict[str, Any]]:
        """Every applied write, in order."""
        with self._state.lock:
            return [dict(a) for a in self._state.audit]


def admin(  # noqa: PLR0911, PLR0912 - one return per admin endpoint
    emulator: Emulator, method: str, what: str, environ: Mapping[str, Any]
) -> Response:
    """Answer ``{method} /_emulator/{what}`` through the emulator's public control methods."""
    what = what.strip("/")
    body: dict[str, Any] = {}
    if method == "POST":
        length = content_length(environ)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            parsed = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            return error(400, [entry(None, "admin bodies are JSON objects", "emulator")])
        body = parsed
    try:
        if (method, what) == ("GET", "stats"):
            return json_answer(200, emulator.stats())
        if (method, what) == ("GET", "audit"):
            return json_answer(200, emulator.audit())
        if (method, what) == ("POST", "faults"):
            return json_answer(200, emulator.set_faults(**body))
        if (method, what) == ("POST", "stats/reset-peak"):
            return json_answer(200, {"active_sessions_peak": emulator.reset_peak()})
        if (method, what) == ("GET", "sessions/timeline"):
            return json_answer(200, emulator.licence_timeline())
        if (method, what) == ("GET", "requests/timeline"):
            return json_answer(200, emulator.request_timeline())
        if (method, what) == ("POST", "sessions/expire"):
            return json_answer(200, {"expired": emulator.expire_sessions(body.get("session_id"))})
        if (method, what) == ("POST", "clock"):
            return json_answer(
                200, {"offset": emulator.advance_clock(float(body.get("seconds", 0)))}
            )
        if (method, what) == ("POST", "reset"):
            emulator.reset()
            return json_answer(200, {"ok": True})
    except (TypeError, ValueError) as exc:
        return error(400, [entry(None, f"bad admin request: {exc}", "emulator")])
    return error(404, [entry(None, f"unknown admin endpoint {method} {what}", "emulator")])
