"""Sans-I/O steps: the protocol and the policies once, driven by a sync or an async shell.

Every operation of the client (a read of one page, a retried call through the breaker,
a paged read, a write) is a *steps* generator: it yields an :class:`Effect` whenever it
needs the world (send this request, sleep this long, give me the session) and receives
the result, or has the failure thrown in. It decides everything else. Two drivers run
the same generators (ADR 0024):

- :func:`run` / :func:`stream` call the transport, sleep on the clock and call the
  session provider directly (the sync ``LegacyClient``);
- ``legacy_adapters.aio.AsyncioDriver`` awaits an async transport and ``asyncio.sleep``
  and moves the blocking slow paths (login, recovery, a port without steps) to a worker
  thread under an ``asyncio.Lock`` per environment (the ``AsyncLegacyClient``; the core
  imports no asyncio).

h11 and wsproto are built this way; the generators never touch a socket, so each step
is unit-tested by feeding it answers. A consumer that stops a stream early (``break``,
``aclose()``) has :class:`Abandoned` thrown into the steps, so their ``finally`` blocks
can still yield the effects that clean up (releasing a 4D entity set).
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeAlias, TypeVar

import attrs

from legacy_core.errors import ConfigurationError
from legacy_core.model import Environment, Session
from legacy_core.ports import Clock, RecoveryReason, SessionProvider

__all__ = [
    "Abandoned",
    "Acquire",
    "Blocking",
    "ClosePrefetch",
    "Complete",
    "Effect",
    "Emit",
    "Hold",
    "NextPrefetched",
    "Prefetch",
    "Recover",
    "Release",
    "Send",
    "Sleep",
    "Steps",
    "blocking",
    "direct",
    "run",
    "stream",
]

T = TypeVar("T")
R = TypeVar("R")


class Effect:
    """Something a step needs done by its driver."""

    __slots__ = ()


Steps: TypeAlias = Generator[Effect, Any, T]
"""A steps generator: yields effects, receives their results, returns a ``T``."""


@attrs.frozen
class Send(Effect):
    """Send ``message`` on ``transport``; the result is its answer.

    The sync driver calls ``transport.send(message)``; the async one awaits it when the
    transport is async and otherwise runs it on a worker thread.
    """

    message: Any
    transport: Any


@attrs.frozen
class Sleep(Effect):
    """Wait ``seconds`` (retry backoff)."""

    seconds: float


@attrs.frozen
class Blocking(Effect, Generic[R]):
    """Call the blocking ``fn`` (a port without steps); async: on a worker thread."""

    fn: Callable[[], R]


@attrs.frozen
class Acquire(Effect):
    """The environment's shared session from ``sessions`` (may log in: a slow path)."""

    sessions: SessionProvider
    environment: Environment


@attrs.frozen
class Recover(Effect):
    """``sessions.recover(session, reason=, cookie=)``: single-flight, may log in."""

    sessions: SessionProvider
    environment: Environment
    session: Session
    reason: RecoveryReason
    cookie: tuple[str, str] | None


@attrs.frozen
class Hold(Effect):
    """Take one of ``size`` request slots of ``key`` (wait for one); the result is a token.

    A request waits for its slot *before* it picks its session, so requests queued behind
    a full connection pool never go out with a cookie that was replaced meanwhile (each
    such request would make 4D open a session and take a licence).
    """

    owner: Any
    """The object the slots belong to (the 4D exchange); they go when it goes."""
    key: str
    size: int


@attrs.frozen
class Release(Effect):
    """Give back the slot ``token`` of a :class:`Hold`."""

    token: Any


@attrs.frozen
class Emit(Effect):
    """Hand ``item`` to the consumer of a stream (the result is None)."""

    item: Any


@attrs.frozen
class Prefetch(Effect, Generic[R]):
    """Start running ``fetch(*window)`` for ``windows``, at most ``workers`` at a time.

    The result is a handle for :class:`NextPrefetched` (results in window order) and
    :class:`ClosePrefetch`. At most ``2 * workers`` results are in flight or waiting,
    so memory stays bounded when the consumer is slower than the server.
    """

    fetch: Callable[[int, int], Steps[R]]
    windows: Iterator[tuple[int, int]]
    workers: int


@attrs.frozen
class NextPrefetched(Effect):
    """The next result of a prefetch in window order, or None when all are done."""

    handle: Any


@attrs.frozen
class ClosePrefetch(Effect):
    """Stop a prefetch: cancel what has not started, wait for what runs."""

    handle: Any


@attrs.frozen
class Complete(Effect):
    """Run ``steps`` to their end even if the caller is cancelled meanwhile; their result.

    For a request whose answer must not be lost, such as the one that opens a 4D entity
    set: cut short, the server would keep a set the client never learnt the name of. The
    async driver delivers a cancel that came meanwhile at the next effect, when the steps
    know what to release; the sync driver just runs them.
    """

    steps: Steps[Any]


