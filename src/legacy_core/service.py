"""The ``LegacyClient`` facade: paged, snapshot-consistent, parallel reads and batched writes.

pyERP's services get a ``LegacyClient`` injected (built by ``legacy_adapters.bootstrap``).
It owns pagination (4D entity sets for a consistent snapshot, a bounded thread pool when
asked), the conversion of pages to pandas, write batching under the server's request
size, and wraps every request in the retry policy and the environment's circuit breaker.
What it does not do: HTTP, sessions or value decoding — those are the adapters'.

Snapshot guarantee (multi-page reads with ``consistent=True``): the rows come from one
4D entity set, read page by page. If the set expires mid-read (4D error 1802), a new set
is opened and read from its start. ``fetch_frame`` then discards what it had read, so the
frame is exactly the rows of the newest snapshot. The streaming readers (``iter_pages``,
``iter_records``) cannot take back what they yielded: they skip the ``__KEY``s already
yielded, so every row of the new snapshot is yielded exactly once, and rows yielded
before the rebuild that the new snapshot no longer holds are not taken back.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypeVar, cast

import attrs

from legacy_core import instrument
from legacy_core._checks import INT64_MAX, check_int, check_text, check_write_value, describe
from legacy_core._log import get_logger
from legacy_core._paging import Pager, Progress, _Read, _Restart
from legacy_core._steps import Complete, Steps, blocking, run, stream
from legacy_core.cache import (
    CacheMode,
    PageCollector,
    ReadCache,
    Unencodable,
    arrow_records,
    check_mode,
    decode_arrow,
    decode_rows,
    encode_rows,
    just,
    serve_pages,
    tap,
)
from legacy_core.clock import SystemClock
from legacy_core.errors import (
    ConfigurationError,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    PartialWrite,
    ProtocolError,
)
from legacy_core.model import (
    Environment,
    FieldUpdate,
    Page,
    Query,
    Record,
    WriteOutcome,
    WriteResult,
    request_outcome,
    validate_identifier,
)
from legacy_core.ports import (
    Clock,
    FieldWriter,
    HealthProbe,
    SchemaReader,
    SessionProvider,
    SteppedHealthProbe,
    SteppedReader,
    SteppedSchemaReader,
    SteppedWriter,
    TableReader,
)
from legacy_core.query import Filter, Value, attributes_of, render, where_filter
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.schema import SYSTEM_ATTRIBUTES, TableSchema

if TYPE_CHECKING:
    import pandas as pd

    from legacy_core.frames import DtypeBackend
    from legacy_core.tables import Table

__all__ = ["ClientCore", "LegacyClient", "Progress", "Where"]

T = TypeVar("T")

Where: TypeAlias = Filter | Mapping[str, Value] | None
"""A filter object, a dict of equalities (``{"Nummer": 803721}``) or None."""

_log = get_logger()

DEFAULT_MAX_REQUEST_SIZE = 2_000_000
"""4D's default "Maximum Request Size" in bytes, when the writer does not say."""

_REQUEST_OVERHEAD = 16 * 1024
"""Bytes kept free below the maximum for headers and the JSON envelope."""

"""Expired snapshots rebuilt per read before giving up (it expiring again means trouble)."""


@attrs.define
class _GcPause:
    """A process-wide, nestable pause of the cyclic garbage collector.

    A frame of a 4D table holds millions of containers (the nested 4D objects); every
    full collection while it is being assembled walks all of them, which doubled the time
    of a 200k-row read in the benchmarks. Reference counting still frees everything
    during the pause; only cycles wait. The collector is switched back on when the last
    concurrent pause ends, and left alone if it was off already.
    """

    _depth: int = 0
    _was_enabled: bool = False
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._was_enabled:
                    gc.enable()


_gc_paused = _GcPause()


def _columnar(spec: _Read) -> _Read:
    """The read with its pages asked for as Arrow; ConfigurationError without pyarrow."""
    from legacy_core.frames import HAS_ARROW  # noqa: PLC0415 - pandas, on use

    if not HAS_ARROW:
        msg = "columnar reads need pyarrow: pip install 'legacy-api[arrow]'"
        raise ConfigurationError(msg, environment=spec.query.environment, table=spec.query.table)
    return attrs.evolve(spec, query=attrs.evolve(spec.query, columnar=True))


def _arrow_frame(table: Any) -> pd.DataFrame:
    import pandas as pd  # noqa: PLC0415 - on use

    return table.to_pandas(types_mapper=pd.ArrowDtype)  # type: ignore[no-any-return]


def _batches_of(records: Sequence[Record]) -> list[Any]:
    from legacy_core.columnar import ArrowRecords, records_to_table  # noqa: PLC0415

    table = records.table if isinstance(records, ArrowRecords) else records_to_table(records)
    return table.combine_chunks().to_batches()  # type: ignore[no-any-return]


def _polars() -> Any:
    try:
        import polars  # noqa: PLC0415 - optional, imported only when used
    except ImportError:
        msg = "fetch_polars needs polars: pip install polars"
        raise ConfigurationError(msg) from None
    return polars


def _environments(
    value: Mapping[str, Environment] | Sequence[str],
) -> dict[str, Environment | None]:
    if isinstance(value, str):
        return {value: None}
    if isinstance(value, Mapping):
        return dict(value)
    return dict.fromkeys(value)


def _positive_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{attribute.name} must be an int >= 1, not {value!r}"
        raise ConfigurationError(msg)


