"""The sans-I/O steps and their two drivers: the same generators, blocking and on asyncio."""

from __future__ import annotations

import asyncio
import threading

import attrs
import pytest

from legacy_adapters.aio import AsyncioDriver
from legacy_core._steps import (
    Blocking,
    ClosePrefetch,
    Emit,
    NextPrefetched,
    Prefetch,
    Send,
    Sleep,
    Steps,
    run,
    stream,
)
from legacy_core.clock import ManualClock
from legacy_core.errors import ConfigurationError, ServerUnavailable


@attrs.define
class EchoTransport:
    """A sync transport answering each message with its upper-case text; can fail once."""

    fail_first: bool = False
    sent: list[str] = attrs.field(factory=list)

    def send(self, message: str) -> str:
        self.sent.append(message)
        if self.fail_first and len(self.sent) == 1:
            raise ServerUnavailable("down", environment="live")
        return message.upper()


@attrs.define
class AsyncEchoTransport:
    """An async transport answering with the upper-case text after a short await."""

    delay: float = 0.0
    in_flight: int = 0
    peak: int = 0
    sent: list[str] = attrs.field(factory=list)

    async def send(self, message: str) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            self.sent.append(message)
            return message.upper()
        finally:
            self.in_flight -= 1


def ask(transport: object, text: str) -> Steps[str]:
    """Steps that send ``text`` and return the answer, retrying once after a failure."""
    try:
        answer: str = yield Send(text, transport)
    except ServerUnavailable:
        yield Sleep(1.5)
        answer = yield Send(text, transport)
    return answer


def pages(transport: object, count: int, log: list[str]) -> Steps[None]:
    """A stream emitting ``count`` answers; its cleanup sends "release" (like an entity set)."""
    try:
        for n in range(count):
            yield Emit((yield from ask(transport, f"p{n}")))
    finally:
        yield Send("release", transport)
        log.append("released")


class TestBlockingDriver:
    def test_result_and_failure_thrown_back_into_the_steps(self) -> None:
        """A failed effect is thrown into the steps, which may retry after a Sleep on the clock."""
        clock = ManualClock()
        transport = EchoTransport(fail_first=True)
        assert "HI" == run(ask(transport, "hi"), clock)
        assert ["hi", "hi"] == transport.sent
        assert [1.5] == clock.sleeps

    def test_unhandled_failure_propagates(self) -> None:
        """An error the steps do not catch leaves the driver unchanged."""

        def boom() -> Steps[None]:
            yield Blocking(lambda: 1 / 0)

        with pytest.raises(ZeroDivisionError):
            run(boom(), ManualClock())

    def test_an_emit_outside_a_stream_is_an_error(self) -> None:
        """Running a stream's steps as one call fails loudly instead of dropping items."""
        with pytest.raises(TypeError, match="stream"):
            run(pages(EchoTransport(), 2, []), ManualClock())

    def test_async_transport_under_the_sync_driver_is_a_configuration_error(self) -> None:
        """A coroutine transport cannot be driven by the blocking driver: the error says so."""
        with pytest.raises(ConfigurationError, match="AsyncLegacyClient"):
            run(ask(AsyncEchoTransport(), "x"), ManualClock())

    def test_stream_stopped_early_still_cleans_up(self) -> None:
        """Closing a stream early throws Abandoned in: its finally still sends the release."""
        transport, log = EchoTransport(), []
        items = stream(pages(transport, 5, log), ManualClock())
        assert "P0" == next(items)
        items.close()
        assert ["released"] == log
        assert ["p0", "release"] == transport.sent

    def test_prefetch_keeps_window_order_on_threads(self) -> None:
        """Parallel windows on the thread pool come back in window order, bounded by workers."""
        seen: set[str] = set()

        def fetch(offset: int, top: int) -> Steps[tuple[int, int, str]]:
            name = yield Blocking(lambda: threading.current_thread().name)
            seen.add(name)
            return (offset, top, name)

        def read() -> Steps[list[int]]:
            handle = yield Prefetch(fetch, iter([(o, 10) for o in range(0, 100, 10)]), 3)
            out: list[int] = []
            try:
                while (item := (yield NextPrefetched(handle))) is not None:
                    out.append(item[0])
            finally:
                yield ClosePrefetch(handle)
            return out

        assert list(range(0, 100, 10)) == run(read(), ManualClock())
        assert 1 <= len(seen) <= 3
        assert all(name.startswith("legacy-api-read") for name in seen)


class TestAsyncioDriver:
    def test_the_same_steps_on_asyncio(self) -> None:
        """The steps the blocking driver runs give the same result awaited, retry included."""
        clock = ManualClock()
        transport = EchoTransport(fail_first=True)
        driver = AsyncioDriver(clock=clock)
        assert "HI" == asyncio.run(driver.run(ask(transport, "hi")))
        assert [1.5] == clock.sleeps  # the injected clock took the backoff

    def test_async_transport_is_awaited(self) -> None:
        """An async transport is awaited on the loop, not sent from a thread."""
        transport = AsyncEchoTransport()
        assert "OK" == asyncio.run(AsyncioDriver().run(ask(transport, "ok")))

    def test_prefetch_bounds_concurrency_without_threads(self) -> None:
        """At most ``workers`` windows are in flight at once, as tasks on the loop."""
        transport = AsyncEchoTransport(delay=0.01)
        threads: set[int] = set()

        def fetch(offset: int, top: int) -> Steps[int]:
            threads.add(threading.get_ident())
            yield Send(f"{offset}", transport)
            return offset

        def read() -> Steps[list[int]]:
            handle = yield Prefetch(fetch, iter([(o, 1) for o in range(40)]), 4)
            out: list[int] = []
            try:
                while (item := (yield NextPrefetched(handle))) is not None:
                    out.append(item)
            finally:
                yield ClosePrefetch(handle)
            return out

        assert list(range(40)) == asyncio.run(AsyncioDriver().run(read()))
        assert 4 == transport.peak
        assert 1 == len(threads)  # every window ran on the loop's thread

    def test_stream_closed_early_cleans_up(self) -> None:
        """``aclose()`` after the first item runs the cleanup the steps yield."""
        transport, log = AsyncEchoTransport(), []

        async def main() -> list[str]:
            items = AsyncioDriver().stream(pages(transport, 5, log))
            first = [await items.__anext__()]
            await items.aclose()
            return first

        assert ["P0"] == asyncio.run(main())
        assert ["released"] == log
        assert ["p0", "release"] == transport.sent

    def test_cancelled_run_still_cleans_up_even_if_cancelled_again(self) -> None:
        """A cancelled read's cleanup runs to its end, shielded from a second cancel."""
        transport, log = AsyncEchoTransport(delay=0.05), []

        def slow_read() -> Steps[None]:
            try:
                yield Send("page", transport)
            finally:
                yield Send("release", transport)
                log.append("released")

        async def main() -> None:
            task = asyncio.ensure_future(AsyncioDriver().run(slow_read()))
            await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.sleep(0.01)
            task.cancel()  # a second cancel while the release is under way
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.1)  # the shielded release finishes on its own

        asyncio.run(main())
        assert ["released"] == log
        assert "release" in transport.sent
