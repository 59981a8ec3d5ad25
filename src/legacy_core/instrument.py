"""The instrumentation port: one hook the client calls, so metrics and tracing plug in once.

Pure core (ADR 0021). The client reports a handful of events here — a client call
(``client_call``, a context manager around the retried call), one HTTP exchange with 4D
(``http``), a session counter (``session_event``), a breaker transition
(``breaker_transition``) and a retry (``retry``). What listens is an
:class:`Instrumentation` installed process-wide with :func:`install`; several are fanned
out in installation order. With none installed every hook returns at once (one global
read), so the client pays nothing when observability is off.

The request id of the work being done (an incoming HTTP request's ``X-Request-ID``) is a
contextvar here too (:func:`request_scope`), so the adapters can send it to 4D and stamp
it on logs and errors without the core knowing about HTTP.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from legacy_core._log import get_logger

__all__ = [
    "Call",
    "FanOut",
    "HttpEvent",
    "Instrumentation",
    "NoInstrumentation",
    "breaker_transition",
    "client_call",
    "current",
    "current_call",
    "current_request_id",
    "http",
    "install",
    "installed",
    "parse_describe",
    "request_scope",
    "retry",
    "session_event",
    "sync_conflict",
    "uninstall",
]

_log = get_logger()

T = TypeVar("T")
P = TypeVar("P", bound="Instrumentation")

# -- the request id of the work in progress ----------------------------------------------

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "legacy_api_request_id", default=None
)


def current_request_id() -> str | None:
    """The request id bound by :func:`request_scope` in this context, if any."""
    return _request_id.get()


@attrs.define(eq=False)
class Call:
    """One client call (a read, a write, a snapshot open ...), filled in as it runs.

    ``verb`` and ``table`` come from the call's description (``"read ART"``); ``outcome``
    is ``"ok"`` or the error's class name (a bounded set: the library's error types).
    """

    environment: str
    verb: str
    table: str | None
    started: float = attrs.field(factory=time.perf_counter)
    outcome: str = "ok"
    error: BaseException | None = None
    elapsed: float | None = None
    rows: int | None = None
    """Rows a read returned (a page's records)."""
    entities: int | None = None
    """Entities a write saved."""
    stamp_conflicts: int = 0
    """Items refused because their stamp was stale (a StampConflict or inside a PartialWrite)."""
    request_id: str | None = attrs.field(factory=current_request_id)

    def done(self, result: T) -> T:
        """Note what ``result`` holds (rows read, entities saved) and return it unchanged."""
        records = getattr(result, "records", None)
        if isinstance(records, list):
            self.rows = len(records)
        elif isinstance(result, list) and self.verb in _WRITE_VERBS:
            self.entities = len(result)
        elif self.verb == "create" and hasattr(result, "stamp"):  # one WriteResult
            self.entities = 1
        return result

    def fail(self, error: BaseException) -> None:
        """Note that the call raised ``error``."""
        self.error = error
        self.outcome = type(error).__name__
        if self.outcome == "StampConflict":
            self.stamp_conflicts = 1
        for outcome in getattr(error, "outcomes", ()) or ():  # a PartialWrite's items
            if type(getattr(outcome, "error", None)).__name__ == "StampConflict":
                self.stamp_conflicts += 1
        saved = [o for o in getattr(error, "outcomes", ()) or () if o.status == "saved"]
        if saved:
            self.entities = len(saved)


_WRITE_VERBS = frozenset({"write", "create"})
"""Client-call verbs that save entities (their results are the saved entities)."""


@attrs.frozen
class HttpEvent:
    """One request to 4D and what came of it (``status`` None: no answer arrived)."""

    environment: str
    method: str
    path: str
    table: str | None
    status: int | None
    elapsed: float | None
    request_id: str | None
    error: str | None = None
    """The error class the answer became, if any."""
    response_bytes: int | None = None


@runtime_checkable
class Instrumentation(Protocol):
    """What a metrics, tracing or logging plug-in implements (every method may be a no-op)."""

    def client_call(self, call: Call) -> AbstractContextManager[None]:
        """Wrap one client call; ``call`` carries its outcome when the block exits."""
        ...

    def http(self, event: HttpEvent) -> None:
        """One HTTP exchange with 4D ended (answered or not)."""
        ...

    def session_event(self, environment: str, name: str) -> None:
        """The session provider counted ``name`` (``logins``, ``adopted``, ...)."""
        ...

    def breaker_transition(self, environment: str, state: str) -> None:
        """The breaker of ``environment`` moved to ``state`` (closed, open, half-open)."""
        ...

    def retry(self, environment: str, verb: str, table: str | None, reason: str) -> None:
        """A call is retried after an error of class ``reason``."""
        ...

    def budget_event(self, environment: str, name: str) -> None:
        """The request budget of ``environment`` counted ``name`` (``waits``, ``exhausted``)."""
        ...

    def cache_event(self, environment: str, table: str, name: str) -> None:
        """The read cache counted ``name`` (``hits``, ``misses``, ``stored``... ADR 0030)."""
        ...


class NoInstrumentation:
    """The no-op :class:`Instrumentation`: a base class implementations extend."""

    def client_call(self, call: Call) -> AbstractContextManager[None]:
        """Nothing to wrap."""
        return contextlib.nullcontext()

    def http(self, event: HttpEvent) -> None:
        """Ignore the exchange."""

    def session_event(self, environment: str, name: str) -> None:
        """Ignore the counter."""

    def breaker_transition(self, environment: str, state: str) -> None:
        """Ignore the transition."""

    def retry(self, environment: str, verb: str, table: str | None, reason: str) -> None:
        """Ignore the retry."""

    def budget_event(self, environment: str, name: str) -> None:
        """Ignore the budget event."""

    def cache_event(self, environment: str, table: str, name: str) -> None:
        """Ignore the cache event."""

    def sync_conflict(self, table: str, policy: str, decision: str) -> None:
        """Ignore the write-back conflict decision."""


@attrs.frozen
class FanOut(NoInstrumentation):
    """Several instrumentations as one; one failing never breaks the call or the others."""

    parts: Sequence[Instrumentation]

    @contextlib.contextmanager
    def client_call(self, call: Call) -> Iterator[None]:
        """Enter every part's wrapper in order, leave them in reverse."""
        with contextlib.ExitStack() as stack:
            for part in self.parts:
                with _guarded(part, "client_call"):
                    stack.enter_context(part.client_call(call))
            yield

    def http(self, event: HttpEvent) -> None:
        """Tell every part."""
        for part in self.parts:
            with _guarded(part, "http"):
                part.http(event)

    def session_event(self, environment: str, name: str) -> None:
        """Tell every part."""
        for part in self.parts:
            with _guarded(part, "session_event"):
                part.session_event(environment, name)

    def breaker_transition(self, environment: str, state: str) -> None:
        """Tell every part."""
        for part in self.parts:
            with _guarded(part, "breaker_transition"):
                part.breaker_transition(environment, state)

    def retry(self, environment: str, verb: str, table: str | None, reason: str) -> None:
        """Tell every part."""
        for part in self.parts:
            with _guarded(part, "retry"):
                part.retry(environment, verb, table, reason)

    def budget_event(self, environment: str, name: str) -> None:
        """Tell every part that has the hook (older plug-ins may lack it)."""
        for part in self.parts:
            hook = getattr(part, "budget_event", None)
            if hook is not None:
                with _guarded(part, "budget_event"):
                    hook(environment, name)

    def cache_event(self, environment: str, table: str, name: str) -> None:
        """Tell every part that has the hook (older plug-ins may lack it)."""
        for part in self.parts:
            hook = getattr(part, "cache_event", None)
            if hook is not None:
                with _guarded(part, "cache_event"):
                    hook(environment, table, name)

    def sync_conflict(self, table: str, policy: str, decision: str) -> None:
        """Tell every part that has the hook (older plug-ins may lack it)."""
        for part in self.parts:
            hook = getattr(part, "sync_conflict", None)
            if hook is not None:
                with _guarded(part, "sync_conflict"):
                    hook(table, policy, decision)


@contextlib.contextmanager
def _guarded(part: object, hook: str) -> Iterator[None]:
    # Observability must never turn a good call into a failed one.
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any plug-in bug is logged, not raised
        _log.warning(
            "legacy_api.instrument.failed",
            instrumentation=type(part).__name__,
            hook=hook,
            error=f"{type(exc).__name__}: {exc}",
        )


# -- the process-wide registry ------------------------------------------------------------

_lock = threading.Lock()
_parts: tuple[Instrumentation, ...] = ()
_active: Instrumentation | None = None
"""None when nothing is installed: the hooks' fast path."""


def install(instrumentation: P) -> P:
    """Add ``instrumentation`` to the process's fan-out (installing it twice is a no-op)."""
    global _parts, _active  # noqa: PLW0603 - the one process-wide registry
    with _lock:
        if instrumentation not in _parts:
            _parts = (*_parts, instrumentation)
            _active = _parts[0] if len(_parts) == 1 else FanOut(_parts)
    return instrumentation


def uninstall(instrumentation: Instrumentation) -> None:
    """Remove ``instrumentation`` (absent: nothing happens)."""
    global _parts, _active  # noqa: PLW0603
    with _lock:
        _parts = tuple(p for p in _parts if p is not instrumentation)
        _active = None if not _parts else _parts[0] if len(_parts) == 1 else FanOut(_parts)


def installed() -> tuple[Instrumentation, ...]:
    """The installed instrumentations, in order."""
    return _parts


def current() -> Instrumentation:
    """The active instrumentation (a no-op one when nothing is installed)."""
    return _active if _active is not None else _NOOP


_NOOP = NoInstrumentation()

# -- hooks the client calls -----------------------------------------------------------------

_call_var: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "legacy_api_call", default=None
)