@attrs.define
class ClientCore:
    """What the sync and the async client share: configuration, planning, the policies.

    Every verb is written once here as steps (``_*_steps``, ADR 0024); ``LegacyClient``
    drives them with blocking I/O and ``AsyncLegacyClient`` on an event loop.

    ``environments`` are the names a call may choose with ``environment=`` (default
    ``default_environment``). ``breakers`` is a mapping per environment or a factory
    ``name -> CircuitBreaker``; missing ones are created with ``clock``.
    """

    reader: TableReader
    writer: FieldWriter
    environments: Mapping[str, Environment | None] = attrs.field(
        default=("live",), converter=_environments
    )
    default_environment: str = "live"
    clock: Clock = attrs.field(factory=SystemClock, kw_only=True)
    retry: RetryPolicy = attrs.field(
        default=attrs.Factory(lambda self: RetryPolicy(clock=self.clock), takes_self=True),
        kw_only=True,
    )
    breakers: Mapping[str, CircuitBreaker] | Callable[[str], CircuitBreaker] | None = attrs.field(
        default=None, kw_only=True
    )
    page_size: int = attrs.field(default=1000, validator=_positive_int, kw_only=True)
    workers: int = attrs.field(default=1, validator=_positive_int, kw_only=True)
    snapshot_timeout: float = attrs.field(default=600.0, kw_only=True)
    """Seconds an idle snapshot (4D ``$timeout``) lives on the server."""
    pause_gc: bool = attrs.field(default=True, kw_only=True)
    """Pause the cyclic GC while ``fetch_frame`` assembles a frame (see ``_GcPause``)."""
    sessions: SessionProvider | None = attrs.field(default=None, kw_only=True)
    """The shared session provider behind the reader and writer (None: a backend without
    4D sessions, such as the memory fake). Management commands and ``wsz_api`` use it."""
    read_cache: ReadCache | None = attrs.field(default=None, kw_only=True)
    """The read cache of opted-in tables (ADR 0030); None: every read goes to 4D."""
    _breaker_cache: dict[str, CircuitBreaker] = attrs.field(init=False, factory=dict, repr=False)
    _ops: _Ops = attrs.field(init=False, repr=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def __attrs_post_init__(self) -> None:
        self._ops = _Ops.of(self.reader, self.writer)
        if self.environments and self.default_environment not in self.environments:
            msg = (
                f"default environment {self.default_environment!r} is not configured "
                f"(configured: {', '.join(sorted(self.environments))})"
            )
            raise ConfigurationError(msg, environment=self.default_environment)

    def breaker(self, environment: str | None = None) -> CircuitBreaker:
        """The circuit breaker of ``environment`` (shared by every view of this client)."""
        return self._breaker(self.environment_name(environment))

    def for_environment(self, environment: str) -> Self:
        """Return a view of this client whose default environment is ``environment``.

        It shares the reader, writer, retry budget, sessions and breakers (an open breaker
        is open for every view); an unknown name raises ConfigurationError.
        """
        if environment == self.default_environment:
            return self
        self.environment_name(environment)
        return attrs.evolve(self, default_environment=environment, breakers=self._breaker)

    def environment_name(self, environment: str | None = None) -> str:
        """Return the environment a call with ``environment=`` uses; unknown names raise."""
        return self._env(environment)

    # -- internals: planning -------------------------------------------------------------

    def _env(self, environment: str | None) -> str:
        given: object = environment  # callers are not type-checked: environment=["live"]
        if given is not None and not isinstance(given, str):
            # A list would raise TypeError (unhashable) in the lookup below.
            msg = f"environment must be a name such as 'live', not {describe(given)}"
            raise ConfigurationError(msg)
        name = environment or self.default_environment
        if self.environments and name not in self.environments:
            msg = (
                f"unknown environment {describe(name)} "
                f"(configured: {', '.join(sorted(self.environments))})"
            )
            raise ConfigurationError(msg, environment=name)
        return name

    @staticmethod
    def _key(table: str, key: str | int) -> str:
        if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
            msg = f"key must be a non-empty str or int (4D __KEY), got {describe(key)}"
            raise InvalidQuery(msg, table=table)
        if isinstance(key, int):
            return str(check_int(key, f"key of {table}", table=table))
        return check_text(key, f"key of {table}", table=table)

    def _plan(
        self,
        table: str,
        *,
        where: Where,
        fields: Sequence[str] | str | None,
        order_by: Sequence[str] | str | None,
        limit: int | None,
        skip: int,
        page_size: int | None,
        workers: int | None,
        consistent: bool,
        raw: bool,
        environment: str | None,
    ) -> _Read:
        env = self._env(environment)
        size = self.page_size if page_size is None else page_size
        count = self.workers if workers is None else workers
        for name, value, low in (("page_size", size, 1), ("workers", count, 1), ("skip", skip, 0)):
            wrong = isinstance(value, bool) or not isinstance(value, int)
            if wrong or not low <= value <= INT64_MAX:
                msg = f"{name} must be an int >= {low} (64 bits), not {describe(value)}"
                raise InvalidQuery(msg, environment=env, table=table)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= INT64_MAX
        ):
            msg = f"limit must be None or an int >= 0 (64 bits), not {describe(limit)}"
            raise InvalidQuery(msg, environment=env, table=table)
        query = Query(
            env,
            table,
            filter=_filter(where, table),
            attributes=fields,
            order_by=order_by,
            typed=not raw,
        )
        return _Read(query, limit, skip, size, count, consistent)

    def _field_update(
        self,
        table: str,
        *,
        key: str | int,
        field: str,
        value: Any,
        expected_stamp: int | None,
        environment: str | None,
    ) -> FieldUpdate:
        return FieldUpdate(
            table, self._key(table, key), {field: value}, expected_stamp, environment
        )

    def _request_limit(self) -> int:
        size = getattr(self.writer, "max_request_size", None)
        if not isinstance(size, int) or size <= 0:
            size = DEFAULT_MAX_REQUEST_SIZE
        return max(size - min(_REQUEST_OVERHEAD, size // 10), 1)

    def _update(self, update: object, environment: str | None) -> FieldUpdate:
        if isinstance(update, Mapping):
            env = self._env(update.get("environment") or environment)
            return _update_from_mapping(update, env)
        if not isinstance(update, FieldUpdate):
            msg = f"updates must be FieldUpdate or mappings, not {type(update).__name__}"
            raise InvalidQuery(msg)
        env = self._env(update.environment or environment)
        return update if update.environment == env else attrs.evolve(update, environment=env)

    def _apply(
        self,
        plans: list[tuple[str, str, list[list[int]]]],
        keys: Sequence[str | None],
        send: Callable[[str, str, list[int]], Steps[list[WriteResult]]],
        *,
        atomic: bool,
    ) -> Steps[tuple[list[WriteOutcome | None], int]]:
        """Send the batches; one outcome per item, and how many requests were made.

        ``keys`` are the items' keys (None for an entity still to be created); ``send``
        writes the items at some indices and returns their saved entities in order.
        """
        outcomes: list[WriteOutcome | None] = [None] * len(keys)
        requests = 0
        stopped: LegacyError | None = None
        for env, table, batches in plans:
            for batch in batches:
                if stopped is not None:
                    for i in batch:
                        outcomes[i] = WriteOutcome(i, table, keys[i], "not_sent", error=stopped)
                    continue
                requests += 1
                try:
                    saved = yield from send(env, table, batch)
                except PartialWrite as partial:
                    for i, o in zip(batch, partial.outcomes, strict=True):
                        outcomes[i] = attrs.evolve(o, index=i)
                    continue
                except LegacyError as err:
                    if atomic or len(keys) == 1:
                        raise
                    status = request_outcome(err) if len(batch) == 1 else None
                    if status is None or status in {"not_sent", "unknown"}:
                        # The request failed as a whole: stop, later batches stay unsent.
                        status = "not_sent" if err.not_applied else "unknown"
                        stopped = err
                    for i in batch:
                        outcomes[i] = WriteOutcome(i, table, keys[i], status, error=err)
                    continue
                if len(saved) != len(batch):
                    msg = f"write of {len(batch)} {table} entities returned {len(saved)} results"
                    raise ProtocolError(msg, environment=env, table=table)
                for i, result in zip(batch, saved, strict=True):
                    outcomes[i] = WriteOutcome(i, table, result.key, "saved", result=result)
        return outcomes, requests

    def _results(
        self,
        outcomes: list[WriteOutcome | None],
        environments: Callable[[WriteOutcome], str | None],
    ) -> list[WriteResult]:
        """The saved entities in input order; the one error, or PartialWrite, if some failed."""
        done = [o for o in outcomes if o is not None]
        failed = [o for o in done if not o.applied]
        if failed and len(failed) == len(done) and all(o.error is done[0].error for o in done):
            assert isinstance(done[0].error, LegacyError)
            raise done[0].error  # one error for everything: nothing partial to report
        if failed:
            names = {environments(o) for o in done}
            env_name = names.pop() if len(names) == 1 else None
            raise PartialWrite.of(done, environment=env_name)
        return [o.result for o in done if o.result is not None]

    def _write(
        self, env: str, table: str, chunk: list[FieldUpdate], *, atomic: bool
    ) -> Steps[list[WriteResult]]:
        return self._call(
            env,
            lambda: self._ops.write(chunk, atomic=atomic),
            idempotent=False,
            describe=f"write {table}",
        )

    # -- internals: calls ----------------------------------------------------------------

    def _breaker(self, environment: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breaker_cache.get(environment)
            if breaker is None:
                if isinstance(self.breakers, Mapping) and environment in self.breakers:
                    breaker = self.breakers[environment]
                elif callable(self.breakers):
                    breaker = self.breakers(environment)
                else:
                    breaker = CircuitBreaker(name=environment, clock=self.clock)
                self._breaker_cache[environment] = breaker
            return breaker

    def _pager(self) -> Pager:
        return Pager(
            self._ops, self._call, self.clock, self.snapshot_timeout, check=self._check_query
        )

    def _run(self, steps: Steps[T]) -> T:
        return run(steps, self.clock)

    def _call(
        self, environment: str, op: Callable[[], Steps[T]], *, idempotent: bool, describe: str
    ) -> Steps[T]:
        """Run one request's steps through the environment's breaker, retried per the policy."""
        breaker = self._breaker(environment)

        def attempt() -> Steps[T]:
            try:
                return (yield from breaker.steps(op()))
            except LicenceExhausted as exc:
                # One 402 policy (ADR 0013): the session provider's shared backoff decides
                # how long; the breaker only mirrors it so callers fail fast meanwhile.
                if exc.retry_after:
                    breaker.open_for(exc.retry_after, "HTTP 402: shared licence backoff")
                raise

        with instrument.client_call(environment, describe) as call:
            result = yield from self.retry.steps(attempt, idempotent=idempotent, describe=describe)
            return call.done(result)

    # -- the verbs as steps (the async client drives the same ones, ADR 0024) -------------

    def _frame_steps(
        self,
        spec: _Read,
        progress: Progress | None,
        *,
        raw: bool,
        dtype_backend: DtypeBackend,
        cache: CacheMode = True,
    ) -> Steps[pd.DataFrame]:
        # pandas is imported on first use: the CLI's other commands start faster without it.
        from legacy_core.frames import FrameBuilder  # noqa: PLC0415

        # Raw frames are what pd.DataFrame(entities) gives, on every stack (ADR 0016).
        builder = FrameBuilder(
            columns=spec.query.attributes,
            dtype_backend=dtype_backend,
            like_records=raw and dtype_backend == "default",
        )

        def sink(item: Page | _Restart) -> None:
            if isinstance(item, _Restart):
                builder.reset()
            else:
                builder.add(item.records)

        if dtype_backend == "pyarrow":
            # Arrow all the way: pages decoded to columns, no Python object per value.
            table = yield from self._arrow_steps(spec, progress, cache=cache)
            return _arrow_frame(table)
        with _gc_paused() if self.pause_gc else contextlib.nullcontext():
            yield from self._stream(spec, progress, dedupe=False, sink=sink, cache=cache)
            return builder.build()

    def _arrow_steps(
        self, spec: _Read, progress: Progress | None, *, cache: CacheMode = True
    ) -> Steps[Any]:
        columnar = _columnar(spec)
        from legacy_core.columnar import ArrowBuilder  # noqa: PLC0415 - pyarrow, on use

        builder = ArrowBuilder(columns=spec.query.attributes)

        def sink(item: Page | _Restart) -> None:
            if isinstance(item, _Restart):
                builder.reset()
            else:
                builder.add(item.records)

        yield from self._stream(columnar, progress, dedupe=False, sink=sink, cache=cache)
        return builder.build()

    def _get_record_steps(
        self,
        table: str,
        key: str | int,
        *,
        raw: bool,
        environment: str | None,
        cache: CacheMode = True,
    ) -> Steps[Record]:
        env = self._env(environment)
        key_text = self._key(table, key)

        def direct() -> Steps[Record]:
            return self._call(
                env,
                lambda: self._ops.get_record(env, table, key_text, typed=not raw),
                idempotent=True,
                describe=f"get {table}",
            )

        return (
            yield from self._cached_value(
                env, table, "get", lambda: {"key": key_text, "typed": not raw}, cache, direct
            )
        )

    def _count_steps(
        self, table: str, where: Where, *, environment: str | None, cache: CacheMode = True
    ) -> Steps[int]:
        env = self._env(environment)
        query = Query(env, table, filter=_filter(where, table), top=1)

        def direct() -> Steps[int]:
            yield from self._check_query(query)
            page = yield from self._call(
                env, lambda: self._ops.read_page(query), idempotent=True, describe=f"count {table}"
            )
            return page.count

        return (
            yield from self._cached_value(
                env, table, "count", lambda: {"filter": _filter_shape(query)}, cache, direct
            )
        )

    def _snapshot_page_steps(
        self,
        table: str,
        *,
        entity_set: str | None,
        skip: int,
        limit: int,
        where: Where,
        fields: Sequence[str] | str | None,
        order_by: Sequence[str] | str | None,
        raw: bool,
        environment: str | None,
    ) -> Steps[Page]:
        spec = self._plan(
            table,
            where=where,
            fields=fields,
            order_by=order_by,
            limit=limit,
            skip=skip,
            page_size=max(limit, 1),
            workers=1,
            consistent=True,
            raw=raw,
            environment=environment,
        )
        query, env = spec.query, spec.query.environment
        if limit < 1:  # 4D reads $top=0 as "its default page", not as no rows
            msg = f"limit of a snapshot page must be >= 1, not {limit}"
            raise InvalidQuery(msg, environment=env, table=table)
        yield from self._check_query(query)
        if entity_set is None:
            first = query.page(skip, limit)
            # Complete: a cancel here would leave a set on the server whose name is lost.
            opened: Page = yield Complete(
                self._call(
                    env,
                    lambda: self._ops.open_snapshot(first, self.snapshot_timeout),
                    idempotent=True,
                    describe=f"open snapshot of {table}",
                )
            )
            return opened
        window = attrs.evolve(query, entity_set=entity_set).page(skip, limit)
        page = yield from self._call(
            env, lambda: self._ops.read_page(window), idempotent=True, describe=f"read {table}"
        )
        return page if page.entity_set == entity_set else attrs.evolve(page, entity_set=entity_set)

    def _tables_steps(self, environment: str | None) -> Steps[list[str]]:
        env = self._env(environment)
        return (
            yield from self._call(
                env, lambda: self._ops.tables(env), idempotent=True, describe="list tables"
            )
        )

    def _update_many_steps(
        self,
        updates: Iterable[FieldUpdate | Mapping[str, Any]],
        *,
        atomic: bool,
        batch_size: int | None,
        environment: str | None,
    ) -> Steps[list[WriteResult]]:
        _check_batch_size(batch_size)
        items = [self._update(u, environment) for u in updates]
        groups: dict[tuple[str, str], list[int]] = {}
        for index, update in enumerate(items):
            assert update.environment is not None  # set by _update
            groups.setdefault((update.environment, update.table), []).append(index)
        if atomic and len(groups) > 1:
            msg = f"an atomic update covers one table of one environment, got {sorted(groups)}"
            raise InvalidQuery(msg)
        limit = self._request_limit()
        plans: list[tuple[str, str, list[list[int]]]] = []
        for (env, table), indices in groups.items():
            batches = _batches(items, indices, limit, batch_size, table)
            if atomic and len(batches) > 1:
                msg = (
                    f"atomic update of {len(indices)} entities of {table} does not fit one "
                    f"request of {limit} bytes; use atomic=False or fewer updates"
                )
                raise InvalidQuery(msg, environment=env, table=table)
            plans.append((env, table, batches))
        for (env, table), indices in groups.items():
            names = [n for i in indices for n in items[i].values]
            yield from self._check_fields(env, table, names)
        started = self.clock.monotonic()

        def send(env: str, table: str, batch: list[int]) -> Steps[list[WriteResult]]:
            return self._write(env, table, [items[i] for i in batch], atomic=atomic)

        try:
            outcomes, requests = yield from self._apply(
                plans, [u.key for u in items], send, atomic=atomic
            )
        finally:
            for env, table in groups:
                yield from self._invalidate(env, [table], "update")
        done = [o for o in outcomes if o is not None]
        _log.info(
            "legacy_api.write.done",
            updates=len(items),
            requests=requests,
            atomic=atomic,
            saved=sum(o.applied for o in done),
            failed=sum(not o.applied for o in done),
            elapsed=round(self.clock.monotonic() - started, 4),
        )
        return self._results(outcomes, lambda o: items[o.index].environment)

    def _create_steps(
        self, table: str, values: Mapping[str, Any], *, environment: str | None
    ) -> Steps[WriteResult]:
        env = self._env(environment)
        validate_identifier(table, "table")
        row = _new_row(table, values, env)
        yield from self._check_fields(env, table, row)
        try:
            result = yield from self._call(
                env,
                lambda: self._ops.create(env, table, row),
                idempotent=False,  # a create that may have been applied is never resent
                describe=f"create {table}",
            )
        finally:
            yield from self._invalidate(env, [table], "create")
        _log.info("legacy_api.create.done", environment=env, table=table, key=result.key)
        return result

    def _create_many_steps(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int | None,
        environment: str | None,
    ) -> Steps[list[WriteResult]]:
        _check_batch_size(batch_size)
        env = self._env(environment)
        validate_identifier(table, "table")
        if isinstance(rows, Mapping) or not isinstance(rows, Iterable):
            msg = f"rows must be an iterable of mappings (one per entity), not {describe(rows)}"
            raise InvalidQuery(msg, environment=env, table=table)
        items = [_new_row(table, row, env) for row in rows]
        if not items:
            return []
        yield from self._check_fields(env, table, [n for row in items for n in row])
        batches = _row_batches(items, self._request_limit(), batch_size, table, env)
        started = self.clock.monotonic()

        def send(env: str, table: str, batch: list[int]) -> Steps[list[WriteResult]]:
            chunk = [items[i] for i in batch]
            return self._call(
                env,
                lambda: self._ops.create_many(env, table, chunk),
                idempotent=False,  # never resent when the server may have created them
                describe=f"create {table}",
            )

        try:
            outcomes, requests = yield from self._apply(
                [(env, table, batches)], [None] * len(items), send, atomic=False
            )
        finally:
            yield from self._invalidate(env, [table], "create")
        done = [o for o in outcomes if o is not None]
        _log.info(
            "legacy_api.create.done",
            environment=env,
            table=table,
            rows=len(items),
            requests=requests,
            created=sum(o.applied for o in done),
            failed=sum(not o.applied for o in done),
            elapsed=round(self.clock.monotonic() - started, 4),
        )
        return self._results(outcomes, lambda _o: env)

    def _delete_steps(
        self,
        table: str,
        key: str | int,
        *,
        expected_stamp: int | None,
        environment: str | None,
    ) -> Steps[None]:
        env = self._env(environment)
        validate_identifier(table, "table")
        key_text = self._key(table, key)
        if expected_stamp is not None and (
            isinstance(expected_stamp, bool)
            or not isinstance(expected_stamp, int)
            or not 0 <= expected_stamp <= INT64_MAX
        ):
            msg = f"expected_stamp must be None or an int >= 0, not {describe(expected_stamp)}"
            raise InvalidQuery(msg, environment=env, table=table, not_applied=True)
        try:
            yield from self._call(
                env,
                lambda: self._ops.delete(env, table, key_text, expected_stamp=expected_stamp),
                idempotent=False,  # a delete that may have been applied is never resent
                describe=f"delete {table}",
            )
        finally:
            yield from self._invalidate(env, [table], "delete")
        _log.info("legacy_api.delete.done", environment=env, table=table, key=key_text)

    def _describe_steps(self, table: str, *, environment: str | None) -> Steps[TableSchema]:
        env = self._env(environment)
        validate_identifier(table, "table")
        if not self._ops.describes:
            msg = f"{type(self.reader).__name__} cannot describe tables (no SchemaReader)"
            raise ConfigurationError(msg, environment=env, table=table)
        return (yield from self._describe_call(env, table))

    def _describe_call(self, env: str, table: str) -> Steps[TableSchema]:
        return (
            yield from self._call(
                env,
                lambda: self._ops.describe(env, table),
                idempotent=True,
                describe=f"describe {table}",
            )
        )

    # -- internals: the read cache (ADR 0030) --------------------------------------------

    def _cache_scope(self, env: str) -> str:
        # Two deployments naming different servers "live" never share entries.
        environment = self.environments.get(env)
        return environment.url_hash if environment is not None else "-"

    def _cached(self, env: str, table: str, cache: object) -> tuple[ReadCache, CacheMode] | None:
        """The cache and the mode of a read of ``table``, or None when it goes to 4D."""
        mode = check_mode(cache, table=table, environment=env)
        rc = self.read_cache
        if rc is None or rc.ttl(env, table) is None:
            return None
        return rc, mode

    def _stream(
        self,
        spec: _Read,
        progress: Progress | None,
        *,
        dedupe: bool,
        sink: Callable[[Page | _Restart], None] | None = None,
        cache: CacheMode = True,
    ) -> Steps[None]:
        """The pager's stream of ``spec``, through the read cache when its table is cached."""
        query = spec.query

        def direct() -> Steps[None]:
            return self._pager().stream(spec, progress, dedupe=dedupe, sink=sink)

        cached = self._cached(query.environment, query.table, cache)
        if cached is None or query.expand:
            # An expanded read holds other tables' rows, which their writes would not
            # invalidate: it goes to 4D (its batched lookups are cached per table).
            return (yield from direct())
        rc, mode = cached
        if mode is False:
            rc.bypass(query.environment, query.table, "read")
            return (yield from direct())
        try:
            shape = _read_shape(spec)
        except InvalidQuery:
            return (yield from direct())  # the read itself reports what is wrong
        scope = self._cache_scope(query.environment)
        entry = rc.entry(query.environment, scope, query.table, "read", shape)

        def fetch() -> Steps[tuple[None, bytes | str]]:
            collector = PageCollector(query.columnar, rc.max_bytes)
            if sink is not None:

                def both(item: Page | _Restart) -> None:
                    collector.add(item)
                    sink(item)

                yield from self._pager().stream(spec, progress, dedupe=dedupe, sink=both)
            else:
                yield from tap(self._pager().stream(spec, progress, dedupe=dedupe), collector.add)
            return None, collector.payload()

        def decode(payload: bytes) -> tuple[Sequence[Record], int]:
            if query.columnar:
                table, count = decode_arrow(payload)
                return arrow_records(table), count
            return decode_rows(payload)

        def serve(found: tuple[Sequence[Record], int]) -> Steps[None]:
            records, count = found
            return serve_pages(
                records,
                count,
                skip=spec.skip,
                page_size=spec.page_size,
                limit=spec.limit,
                progress=progress,
                sink=sink,
            )

        return (
            yield from rc.read_steps(
                entry, mode, fetch=fetch, decode=decode, serve=serve, direct=direct
            )
        )

    def _cached_value(  # noqa: PLR0917 - private, called twice
        self,
        env: str,
        table: str,
        kind: str,
        shape: Callable[[], Mapping[str, Any]],
        cache: object,
        direct: Callable[[], Steps[T]],
    ) -> Steps[T]:
        """One record or one count (``direct``'s result) through the read cache."""
        cached = self._cached(env, table, cache)
        if cached is None:
            return (yield from direct())
        rc, mode = cached
        if mode is False:
            rc.bypass(env, table, kind)
            return (yield from direct())
        try:
            key_shape = dict(shape())
        except InvalidQuery:
            return (yield from direct())  # the read itself reports what is wrong
        entry = rc.entry(env, self._cache_scope(env), table, kind, key_shape)

        def fetch() -> Steps[tuple[T, bytes | str]]:
            value = yield from direct()
            try:
                return value, encode_rows([{"v": value}], 1)
            except Unencodable as exc:
                return value, str(exc)

        def decode(payload: bytes) -> T:
            return cast(T, decode_rows(payload)[0][0]["v"])

        return (
            yield from rc.read_steps(
                entry, mode, fetch=fetch, decode=decode, serve=just, direct=direct
            )
        )

    def _invalidate(self, env: str, tables: Sequence[str], verb: str) -> Steps[None]:
        """After a write that may have been applied: the cached ``tables`` go stale."""
        if self.read_cache is not None:
            scope = self._cache_scope(env)
            yield from self.read_cache.invalidate_steps(env, scope, tables, verb)

    def _check_query(self, query: Query) -> Steps[None]:
        """Refuse the query's unknown field names (fields, order, filter) before any request."""
        names = [*query.attributes, *(o.field for o in query.order_by)]
        if query.filter is not None:
            names.extend(attributes_of(query.filter))
        yield from self._check_fields(query.environment, query.table, names)

    def _check_fields(self, env: str, table: str, names: Iterable[str]) -> Steps[None]:
        """UnknownField for a name ``table`` lacks, when the reader can describe it.

        The schema is the reader's cached one (one ``$catalog/{Table}`` per TTL); system
        attributes (``__KEY``, ``__STAMP``, ``__TIMESTAMP``) always pass.
        """
        wanted = [n for n in dict.fromkeys(names) if n not in SYSTEM_ATTRIBUTES]
        if not wanted or not self._ops.describes:
            return
        schema = yield from self._describe_call(env, table)
        schema.check(wanted, environment=env)

    def _health_steps(self) -> Steps[dict[str, dict[str, Any]]]:
        report: dict[str, dict[str, Any]] = {}
        for name in self.environments:
            breaker = self._breaker(name)
            started = self.clock.monotonic()
            entry: dict[str, Any] = {"ok": False, "latency": None, "error": None}
            try:
                yield from breaker.steps(self._ops.probe(name))
            except LegacyError as exc:
                entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            else:
                entry["ok"] = True
            entry["latency"] = round(self.clock.monotonic() - started, 4)
            entry["breaker"] = breaker.state
            env = self.environments[name]
            if env is not None:
                entry["url"] = env.base_url
            report[name] = entry
        return report


@attrs.define
class LegacyClient(ClientCore):
    """The facade over a TableReader and a FieldWriter, one per deployment.

    ``environments`` are the names a call may choose with ``environment=`` (default
    ``default_environment``). ``breakers`` is a mapping per environment or a factory
    ``name -> CircuitBreaker``; missing ones are created with ``clock``. Thread-safe:
    one client serves every thread of a process. ``AsyncLegacyClient`` has the same
    verbs for asyncio. ``closers`` are called by :meth:`close` (``with client:``).
    """

    closers: tuple[Callable[[], None], ...] = attrs.field(default=(), kw_only=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections this client opened (the 4D sessions stay shared).

        A closed client still works: its transport opens new connections when used again.
        """
        for close in self.closers:
            close()

    # -- reads ---------------------------------------------------------------------------

    def fetch_frame(
        self,
        table: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        workers: int | None = None,
        consistent: bool = True,
        raw: bool = False,
        environment: str | None = None,
        progress: Progress | None = None,
        cache: CacheMode = True,
        dtype_backend: DtypeBackend = "default",
    ) -> pd.DataFrame:
        """Read ``table`` into a DataFrame, columns in server order.

        ``raw=True`` keeps values exactly as 4D sent them (``D!M!YYYY`` strings) and,
        with the default ``dtype_backend``, builds what ``pd.DataFrame(entities)`` builds
        (dtypes, ``NaN``/``None``, column order); otherwise the adapter decodes them.
        Pages are converted one at a time so memory stays near the size of the result.
        An empty result is an empty frame with the requested ``fields`` as columns.

        A table named in the ``cache`` setting is read through the read cache (ADR 0030),
        as are the other read verbs: ``cache=False`` reads 4D and stores nothing,
        ``cache="refresh"`` reads 4D and replaces the entry.
        """
        spec = self._plan(
            table,
            where=where,
            fields=fields,
            order_by=order_by,
            limit=limit,
            skip=skip,
            page_size=page_size,
            workers=workers,
            consistent=consistent,
            raw=raw,
            environment=environment,
        )
        return self._run(
            self._frame_steps(spec, progress, raw=raw, dtype_backend=dtype_backend, cache=cache)
        )

    def fetch_arrow(
        self,
        table: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        workers: int | None = None,
        consistent: bool = True,
        raw: bool = False,
        environment: str | None = None,
        progress: Progress | None = None,
        cache: CacheMode = True,
    ) -> Any:
        """Read ``table`` into a ``pyarrow.Table``, decoding pages straight to columns.

        The arguments and the snapshot guarantee are ``fetch_frame``'s. Typed columns:
        dates ``date32`` (``0!0!0`` null), times ``time32[ms]`` (``duration[ms]`` past
        24 h), ``__TIMESTAMP`` ``timestamp[ms, UTC]``, relations their key, 4D Objects
        structs, or JSON text (``arrow.json``) where their shape varies; ``raw`` keeps
        4D's strings. With ``workers > 1`` pages decode in parallel (pyarrow releases
        the GIL). Needs pyarrow (the ``arrow`` extra).
        """
        spec = self._plan(
            table,
            where=where,
            fields=fields,
            order_by=order_by,
            limit=limit,
            skip=skip,
            page_size=page_size,
            workers=workers,
            consistent=consistent,
            raw=raw,
            environment=environment,
        )
        return self._run(self._arrow_steps(spec, progress, cache=cache))

    def fetch_polars(
        self,
        table: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        workers: int | None = None,
        consistent: bool = True,
        raw: bool = False,
        environment: str | None = None,
        progress: Progress | None = None,
        cache: CacheMode = True,
    ) -> Any:
        """``fetch_arrow`` as a ``polars.DataFrame`` (zero-copy from Arrow); needs polars."""
        polars = _polars()
        arrow = self.fetch_arrow(
            table,
            where=where,
            fields=fields,
            order_by=order_by,
            limit=limit,
            skip=skip,
            page_size=page_size,
            workers=workers,
            consistent=consistent,
            raw=raw,
            environment=environment,
            progress=progress,
            cache=cache,
        )
        return polars.from_arrow(arrow)

    def iter_batches(
        self,
        table: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        workers: int | None = None,
        consistent: bool = True,
        raw: bool = False,
        environment: str | None = None,
        progress: Progress | None = None,
        cache: CacheMode = True,
    ) -> Iterator[Any]:
        """Yield a read as ``pyarrow.RecordBatch``es, one per page, in order.

        Memory stays at a few pages whatever the table's size; the rows and the snapshot
        rules are ``iter_pages``'. Column types are ``fetch_arrow``'s; a batch's schema
        can differ from the previous one where a page's values do (a column all null, an
        Object attribute of another shape): ``legacy_core.columnar.unify_tables`` joins
        them as ``fetch_arrow`` does. Needs pyarrow.
        """
        spec = _columnar(
            self._plan(
                table,
                where=where,
                fields=fields,
                order_by=order_by,
                limit=limit,
                skip=skip,
                page_size=page_size,
                workers=workers,
                consistent=consistent,
                raw=raw,
                environment=environment,
            )
        )
        for item in stream(self._stream(spec, progress, dedupe=True, cache=cache), self.clock):
            if not isinstance(item, _Restart):  # pragma: no branch - dedupe never restarts
                yield from _batches_of(item.records)

    def iter_pages(
        self,
        table: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        workers: int | None = None,
        consistent: bool = True,
        raw: bool = False,
        environment: str | None = None,
        progress: Progress | None = None,
        cache: CacheMode = True,
    ) -> Iterator[Page]:
        """Yield the pages of a read in order; the snapshot is released when it ends or closes."""
        spec = self._plan(
            table,
            where=where,
            fields=fields,
            order_by=order_by,
            limit=limit,
            skip=skip,
            page_size=page_size,
            workers=workers,
            consistent=consistent,
            raw=raw,
            environment=environment,
        )
        for item in stream(self._stream(spec, progress, dedupe=True, cache=cache), self.clock):
            if not isinstance(item, _Restart):  # pragma: no branch - dedupe never restarts
                yield item

    def iter_records(
        self,
        table: str,
        *,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        skip: int = 0,
        page_size: int | None = None,
        workers: int | None = None,
        consistent: bool = True,
        raw: bool = False,
        environment: str | None = None,
        progress: Progress | None = None,
        cache: CacheMode = True,
    ) -> Iterator[Record]:
        """Yield the records of a read one by one, in order."""
        for page in self.iter_pages(
            table,
            where=where,
            fields=fields,
            order_by=order_by,
            limit=limit,
            skip=skip,
            page_size=page_size,
            workers=workers,
            consistent=consistent,
            raw=raw,
            environment=environment,
            progress=progress,
            cache=cache,
        ):
            yield from page.records

    def get_record(
        self,
        table: str,
        key: str | int,
        *,
        raw: bool = False,
        environment: str | None = None,
        cache: CacheMode = True,
    ) -> Record:
        """One entity by ``__KEY``; RecordNotFound when there is none.

        Values are typed (dates as ``datetime.date``) unless ``raw``, like ``read``.
        """
        return self._run(
            self._get_record_steps(table, key, raw=raw, environment=environment, cache=cache)
        )

    def count(
        self,
        table: str,
        where: Where = None,
        *,
        environment: str | None = None,
        cache: CacheMode = True,
    ) -> int:
        """Count the entities of ``table`` matching ``where`` (one small request)."""
        return self._run(self._count_steps(table, where, environment=environment, cache=cache))

    def snapshot_page(
        self,
        table: str,
        *,
        entity_set: str | None = None,
        skip: int = 0,
        limit: int = 100,
        where: Where = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        raw: bool = False,
        environment: str | None = None,
    ) -> Page:
        """One page of a snapshot that outlives the call (a cursor over a 4D entity set).

        Without ``entity_set`` it opens a snapshot of ``where``/``order_by`` (4D entity set,
        ``snapshot_timeout`` idle seconds) and returns its page at ``skip``; the page's
        ``entity_set`` names it. With ``entity_set`` it reads the window ``skip``/``limit``
        of that snapshot: rows inserted or deleted since do not shift it. The set is left
        to expire (nothing releases it); reading an expired one raises EntitySetExpired.
        """
        return self._run(
            self._snapshot_page_steps(
                table,
                entity_set=entity_set,
                skip=skip,
                limit=limit,
                where=where,
                fields=fields,
                order_by=order_by,
                raw=raw,
                environment=environment,
            )
        )

    def tables(self, environment: str | None = None) -> list[str]:
        """List the table names of the environment."""
        return self._run(self._tables_steps(environment))

    # -- writes --------------------------------------------------------------------------

    def push_field(
        self,
        table: str,
        key: str | int,
        field: str,
        value: Any,
        *,
        expected_stamp: int | None = None,
        environment: str | None = None,
    ) -> WriteResult:
        """Set one field of one entity; with ``expected_stamp`` only if it is unchanged."""
        update = self._field_update(
            table,
            key=key,
            field=field,
            value=value,
            expected_stamp=expected_stamp,
            environment=environment,
        )
        return self.update_many([update], environment=environment)[0]

    def update_many(
        self,
        updates: Iterable[FieldUpdate | Mapping[str, Any]],
        *,
        atomic: bool = False,
        batch_size: int | None = None,
        environment: str | None = None,
    ) -> list[WriteResult]:
        """Apply many updates in as few requests as the server's request size allows.

        Updates are grouped per (environment, table), keeping their order within a
        group, and sent in batches whose encoded size stays under the writer's
        ``max_request_size`` (and at most ``batch_size`` updates when given). Results come
        back in input order. Writes are retried only when the server certainly did not
        apply them. With ``atomic`` all updates must fit one request of one table
        (4D ``$atomic``), else InvalidQuery before anything is sent, and a failure saves
        nothing. Without it every update is attempted (4D saves the others of a batch when
        one fails) and, if some were not saved, :class:`~legacy_core.errors.PartialWrite`
        carries one outcome per input update: saved, conflict, rejected, not_sent or
        unknown (a request that failed after sending). A request that fails as a whole
        stops the later batches (``not_sent``). One update raises its own error.
        """
        return self._run(
            self._update_many_steps(
                updates, atomic=atomic, batch_size=batch_size, environment=environment
            )
        )

    def create(
        self, table: str, values: Mapping[str, Any], *, environment: str | None = None
    ) -> WriteResult:
        """Create one entity of ``table``; its result carries the new ``__KEY`` and ``__STAMP``.

        Field names are checked against the table's schema first (UnknownField). A create
        is never resent when the server may have applied it (a timeout after sending
        raises; read back before trying again).
        """
        return self._run(self._create_steps(table, values, environment=environment))

    def create_many(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int | None = None,
        environment: str | None = None,
    ) -> list[WriteResult]:
        """Create many entities of ``table`` in as few requests as the request size allows.

        Batched like :meth:`update_many` (under ``max_request_size``, at most
        ``batch_size`` rows per request); one result (key, stamp) per row in input order.
        If some were not created, :class:`~legacy_core.errors.PartialWrite` carries one
        outcome per row (``unknown`` for a request that failed after sending: those may
        exist, look before creating them again). One row raises its own error.
        """
        return self._run(
            self._create_many_steps(table, rows, batch_size=batch_size, environment=environment)
        )

    def delete(
        self,
        table: str,
        key: str | int,
        *,
        expected_stamp: int | None = None,
        environment: str | None = None,
    ) -> None:
        """Delete one entity by ``__KEY`` (4D ``$method=delete``); RecordNotFound if none.

        With ``expected_stamp`` only if the entity is unchanged, else StampConflict with
        its current values (4D's delete takes no stamp: the entity is read just before,
        see ADR 0027). Never resent when the server may have applied it.
        """
        self._run(
            self._delete_steps(table, key, expected_stamp=expected_stamp, environment=environment)
        )

    # -- schema --------------------------------------------------------------------------

    def describe(self, table: str, environment: str | None = None) -> TableSchema:
        """The schema of ``table``: fields, 4D types, simple dates, relations, primary key.

        From ``$catalog/{Table}``, cached per environment for ``schema_ttl`` seconds (the
        same cache the field-name checks use). UnknownTable if there is none.
        """
        return self._run(self._describe_steps(table, environment=environment))

    # -- typed tables (ADR 0029) -----------------------------------------------------------

    def table(self, name: str, *, model: Any = None, environment: str | None = None) -> Table[Any]:
        """Typed access to one table: where, get, iter, frame, create, update and delete.

        ``model``: None (rows as dicts, written values checked against the 4D types),
        ``"auto"`` (a pydantic model generated from the schema) or your own pydantic
        ``BaseModel`` subclass; models need pydantic (``legacy-api[typed]``).
        """
        from legacy_core.tables import Table  # noqa: PLC0415 - tables imports this module

        validate_identifier(name, "table")
        self._env(environment)
        return Table(self, name, model=model, environment=environment)

    # -- health --------------------------------------------------------------------------

    def health(self) -> dict[str, dict[str, Any]]:
        """Probe every environment once (no retries): ok, latency, breaker state, error.

        Uses the reader's ``info(environment)`` when it has one (4D ``$info``), else
        ``tables``. Errors are reported, not raised; the probe goes through the breaker,
        so an open breaker reports its CircuitOpen without a request.
        """
        return self._run(self._health_steps())


@attrs.frozen
class _Ops:
    """The reader and writer as steps (ADR 0024).

    A reader or writer with steps of its own (:class:`~legacy_core.ports.SteppedReader`,
    the 4D adapter) is driven through them; any other port's blocking methods become a
    ``Blocking`` effect, which the sync driver just calls and the async driver runs on a
    worker thread.
    """

    reader: TableReader
    writer: FieldWriter
    stepped_reader: bool
    stepped_writer: bool
    stepped_schema: bool = False
    describes: bool = False
    """Whether the reader can describe tables (SchemaReader): field names get checked."""

    @classmethod
    def of(cls, reader: TableReader, writer: FieldWriter) -> _Ops:
        stepped_schema = isinstance(reader, SteppedSchemaReader)
        return cls(
            reader,
            writer,
            isinstance(reader, SteppedReader),
            isinstance(writer, SteppedWriter),
            stepped_schema,
            stepped_schema or isinstance(reader, SchemaReader),
        )

    def describe(self, environment: str, table: str) -> Steps[TableSchema]:
        r = self.reader
        if self.stepped_schema:
            return cast(SteppedSchemaReader, r).describe_steps(environment, table)
        return blocking(lambda: cast(SchemaReader, r).describe(environment, table))

    def create(self, environment: str, table: str, values: Record) -> Steps[WriteResult]:
        w = self.writer
        if self.stepped_writer:
            return cast(SteppedWriter, w).create_steps(environment, table, values)
        return blocking(lambda: w.create(environment, table, values))

    def create_many(
        self, environment: str, table: str, rows: list[dict[str, Any]]
    ) -> Steps[list[WriteResult]]:
        w = self.writer
        if self.stepped_writer:
            return cast(SteppedWriter, w).create_many_steps(environment, table, rows)
        return blocking(lambda: w.create_many(environment, table, rows))

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None
    ) -> Steps[None]:
        w = self.writer
        if self.stepped_writer:
            return cast(SteppedWriter, w).delete_steps(
                environment, table, key, expected_stamp=expected_stamp
            )
        return blocking(lambda: w.delete(environment, table, key, expected_stamp=expected_stamp))

    def read_page(self, query: Query) -> Steps[Page]:
        r = self.reader
        if self.stepped_reader:
            return cast(SteppedReader, r).read_page_steps(query)
        return blocking(lambda: r.read_page(query))

    def open_snapshot(self, query: Query, timeout: float) -> Steps[Page]:
        r = self.reader
        if self.stepped_reader:
            return cast(SteppedReader, r).open_snapshot_steps(query, timeout)
        return blocking(lambda: r.open_snapshot(query, timeout))

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> Steps[None]:
        r = self.reader
        if self.stepped_reader:
            return cast(SteppedReader, r).release_snapshot_steps(environment, table, entity_set)
        return blocking(lambda: r.release_snapshot(environment, table, entity_set))

    def get_record(self, environment: str, table: str, key: str, *, typed: bool) -> Steps[Record]:
        r = self.reader
        if self.stepped_reader:
            return cast(SteppedReader, r).get_record_steps(environment, table, key, typed=typed)
        return blocking(lambda: r.get_record(environment, table, key, typed=typed))

    def tables(self, environment: str) -> Steps[list[str]]:
        r = self.reader
        if self.stepped_reader:
            return cast(SteppedReader, r).tables_steps(environment)
        return blocking(lambda: r.tables(environment))

    def write(self, chunk: list[FieldUpdate], *, atomic: bool) -> Steps[list[WriteResult]]:
        w = self.writer
        if self.stepped_writer:
            return cast(SteppedWriter, w).write_steps(chunk, atomic=atomic)
        return blocking(lambda: w.write(chunk, atomic=atomic))

    def probe(self, name: str) -> Steps[object]:
        """The health probe: ``info`` (4D ``$info``) when the reader has it, else ``tables``."""
        r = self.reader
        if isinstance(r, SteppedHealthProbe):
            return r.info_steps(name)
        if isinstance(r, HealthProbe):
            return blocking(lambda: r.info(name))
        return self.tables(name)


def _filter(where: object, table: str) -> Filter | None:
    return where_filter(where, table=table)


def _filter_shape(query: Query) -> list[Any] | None:
    """The filter as 4D gets it (text and params): what the cache key depends on."""
    if query.filter is None:
        return None
    rendered = render(query.filter)
    return [rendered.text, list(rendered.params)]


def _read_shape(spec: _Read) -> dict[str, Any]:
    """Everything that decides a read's rows and values (not how it is paged)."""
    query = spec.query
    return {
        "filter": _filter_shape(query),
        "fields": list(query.attributes),
        "order": [[o.field, o.descending] for o in query.order_by],
        "typed": query.typed,
        "columnar": query.columnar,
        "expand": list(query.expand),
        "limit": spec.limit,
        "skip": spec.skip,
    }


def _update_from_mapping(data: Mapping[str, Any], environment: str) -> FieldUpdate:
    try:
        table, key = data["table"], data["key"]
    except KeyError as exc:
        msg = f"update mapping needs 'table' and 'key', missing {exc.args[0]!r}: {sorted(data)}"
        raise InvalidQuery(msg) from None
    if "values" in data:
        values = data["values"]
    elif "field" in data:
        values = {data["field"]: data.get("value")}
    else:
        msg = f"update of {table}[{key}] needs 'values' or 'field'/'value'"
        raise InvalidQuery(msg, table=table)
    return FieldUpdate(
        table,
        ClientCore._key(table, key),
        values,
        data.get("expected_stamp"),
        environment,
    )


def _encoded_size(update: FieldUpdate) -> int:
    """Estimate the update's JSON size as 4D receives it (dates rendered as text)."""
    body: dict[str, Any] = {"__KEY": update.key, **update.values}
    if update.expected_stamp is not None:
        body["__STAMP"] = update.expected_stamp
    text = json.dumps(body, default=str, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode()) + 1  # the comma between array items


def _batches(
    items: Sequence[FieldUpdate], indices: list[int], limit: int, batch_size: int | None, table: str
) -> list[list[int]]:
    batches: list[list[int]] = []
    current: list[int] = []
    size = 2  # "[]"
    for index in indices:
        item_size = _encoded_size(items[index])
        if item_size + 2 > limit:
            msg = (
                f"update of {table}[{items[index].key}] is {item_size} bytes encoded, over the "
                f"server's request size limit of {limit} bytes"
            )
            raise InvalidQuery(msg, environment=items[index].environment, table=table)
        full = batch_size is not None and len(current) >= batch_size
        if current and (size + item_size > limit or full):
            batches.append(current)
            current, size = [], 2
        current.append(index)
        size += item_size
    if current:
        batches.append(current)
    return batches


def _check_batch_size(batch_size: object) -> None:
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        msg = f"batch_size must be None or an int >= 1, not {batch_size!r}"
        raise InvalidQuery(msg)


def _new_row(table: str, values: object, environment: str) -> dict[str, Any]:
    """Check the field values of an entity to create (names, no system ones, writable values)."""
    if not isinstance(values, Mapping):
        msg = f"a new {table} entity must be a mapping of field values, not {describe(values)}"
        raise InvalidQuery(msg, environment=environment, table=table, not_applied=True)
    row = dict(values)
    for name, value in row.items():
        validate_identifier(name, "field")
        if name.startswith("__"):
            msg = f"{name} is managed by 4D and cannot be written"
            raise InvalidQuery(msg, environment=environment, table=table, not_applied=True)
        check_write_value(
            value,
            f"new {table}.{name}",
            environment=environment,
            table=table,
            not_applied=True,  # refused before anything was sent
        )
    return row


def _row_size(row: Mapping[str, Any]) -> int:
    """Estimate a new entity's JSON size as 4D receives it (dates rendered as text)."""
    text = json.dumps(row, default=str, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode()) + 1  # the comma between array items


def _row_batches(
    rows: Sequence[Mapping[str, Any]],
    limit: int,
    batch_size: int | None,
    table: str,
    environment: str,
) -> list[list[int]]:
    """Indices of ``rows`` in batches under ``limit`` bytes and ``batch_size`` rows."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 2  # "[]"
    for index, row in enumerate(rows):
        item_size = _row_size(row)
        if item_size + 2 > limit:
            msg = (
                f"new {table} entity #{index} is {item_size} bytes encoded, over the "
                f"server's request size limit of {limit} bytes"
            )
            raise InvalidQuery(msg, environment=environment, table=table, not_applied=True)
        full = batch_size is not None and len(current) >= batch_size
        if current and (size + item_size > limit or full):
            batches.append(current)
            current, size = [], 2
        current.append(index)
        size += item_size
    if current:
        batches.append(current)
    return batches
