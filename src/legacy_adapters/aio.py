"""The asyncio driver of the sans-I/O steps (ADR 0024): the async client's I/O shell.

``legacy_core._steps`` holds the effects and the blocking driver; this module runs the
same steps on an event loop: an async transport is awaited, a sync one (the recorder)
and every blocking slow path — a login, a recovery, a port without steps of its own —
run on a worker thread, the slow session paths under an ``asyncio.Lock`` per
environment so one thread logs in while the loop's other tasks wait. Parallel pages are
tasks under a semaphore, no threads. A cancelled read still runs the cleanup its steps
yield (releasing the 4D entity set), shielded from a second cancel.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

import attrs

from legacy_core._steps import (
    Abandoned,
    Acquire,
    Blocking,
    ClosePrefetch,
    Complete,
    Effect,
    Emit,
    Hold,
    NextPrefetched,
    Prefetch,
    Recover,
    Release,
    Send,
    Sleep,
    Steps,
)
from legacy_core.clock import SystemClock
from legacy_core.model import Session
from legacy_core.ports import Clock, NonBlockingSessions

__all__ = ["AsyncioDriver", "arun", "astream"]

T = TypeVar("T")
R = TypeVar("R")


@attrs.define
class AsyncioDriver:
    """Runs steps on the running event loop; a non-system ``clock`` (tests) takes the sleeps."""

    clock: Clock | None = None

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``: ``asyncio.sleep``, or the injected clock (a ManualClock advances)."""
        if self.clock is None or isinstance(self.clock, SystemClock):
            await asyncio.sleep(seconds)
            return
        self.clock.sleep(seconds)
        await asyncio.sleep(0)

    async def run(self, steps: Steps[T]) -> T:
        """Drive ``steps`` to their result."""
        return await arun(steps, self.sleep)

    def stream(self, steps: Steps[None]) -> AsyncGenerator[Any, None]:
        """Drive ``steps``, yielding every emitted item."""
        return astream(steps, self.sleep)


# Single-flight of the slow session paths inside one event loop: one worker thread logs
# in while the loop's other tasks wait here instead of each taking a thread.
_LOOP_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_LOOP_LOCKS_GUARD = threading.Lock()