class Abandoned(BaseException):
    """Thrown into a stream's steps when its consumer stopped early; cleanup may yield."""


def direct(fn: Callable[[], R]) -> Steps[R]:
    """Steps that just call ``fn`` where they run (a sync caller's plain function)."""
    yield from ()  # a generator that needs nothing from the driver
    return fn()


def blocking(fn: Callable[[], R]) -> Steps[R]:
    """Steps that call the blocking ``fn`` (a port without steps of its own)."""
    result: R = yield Blocking(fn)
    return result


# --------------------------------------------------------------------------- sync driver


@attrs.define
class _SyncPrefetch(Generic[R]):
    pool: ThreadPoolExecutor
    pending: deque[Future[R]]
    windows: Iterator[tuple[int, int]]
    fetch: Callable[[int, int], Steps[R]]
    limit: int
    clock: Clock

    def fill(self) -> None:
        import contextvars  # noqa: PLC0415 - only the threaded path needs it

        while len(self.pending) < self.limit:
            window = next(self.windows, None)
            if window is None:
                return
            # Each task runs in a copy of the caller's contextvars (bound request ids).
            context = contextvars.copy_context()
            steps = self.fetch(*window)
            self.pending.append(self.pool.submit(context.run, run, steps, self.clock))

    def next(self) -> R | None:
        self.fill()
        if not self.pending:
            return None
        result = self.pending.popleft().result()
        self.fill()
        return result

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_SLOTS: weakref.WeakKeyDictionary[Any, dict[str, threading.BoundedSemaphore]] = (
    weakref.WeakKeyDictionary()
)
_SLOTS_GUARD = threading.Lock()


def _slot(owner: Any, key: str, size: int) -> threading.BoundedSemaphore:
    with _SLOTS_GUARD:
        slots = _SLOTS.setdefault(owner, {})
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = threading.BoundedSemaphore(size)
        return slot


def _handle_sync(effect: Effect, clock: Clock) -> Any:  # noqa: PLR0911, PLR0912 - one case per effect
    if isinstance(effect, Send):
        sent = effect.transport.send(effect.message)
        if inspect.isawaitable(sent):
            if inspect.iscoroutine(sent):
                sent.close()
            msg = (
                f"{type(effect.transport).__name__} is an async transport: "
                "use AsyncLegacyClient (legacy_api.build_async_client) with it"
            )
            raise ConfigurationError(msg)
        return sent
    if isinstance(effect, Acquire):
        return effect.sessions.acquire(effect.environment)
    if isinstance(effect, Recover):
        return effect.sessions.recover(effect.session, reason=effect.reason, cookie=effect.cookie)
    if isinstance(effect, Hold):
        slot = _slot(effect.owner, effect.key, effect.size)
        slot.acquire()
        return slot
    if isinstance(effect, Release):
        effect.token.release()
        return None
    if isinstance(effect, Sleep):
        clock.sleep(effect.seconds)
        return None
    if isinstance(effect, Blocking):
        return effect.fn()
    if isinstance(effect, Complete):
        return run(effect.steps, clock)
    if isinstance(effect, Prefetch):
        pool = ThreadPoolExecutor(max_workers=effect.workers, thread_name_prefix="legacy-api-read")
        return _SyncPrefetch(pool, deque(), effect.windows, effect.fetch, 2 * effect.workers, clock)
    if isinstance(effect, NextPrefetched):
        return effect.handle.next()
    if isinstance(effect, ClosePrefetch):
        effect.handle.close()
        return None
    msg = f"no driver for {type(effect).__name__} here"
    raise TypeError(msg)


def run(steps: Steps[T], clock: Clock) -> T:
    """Drive ``steps`` to their result with blocking I/O (an Emit is an error here)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            error = None  # no reference cycle through the traceback
        if isinstance(effect, Emit):
            _finish(steps, clock)
            msg = "a stream's steps were run as one call"
            raise TypeError(msg)
        try:
            value = _handle_sync(effect, clock)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back into the steps
            value, error = None, exc


def stream(steps: Steps[None], clock: Clock) -> Iterator[Any]:
    """Drive ``steps`` with blocking I/O, yielding every emitted item to the consumer."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration:
            return
        value, error = None, None
        if isinstance(effect, Emit):
            try:
                yield effect.item
            except GeneratorExit:
                _finish(steps, clock)
                raise
            continue
        try:
            value = _handle_sync(effect, clock)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back into the steps
            error = exc


def _finish(steps: Steps[Any], clock: Clock) -> None:
    """Let abandoned steps clean up: run their remaining effects, drop their emits."""
    error: BaseException | None = Abandoned()
    value: Any = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except (StopIteration, Abandoned):
            return
        value, error = None, None
        if isinstance(effect, Emit):
            error = Abandoned()
            continue
        try:
            value = _handle_sync(effect, clock)
        except BaseException as exc:  # noqa: BLE001 - cleanup failures end in the steps
            error = exc
