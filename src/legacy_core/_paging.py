"""The paging engine: a read as ordered pages over one consistent snapshot.

A read opens a 4D entity set with its first page alone (which also establishes or
validates the session before anything runs in parallel), fetches the remaining windows
in order — on a bounded pool when ``workers > 1`` — and releases the set. An expired
snapshot is rebuilt (up to three times), either skipping rows already yielded (by
``__KEY``) or telling the consumer to start over. Every request goes through the
client's call wrapper (retries and the breaker). Pure: the reader is a port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from legacy_core._log import get_logger
from legacy_core._steps import ClosePrefetch, Complete, Emit, NextPrefetched, Prefetch, Steps
from legacy_core.errors import EntitySetExpired, LegacyError
from legacy_core.model import Page, Query, Record
from legacy_core.ports import Clock

__all__ = ["Pager", "Progress"]

_log = get_logger()
_MAX_REBUILDS = 3
T = TypeVar("T")

Progress = Callable[[int, int], None]
"""Called with ``(rows_done, total)`` after every page."""


class Call(Protocol):
    """The client's wrapper around one request's steps: retries and the breaker."""

    def __call__(
        self, environment: str, op: Callable[[], Steps[T]], *, idempotent: bool, describe: str
    ) -> Steps[T]:
        """Steps that run ``op()`` for ``environment``."""
        ...


class ReaderSteps(Protocol):
    """The reads the pager needs, as steps (``legacy_core.service`` adapts any reader)."""

    def read_page(self, query: Query) -> Steps[Page]:
        """Steps of ``TableReader.read_page``."""
        ...

    def open_snapshot(self, query: Query, timeout: float) -> Steps[Page]:
        """Steps of ``TableReader.open_snapshot``."""
        ...

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> Steps[None]:
        """Steps of ``TableReader.release_snapshot``."""
        ...


Sink = Callable[["Page | _Restart"], None]
"""Takes each item of a read instead of it being emitted (``fetch_frame``'s builder)."""


@attrs.frozen
class _Restart:
    """Marker in the page stream: the snapshot was rebuilt, everything before is stale."""

    rebuilds: int


@attrs.frozen
class _Read:
    """One read as planned: the base query (no window) and how to page it."""

    query: Query
    limit: int | None
    skip: int
    page_size: int
    workers: int
    consistent: bool

    @property
    def single_request(self) -> bool:
        # A limit that fits one page needs no snapshot: one request is consistent.
        return self.limit is not None and self.limit <= self.page_size


@attrs.define
class Pager:
    """Pages one planned read (see the module docstring), as sans-I/O steps."""

    reader: ReaderSteps
    call: Call
    clock: Clock
    snapshot_timeout: float
    check: Callable[[Query], Steps[None]] | None = None
    """Run before the first request (the client's field-name check against the schema)."""

    def stream(
        self, spec: _Read, progress: Progress | None, *, dedupe: bool, sink: Sink | None = None
    ) -> Steps[None]:
        """Emit the pages of ``spec`` in order (to ``sink`` if given); rebuild expired snapshots.

        With ``dedupe`` the rebuilt snapshot's rows already yielded (by ``__KEY``) are
        skipped; without it a ``_Restart`` marker tells the consumer to start over.
        """
        query = spec.query
        if self.check is not None:
            yield from self.check(query)
        started = self.clock.monotonic()
        _log.info(
            "legacy_api.fetch.start",
            environment=query.environment,
            table=query.table,
            limit=spec.limit,
            skip=spec.skip,
            page_size=spec.page_size,
            workers=spec.workers,
            consistent=spec.consistent,
        )
        rebuilds = 0
        rows = pages = 0
        seen: set[str] | None = None

        def deliver(page: Page) -> Steps[None]:
            nonlocal rows, pages, seen
            records = page.records
            if seen is not None and rebuilds:
                records = _without_keys(records, seen)
                page = Page(records, page.count, page.first, entity_set=page.entity_set)
            if dedupe and seen is None and page.entity_set is not None:
                seen = set()
            if seen is not None:
                seen.update(_keys(records))
            if spec.limit is not None and rows + len(records) > spec.limit:
                records = records[: spec.limit - rows]  # old rows + rebuilt ones
                page = Page(records, page.count, page.first, entity_set=page.entity_set)
            rows += len(records)
            pages += 1
            yield from _emit(page, sink)

        while True:
            try:
                yield from self._one_pass(spec, progress, rows, deliver)
                break
            except EntitySetExpired as exc:
                rebuilds += 1
                if rebuilds > _MAX_REBUILDS:
                    exc.add_note(f"snapshot rebuilt {_MAX_REBUILDS} times and expired again")
                    raise
                _log.warning(
                    "legacy_api.snapshot.rebuild",
                    environment=query.environment,
                    table=query.table,
                    rows_before=rows,
                    rebuilds=rebuilds,
                )
                if not dedupe:
                    rows = 0
                    yield from _emit(_Restart(rebuilds), sink)
        _log.info(
            "legacy_api.fetch.done",
            environment=query.environment,
            table=query.table,
            rows=rows,
            pages=pages,
            rebuilds=rebuilds,
            elapsed=round(self.clock.monotonic() - started, 4),
        )

    def _one_pass(
        self,
        spec: _Read,
        progress: Progress | None,
        rows_before: int,
        deliver: Callable[[Page], Steps[None]],
    ) -> Steps[None]:
        """One read from a fresh first page (and snapshot); raises EntitySetExpired."""
        query = spec.query
        env, table = query.environment, query.table
        if spec.limit == 0:
            if progress is not None:
                progress(0, 0)
            return
        first_top = spec.page_size if spec.limit is None else min(spec.page_size, spec.limit)
        first_query = query.page(spec.skip, first_top)
        snapshot: str | None = None
        try:
            if spec.consistent and not spec.single_request:
                # Complete: a cancel during this request would leave the server a set
                # whose name the client never learnt; it comes at the next effect instead.
                first: Page = yield Complete(
                    self.call(
                        env,
                        lambda: self.reader.open_snapshot(first_query, self.snapshot_timeout),
                        idempotent=True,
                        describe=f"open snapshot of {table}",
                    )
                )
                snapshot = first.entity_set
            else:
                first = yield from self._read(first_query)
            available = max(first.count - spec.skip, 0)
            want = available if spec.limit is None else min(available, spec.limit)
            done = 0

            def take(page: Page) -> Steps[bool]:
                """Deliver one page of this pass; True once ``want`` rows are delivered."""
                nonlocal done
                records = page.records
                if done + len(records) > want:  # a server sending more than asked
                    records = records[: want - done]
                    page = Page(records, page.count, page.first, entity_set=page.entity_set)
                done += len(records)
                if progress is not None:
                    progress(rows_before + done, rows_before + want)
                yield from deliver(page)
                return done >= want

            yield from self._pages(spec, first, want, snapshot, take)
        finally:
            if snapshot is not None:
                yield from self._release(env, table, snapshot)

    def _pages(
        self,
        spec: _Read,
        first: Page,
        want: int,
        snapshot: str | None,
        take: Callable[[Page], Steps[bool]],
    ) -> Steps[None]:
        if (yield from take(first)):
            return
        end = spec.skip + want
        start = spec.skip + len(first.records)
        if start >= end or (not first.records and want):
            return
        base = attrs.evolve(spec.query, entity_set=snapshot)
        windows = ((o, min(spec.page_size, end - o)) for o in range(start, end, spec.page_size))

        def fetch(offset: int, top: int) -> Steps[Page]:
            page = yield from self._read_window(base, offset, top)
            return attrs.evolve(page, entity_set=snapshot) if page.entity_set != snapshot else page

        if spec.workers == 1:
            for offset, top in windows:
                if (yield from take((yield from fetch(offset, top)))):
                    return
            return
        # Ordered parallel windows: threads (sync) or tasks (async), as the driver runs them.
        handle = yield Prefetch(fetch, windows, spec.workers)
        try:
            while (page := (yield NextPrefetched(handle))) is not None:
                if (yield from take(page)):
                    return
        finally:
            yield ClosePrefetch(handle)

    def _read_window(self, base: Query, offset: int, top: int) -> Steps[Page]:
        """Read ``top`` rows from ``offset``, in several requests if the server sends fewer."""
        got: list[Sequence[Record]] = []
        page: Page | None = None
        first = offset
        while top > 0:
            query = base.page(offset, top)
            page = yield from self._read(query)
            if not got and len(page.records) >= top:
                return page  # the usual case: one request, no copy
            got.append(page.records)
            if not page.records:
                break
            offset += len(page.records)
            top -= len(page.records)
        count = page.count if page is not None else 0
        return Page(_joined(got), count, first, entity_set=base.entity_set)

    def _read(self, query: Query) -> Steps[Page]:
        return self.call(
            query.environment,
            lambda: self.reader.read_page(query),
            idempotent=True,
            describe=f"read {query.table}",
        )

    def _release(self, env: str, table: str, snapshot: str) -> Steps[None]:
        # Retried like a read (releasing twice is harmless), but a failure is only logged:
        # the rows were read correctly and an unreleased set expires after snapshot_timeout.
        try:
            yield from self.call(
                env,
                lambda: self.reader.release_snapshot(env, table, snapshot),
                idempotent=True,
                describe=f"release snapshot of {table}",
            )
        except LegacyError as exc:
            _log.warning(
                "legacy_api.snapshot.release_failed",
                category=type(exc).__name__,
                **exc.context(),
            )


@runtime_checkable
class BatchRecords(Protocol):
    """Records held as one columnar batch (``legacy_core.columnar.ArrowRecords``).

    The pager filters and joins them through these methods rather than row by row.
    """

    def keys(self) -> list[str]:
        """The ``__KEY`` of every row."""
        ...

    def without_keys(self, seen: set[str]) -> Sequence[Record]:
        """The rows whose ``__KEY`` is not in ``seen``."""
        ...

    @staticmethod
    def concat(parts: Sequence[Any]) -> Sequence[Record]:
        """One batch of several."""
        ...


def _keys(records: Sequence[Record]) -> list[str]:
    if isinstance(records, BatchRecords):
        return records.keys()
    return [k for r in records if isinstance(k := r.get("__KEY"), str)]


def _without_keys(records: Sequence[Record], seen: set[str]) -> Sequence[Record]:
    if isinstance(records, BatchRecords):
        return records.without_keys(seen)
    return [r for r in records if r.get("__KEY") not in seen]


def _joined(parts: list[Sequence[Record]]) -> Sequence[Record]:
    batches = [p for p in parts if isinstance(p, BatchRecords)]
    if batches and len(batches) == len(parts):
        return type(batches[0]).concat(batches)
    return [r for part in parts for r in part]


def _emit(item: Page | _Restart, sink: Sink | None) -> Steps[None]:
    if sink is None:
        yield Emit(item)
    else:
        sink(item)
