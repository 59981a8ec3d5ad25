"""The emulator's WSGI application: it composes the collaborators and routes each request.

A request passes the concurrency limit, the injected faults (``FaultDice``), the session
gate (``_gate.py``), then goes to the reads (``_reads.py``) or the writes (``_writes.py``);
``/_emulator/`` goes to the control surface (``_control.py``). All of them share one
``State`` (``_state.py``) and its locks; answers are shaped in ``_envelopes.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import attrs

from fourd_emulator._config import EmulatorConfig
from fourd_emulator._control import CATALOG_TYPES, UNSET, Control, admin
from fourd_emulator._errors import (
    INVALID_PARAMETER,
    FourDError,
    entry,
)
from fourd_emulator._gate import SessionGate
from fourd_emulator._http import (
    ENTITY_PATH,
    FAULT_KEY,
    SOCKET_KEY,
    Request,
    Response,
    StartResponse,
    error,
    unauthorized,
    unknown_table,
)
from fourd_emulator._log import get_logger
from fourd_emulator._reads import Reads
from fourd_emulator._sessions import TIMELINE_CAP
from fourd_emulator._state import State
from fourd_emulator._stats import route_label
from fourd_emulator._writes import Writes

# Re-exported: these names were defined here and stay importable from here.
__all__ = ["CATALOG_TYPES", "FAULT_KEY", "SOCKET_KEY", "TIMELINE_CAP", "Emulator", "Response"]

log = get_logger()


class Emulator:
    """A 4D REST server stand-in as a WSGI application: ``emu(environ, start_response)``."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        # TIMELINE_CAP is read here and at each reset (tests shrink it): from this module.
        self._state = State(self.config, TIMELINE_CAP)
        self.db = self._state.db
        self._control = Control(self._state)
        self._gate = SessionGate(self._state)
        self._reads = Reads(self._state)
        self._writes = Writes(self._state)
        if self.config.pregenerate:
            self.warm()

    def now(self) -> float:
        """Return the emulator's wall clock (real time plus what ``advance_clock`` added)."""
        return self._state.now()

    # -- public control API ------------------------------------------------------

    def add_table(
        self,
        name: str,
        attributes: Mapping[str, str],
        rows: Sequence[Mapping[str, Any]],
        key: str = "__KEY",
    ) -> None:
        """Serve an extra table (or replace a seeded one) until the next :meth:`reset`.

        ``attributes`` maps attribute names to 4D catalog types (``__KEY``, ``__STAMP`` and
        ``__TIMESTAMP`` may be listed and are ignored); ``rows`` are wire-format records.
        ``key`` names the attribute the ``__KEY`` comes from when rows carry no ``__KEY``.
        Rows without ``__STAMP``/``__TIMESTAMP`` get 1 and the current time.
        """
        self._control.add_table(name, attributes, rows, key)

    def stats(self) -> dict[str, Any]:
        """Counters as ``GET /_emulator/stats`` returns them."""
        return self._control.stats()

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
        return self._control.set_faults(
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            error_503_rate=error_503_rate,
            reset_rate=reset_rate,
            truncate_rate=truncate_rate,
            licences=licences,
            seed=seed,
        )

    def expire_sessions(self, session_id: str | None = None) -> int:
        """End one session (by its cookie value) or all; return how many ended."""
        return self._control.expire_sessions(session_id)

    def reset_peak(self) -> int:
        """Set the peak to the live sessions now and start a new timeline; return the peak."""
        return self._control.reset_peak()

    def licence_timeline(self) -> list[tuple[float, int]]:
        """``(t, active)`` after every change of the live sessions since the last reset."""
        return self._control.licence_timeline()

    def request_timeline(self) -> list[tuple[float, int]]:
        """``(t, in_flight)`` at each REST request's arrival, the newest 200,000 since reset.

        ``t`` is this host's monotonic seconds: request rates and overlaps are read off it.
        """
        return self._control.request_timeline()

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's clock forward (sessions and entity sets age); return the offset."""
        return self._control.advance_clock(seconds)

    def audit(self) -> list[dict[str, Any]]:
        """Every applied write, in order."""
        return self._control.audit()

    def warm(self) -> None:
        """Generate every table's rows now, so first reads cost no generation."""
        for table in self.db.tables.values():
            table.generate_all()

    def reset(self) -> None:
        """Forget sessions, entity sets, faults, stats, audit and clock; restore the seed data."""
        with self._state.write_lock, self._state.lock:
            self._state.reset(TIMELINE_CAP)
        if self.config.pregenerate:
            self.warm()

    # -- WSGI --------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        resp = self.handle(environ)
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(resp.body))),
            *resp.headers,
        ]
        start_response(resp.status_line, headers)
        return [resp.body]

    def handle(self, environ: dict[str, Any]) -> Response:
        """Answer one request (also used by the built-in server)."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "") or "/")
        query = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        if path.startswith("/_emulator/"):
            return admin(self, method, path[len("/_emulator/") :], environ)
        if path != "/rest" and not path.startswith("/rest/"):
            return error(404, [entry(None, f"Not found: {path}", "http")])
        req = Request(method, path[len("/rest/") :], query, environ)
        label = route_label(req)
        limit = self.config.max_concurrent_requests
        with self._state.lock:
            busy = limit is not None and self._state.inflight >= limit
            if not busy:
                self._state.inflight += 1
                self._state.stats.in_flight(self._state.inflight)
        if busy:
            resp = error(503, [entry(None, "Server busy: too many concurrent requests", "http")])
        else:
            try:
                resp = self._serve_rest(req, environ)
            except FourDError as exc:
                resp = error(exc.status, exc.entries)
            except Exception as exc:
                # A bug of the emulator must still answer like a server, not drop the socket.
                log.exception("legacy_api.emulator.internal_error", path=req.path)
                msg = f"Internal error of the emulator: {type(exc).__name__}: {exc}"
                resp = error(500, [entry(None, msg, "emulator")])
            finally:
                with self._state.lock:
                    self._state.inflight -= 1
        request_id = environ.get("HTTP_X_REQUEST_ID")
        if request_id:
            resp = attrs.evolve(resp, headers=(*resp.headers, ("X-Request-ID", str(request_id))))
        with self._state.lock:
            self._state.stats.request(label, resp.status)
        return resp

    def _serve_rest(self, req: Request, environ: dict[str, Any]) -> Response:
        fault, delay = self._roll_faults()
        faulted = self._fault_answer(fault, delay, environ)
        if faulted is not None:
            return faulted
        value, refused = self._gate.cookie(req)
        if refused is not None:
            return refused
        if req.path.rstrip("/") == "$directory/logout":
            # Handled before any session lookup: a logout never opens a session.
            return self._gate.logout(req, value, delay)
        session, cookie, refused = self._gate.admit(req, value)
        if refused is not None:
            return refused
        req.session = session
        if self.config.serialize_sessions and session is not None:
            # Legacy 4D sessions run one request at a time: the latency counts inside.
            with session.lock:
                time.sleep(delay)
                resp = self._dispatch(req)
        else:
            time.sleep(delay)
            resp = self._dispatch(req)
        if cookie is not None and session is not None:
            resp = self._gate.set_cookie(resp, session, cookie)
        if fault == "truncate":
            environ[FAULT_KEY] = "truncate"
        return resp

    # -- faults ------------------------------------------------------------------

    def _fault_answer(
        self, fault: str | None, delay: float, environ: dict[str, Any]
    ) -> Response | None:
        """The answer of a 503 or reset fault (None: serve the request)."""
        if fault not in {"503", "reset"}:
            return None
        time.sleep(delay)
        if fault == "503":
            return error(503, [entry(None, "Server busy: too many concurrent requests", "http")])
        environ[FAULT_KEY] = "reset"
        if SOCKET_KEY not in environ:
            return error(500, [entry(None, "connection reset (emulated)", "http")])
        return Response(200, b"")

    def _roll_faults(self) -> tuple[str | None, float]:
        with self._state.lock:
            outcome, delay = self._state.dice.roll()
            if delay > 0:
                self._state.stats.fault("latency")
            if outcome is not None:
                self._state.stats.fault(outcome)
        return outcome, delay / 1000.0

    # -- routing -----------------------------------------------------------------

    def _dispatch(self, req: Request) -> Response:  # noqa: PLR0911, PLR0912 - the router
        p = req.path.rstrip("/") if req.path != "" else ""
        s = req.session
        if p == "$info":
            return self._reads.info()
        if p.startswith("$directory/"):
            return self._gate.directory(req, p[len("$directory/") :])
        if self.config.require_login and (s is None or not s.authenticated):
            return unauthorized()
        if p == "$catalog" or p.startswith("$catalog/"):
            return self._reads.catalog(p[len("$catalog") :].lstrip("/"))
        if p.startswith("$"):
            return error(404, [entry(None, f"Unknown resource {p}", "dbmg")])
        m = ENTITY_PATH.match(req.path)
        if m is None:
            raise unknown_table(req.path)
        table = self._reads.table(m.group("table"))
        rest = (m.group("rest") or "").strip("/")
        key = m.group("pkey") if m.group("pkey") is not None else m.group("bkey")
        if key is not None:
            if req.method == "POST" and req.query.get("$method") == "delete" and not rest:
                return self._writes.delete(req, table, key.strip().strip("\"'"))
            if req.method != "GET":
                return error(
                    405, [entry(None, f"{req.method} is not supported on an entity", "http")]
                )
            return self._reads.entity(req, table, key.strip().strip("\"'"), rest)
        if rest.startswith("$entityset/"):
            if req.method != "GET":
                # Deleting an entity set's entities ($method=delete) is not emulated.
                msg = f"{req.method} on an entity set is not supported by the emulator"
                return error(500, [entry(INVALID_PARAMETER, msg, "dbrq")])
            return self._reads.entity_set(req, table, rest[len("$entityset/") :].split("/")[0])
        if req.method == "POST":
            if req.query.get("$method") != "update":
                method = req.query.get("$method", "")
                return error(
                    500,
                    [entry(INVALID_PARAMETER, f"Unsupported $method {method!r} for POST", "dbrq")],
                )
            return self._writes.update(req, table)
        if req.method != "GET":
            return error(405, [entry(None, f"{req.method} is not supported", "http")])
        return self._reads.collection(req, table, rest)