class _NullCall:
    """What ``client_call`` yields when nothing listens: ``done`` only passes results on."""

    __slots__ = ()

    @staticmethod
    def done(result: T) -> T:
        return result


class _NullScope:
    __slots__ = ()

    def __enter__(self) -> _NullCall:
        return _NULL_CALL

    def __exit__(self, *_: object) -> None:
        return None


_NULL_CALL = _NullCall()
_NULL_SCOPE = _NullScope()


def parse_describe(describe: str) -> tuple[str, str | None]:
    """Split a call description into (verb, table): ``"open snapshot of ART"`` → both parts."""
    verb, _, table = describe.rpartition(" ")
    if not verb:
        return describe, None
    if verb == "list":  # "list tables"
        return describe, None
    return verb.removesuffix(" of"), table


def client_call(environment: str, describe: str) -> AbstractContextManager[Call | _NullCall]:
    """Wrap one client call described as in the retry notes (``"read ART"``, ``"write ART"``)."""
    active = _active
    if active is None:
        return _NULL_SCOPE
    verb, table = parse_describe(describe)
    return _scope(active, Call(environment, verb, table))


@contextlib.contextmanager
def _scope(active: Instrumentation, call: Call) -> Iterator[Call]:
    token = _call_var.set(call)
    try:
        with active.client_call(call):
            try:
                yield call
            except BaseException as exc:
                call.fail(exc)
                raise
            finally:
                call.elapsed = time.perf_counter() - call.started
    finally:
        _call_var.reset(token)