_LOOP_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _slot(owner: Any, key: str, size: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    name = f"{id(owner)}|{key}"  # the loop's life is shorter than the exchange's
    with _LOOP_LOCKS_GUARD:
        slots = _LOOP_SLOTS.setdefault(loop, {})
        slot = slots.get(name)
        if slot is None:
            slot = slots[name] = asyncio.Semaphore(size)
        return slot


def _session_lock(key: str) -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    with _LOOP_LOCKS_GUARD:
        locks = _LOOP_LOCKS.setdefault(loop, {})
        lock = locks.get(key)
        if lock is None:
            lock = locks[key] = asyncio.Lock()
        return lock


@attrs.define
class _AsyncPrefetch(Generic[R]):
    pending: deque[asyncio.Task[R]]
    windows: Iterator[tuple[int, int]]
    fetch: Callable[[int, int], Steps[R]]
    limit: int
    gate: asyncio.Semaphore
    sleep: Callable[[float], Awaitable[None]]

    def fill(self) -> None:
        while len(self.pending) < self.limit:
            window = next(self.windows, None)
            if window is None:
                return
            self.pending.append(asyncio.ensure_future(self._one(self.fetch(*window))))

    async def _one(self, steps: Steps[R]) -> R:
        async with self.gate:  # at most `workers` requests at a time, no threads
            return await arun(steps, self.sleep)

    async def next(self) -> R | None:
        self.fill()
        if not self.pending:
            return None
        result = await self.pending.popleft()
        self.fill()
        return result

    async def close(self) -> None:
        tasks, self.pending = list(self.pending), deque()
        for task in tasks:
            task.cancel()
        # Wait for them: their own cleanup (a cancelled request) ends before the release.
        await asyncio.gather(*tasks, return_exceptions=True)


async def _acquire(effect: Acquire) -> Session:
    sessions = effect.sessions
    if isinstance(sessions, NonBlockingSessions):
        session = sessions.acquire_nowait(effect.environment)
        if session is not None:
            return session
    async with _session_lock(effect.environment.session_key):
        if isinstance(sessions, NonBlockingSessions):
            session = sessions.acquire_nowait(effect.environment)
            if session is not None:
                return session  # another task logged in while this one waited
        # A cancelled wait leaves the login running to its end in the thread: the store
        # holds a whole session or none, never half of one.
        return await asyncio.to_thread(sessions.acquire, effect.environment)


async def _recover(effect: Recover) -> Session:
    async with _session_lock(effect.environment.session_key):
        return await asyncio.to_thread(
            effect.sessions.recover, effect.session, reason=effect.reason, cookie=effect.cookie
        )


async def _handle_async(  # noqa: PLR0911, PLR0912 - one case per effect
    effect: Effect, sleep: Callable[[float], Awaitable[None]]
) -> Any:
    if isinstance(effect, Send):
        send = effect.transport.send
        if inspect.iscoroutinefunction(send):
            return await send(effect.message)
        return await asyncio.to_thread(send, effect.message)  # a sync transport (recorder)
    if isinstance(effect, Acquire):
        return await _acquire(effect)
    if isinstance(effect, Hold):
        slot = _slot(effect.owner, effect.key, effect.size)
        await slot.acquire()
        return slot
    if isinstance(effect, Release):
        effect.token.release()
        return None
    if isinstance(effect, Recover):
        return await _recover(effect)
    if isinstance(effect, Sleep):
        await sleep(effect.seconds)
        return None
    if isinstance(effect, Blocking):
        return await asyncio.to_thread(effect.fn)
    if isinstance(effect, Complete):
        value, error, _late = await _complete(effect.steps, sleep)
        if error is not None:
            raise error
        return value
    if isinstance(effect, Prefetch):
        gate = asyncio.Semaphore(effect.workers)
        return _AsyncPrefetch(
            deque(), effect.windows, effect.fetch, 2 * effect.workers, gate, sleep
        )
    if isinstance(effect, NextPrefetched):
        return await effect.handle.next()
    if isinstance(effect, ClosePrefetch):
        await effect.handle.close()
        return None
    msg = f"no driver for {type(effect).__name__} here"
    raise TypeError(msg)


async def _perform(
    effect: Effect,
    sleep: Callable[[float], Awaitable[None]],
    *,
    shielded: bool,
    on_cancel: Callable[[asyncio.CancelledError], None] | None = None,
) -> Any:
    if not shielded:
        return await _handle_async(effect, sleep)
    # After a cancellation the steps are cleaning up (releasing an entity set): a further
    # cancel must not cut that short. The request runs in a task of its own and is waited
    # for to its end (its own timeouts bound it), so the steps see how it ended.
    inner = asyncio.ensure_future(_handle_async(effect, sleep))
    while True:
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError as exc:
            if on_cancel is not None:
                on_cancel(exc)
            if inner.done():
                return inner.result()
            continue


async def _complete(
    steps: Steps[Any], sleep: Callable[[float], Awaitable[None]]
) -> tuple[Any, BaseException | None, asyncio.CancelledError | None]:
    """Run ``steps`` of a :class:`Complete` to their end, shielded; (value, error, cancel).

    A cancel that arrives meanwhile is kept, not thrown into them: the caller delivers it
    at its next effect.
    """
    late: asyncio.CancelledError | None = None

    def note(exc: asyncio.CancelledError) -> None:
        nonlocal late
        late = late or exc

    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value, None, late
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's steps
            return None, exc, late
        value, error = None, None
        if isinstance(effect, Emit):
            error = TypeError("a stream's steps were run as one call")
            continue
        try:
            value = await _perform(effect, sleep, shielded=True, on_cancel=note)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back into the steps
            error = exc


async def arun(steps: Steps[T], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """Drive ``steps`` to their result on the running event loop."""
    value: Any = None
    error: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    late: asyncio.CancelledError | None = None  # came during a Complete: due at the next effect
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            due = cancelled or late
            if due is not None:
                raise due from None  # the steps swallowed it: the task still ends
            return done.value  # type: ignore[no-any-return]
        value, error = None, None
        if isinstance(effect, Emit):
            msg = "a stream's steps were run as one call"
            raise TypeError(msg)
        if late is not None:
            cancelled, error, late = cancelled or late, late, None
            continue
        if isinstance(effect, Complete) and cancelled is None:
            value, error, late = await _complete(effect.steps, sleep)
            continue
        try:
            value = await _perform(effect, sleep, shielded=cancelled is not None)
        except asyncio.CancelledError as exc:
            cancelled = cancelled or exc
            error = exc
        except BaseException as exc:  # noqa: BLE001 - every failure goes back into the steps
            error = exc


async def astream(
    steps: Steps[None], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> AsyncGenerator[Any, None]:
    """Drive ``steps`` on the running loop, yielding every emitted item to the consumer."""
    value: Any = None
    error: BaseException | None = None
    cancelled = False
    late: asyncio.CancelledError | None = None  # came during a Complete: due at the next effect
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration:
            if late is not None:
                raise late from None
            return
        value, error = None, None
        if late is not None:
            cancelled, error, late = True, late, None
            continue
        if isinstance(effect, Emit):
            try:
                yield effect.item
            except GeneratorExit:
                await _afinish(steps, sleep)
                raise
            continue
        if isinstance(effect, Complete) and not cancelled:
            value, error, late = await _complete(effect.steps, sleep)
            continue
        try:
            value = await _perform(effect, sleep, shielded=cancelled)
        except asyncio.CancelledError as exc:
            cancelled = True
            error = exc
        except BaseException as exc:  # noqa: BLE001 - every failure goes back into the steps
            error = exc


async def _afinish(steps: Steps[Any], sleep: Callable[[float], Awaitable[None]]) -> None:
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
            value = await _perform(effect, sleep, shielded=True)
        except BaseException as exc:  # noqa: BLE001 - cleanup failures end in the steps
            error = exc