def current_call() -> Call | None:
    """The client call running in this context (None outside one or when nothing listens)."""
    return _call_var.get()


def http(
    request: Any,
    *,
    status: int | None,
    table: str | None,
    elapsed: float | None,
    error: object = None,
    response_bytes: object = None,
    **_: object,
) -> None:
    """Report one HTTP exchange with 4D (``request``: the adapter's request, read by name)."""
    active = _active
    if active is not None:
        active.http(
            HttpEvent(
                environment=request.environment,
                method=request.method,
                path=request.path,
                table=table,
                status=status,
                elapsed=elapsed,
                request_id=request.request_id,
                error=None if error is None else str(error),
                response_bytes=response_bytes if isinstance(response_bytes, int) else None,
            )
        )


def session_event(name: str, environment: str | None = None) -> None:
    """Report a session counter; the environment defaults to the running call's."""
    active = _active
    if active is not None:
        call = _call_var.get()
        env = environment or (call.environment if call is not None else "")
        active.session_event(env, name)


def breaker_transition(environment: str, state: str) -> None:
    """Report that the breaker of ``environment`` moved to ``state``."""
    active = _active
    if active is not None:
        active.breaker_transition(environment, state)


def retry(error: BaseException) -> None:
    """Report that the running call is retried after ``error``."""
    active = _active
    if active is not None:
        call = _call_var.get()
        env = getattr(error, "environment", None) or (call.environment if call else "")
        verb, table = (call.verb, call.table) if call is not None else ("call", None)
        active.retry(env, verb, table, type(error).__name__)


def budget_event(name: str, environment: str) -> None:
    """Report a request-budget counter (``waits``, ``exhausted``) of ``environment``."""
    active = _active
    hook = getattr(active, "budget_event", None) if active is not None else None
    if hook is not None:
        with _guarded(active, "budget_event"):
            hook(environment, name)


def cache_event(name: str, environment: str, table: str) -> None:
    """Report a read-cache counter of ``table`` in ``environment`` (names: ADR 0030)."""
    active = _active
    hook = getattr(active, "cache_event", None) if active is not None else None
    if hook is not None:
        with _guarded(active, "cache_event"):
            hook(environment, table, name)


def sync_conflict(table: str, policy: str, decision: str) -> None:
    """Report a write-back conflict decided by ``policy`` as ``decision`` (ADR 0036)."""
    active = _active
    hook = getattr(active, "sync_conflict", None) if active is not None else None
    if hook is not None:
        with _guarded(active, "sync_conflict"):
            hook(table, policy, decision)


@contextlib.contextmanager
def request_scope(request_id: str) -> Iterator[str]:
    """Bind ``request_id`` for the block: every 4D request made inside carries it."""
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)
