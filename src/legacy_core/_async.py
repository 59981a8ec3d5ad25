"""``AsyncLegacyClient``: the verbs of ``LegacyClient`` for asyncio, on the same steps.

Nothing here decides anything about 4D, retries, the breaker or paging: every verb is
the sync client's own steps (``ClientCore._*_steps``, ADR 0024) driven by an
:class:`~legacy_core.ports.AsyncDriver` instead of the blocking driver. So the two
clients cannot drift apart, and one session per environment is shared with every sync
client of the deployment (the same provider and stores). Built by
``legacy_api.build_async_client()``; use it as ``async with client:``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs

from legacy_core._paging import _Restart
from legacy_core.cache import CacheMode
from legacy_core.model import FieldUpdate, Page, Record, WriteResult, validate_identifier
from legacy_core.ports import AsyncDriver
from legacy_core.schema import TableSchema
from legacy_core.service import ClientCore, Progress, Where, _batches_of, _columnar

if TYPE_CHECKING:
    import pandas as pd

    from legacy_core.frames import DtypeBackend
    from legacy_core.tables import AsyncTable

__all__ = ["AsyncLegacyClient"]


@attrs.define
class AsyncLegacyClient(ClientCore):
    """The asyncio facade: ``LegacyClient``'s verbs and semantics, awaited.

    ``driver`` runs the steps on the event loop (an async transport is awaited; logins
    and ports without steps run on a worker thread). Pages of a read run as up to
    ``workers`` concurrent requests (tasks, no threads). Cancelling a read releases its
    4D entity set; a login that is cancelled while it runs completes in its thread, so
    the store never holds half a session. ``closers`` are awaited by :meth:`aclose`.
    """

    driver: AsyncDriver = attrs.field(kw_only=True)
    closers: tuple[Callable[[], Awaitable[None]], ...] = attrs.field(default=(), kw_only=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the async transport's connections (the sessions stay for other clients)."""
        for close in self.closers:
            await close()

    # -- reads ---------------------------------------------------------------------------

    async def fetch_frame(
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
        """Read ``table`` into a DataFrame: ``LegacyClient.fetch_frame``, awaited."""
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
        steps = self._frame_steps(spec, progress, raw=raw, dtype_backend=dtype_backend, cache=cache)
        return await self.driver.run(steps)

    async def fetch_arrow(
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
        """Read ``table`` into a ``pyarrow.Table``: ``LegacyClient.fetch_arrow``, awaited.

        Pages are decoded on worker threads while others are on the wire.
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
        return await self.driver.run(self._arrow_steps(spec, progress, cache=cache))

    async def iter_batches(
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
    ) -> AsyncGenerator[Any, None]:
        """Yield ``pyarrow.RecordBatch``es: ``LegacyClient.iter_batches``, async."""
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
        pages = self.driver.stream(self._stream(spec, progress, dedupe=True, cache=cache))
        try:
            async for item in pages:
                if not isinstance(item, _Restart):  # pragma: no branch - dedupe never restarts
                    for batch in _batches_of(item.records):
                        yield batch
        finally:
            await pages.aclose()

    async def iter_pages(
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
    ) -> AsyncGenerator[Page, None]:
        """Yield the pages of a read in order (``async for``); the snapshot is released at the end.

        Leaving the loop early (``break``, an exception, ``aclose()``) or cancelling the
        task releases the entity set too.
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
        pages = self.driver.stream(self._stream(spec, progress, dedupe=True, cache=cache))
        try:
            async for item in pages:
                if not isinstance(item, _Restart):  # pragma: no branch - dedupe never restarts
                    yield item
        finally:
            await pages.aclose()

    async def iter_records(
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
    ) -> AsyncGenerator[Record, None]:
        """Yield the records of a read one by one, in order (``async for``)."""
        pages = self.iter_pages(
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
        try:
            async for page in pages:
                for record in page.records:
                    yield record
        finally:
            await pages.aclose()

    async def get_record(
        self,
        table: str,
        key: str | int,
        *,
        raw: bool = False,
        environment: str | None = None,
        cache: CacheMode = True,
    ) -> Record:
        """One entity by ``__KEY``; RecordNotFound when there is none."""
        return await self.driver.run(
            self._get_record_steps(table, key, raw=raw, environment=environment, cache=cache)
        )

    async def count(
        self,
        table: str,
        where: Where = None,
        *,
        environment: str | None = None,
        cache: CacheMode = True,
    ) -> int:
        """Count the entities of ``table`` matching ``where`` (one small request)."""
        return await self.driver.run(
            self._count_steps(table, where, environment=environment, cache=cache)
        )

    async def snapshot_page(
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
        """One page of a snapshot that outlives the call (``LegacyClient.snapshot_page``)."""
        return await self.driver.run(
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

    async def tables(self, environment: str | None = None) -> list[str]:
        """List the table names of the environment."""
        return await self.driver.run(self._tables_steps(environment))

    # -- writes --------------------------------------------------------------------------

    async def push_field(
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
        return (await self.update_many([update], environment=environment))[0]

    async def update_many(
        self,
        updates: Iterable[FieldUpdate | Mapping[str, Any]],
        *,
        atomic: bool = False,
        batch_size: int | None = None,
        environment: str | None = None,
    ) -> list[WriteResult]:
        """Apply many updates in as few requests as possible: ``LegacyClient.update_many``.

        A cancelled write is an unknown outcome, as a timeout is: what was sent may
        have been applied, and nothing is resent.
        """
        steps = self._update_many_steps(
            updates, atomic=atomic, batch_size=batch_size, environment=environment
        )
        return await self.driver.run(steps)

    async def create(
        self, table: str, values: Mapping[str, Any], *, environment: str | None = None
    ) -> WriteResult:
        """Create one entity: ``LegacyClient.create``, awaited (a cancelled create is unknown)."""
        return await self.driver.run(self._create_steps(table, values, environment=environment))

    async def create_many(
        self,
        table: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int | None = None,
        environment: str | None = None,
    ) -> list[WriteResult]:
        """Create many entities in batches: ``LegacyClient.create_many``, awaited."""
        steps = self._create_many_steps(table, rows, batch_size=batch_size, environment=environment)
        return await self.driver.run(steps)

    async def delete(
        self,
        table: str,
        key: str | int,
        *,
        expected_stamp: int | None = None,
        environment: str | None = None,
    ) -> None:
        """Delete one entity: ``LegacyClient.delete``, awaited."""
        await self.driver.run(
            self._delete_steps(table, key, expected_stamp=expected_stamp, environment=environment)
        )

    # -- schema --------------------------------------------------------------------------

    async def describe(self, table: str, environment: str | None = None) -> TableSchema:
        """The schema of ``table``: ``LegacyClient.describe``, awaited."""
        return await self.driver.run(self._describe_steps(table, environment=environment))

    # -- health --------------------------------------------------------------------------

    def table(
        self, name: str, *, model: Any = None, environment: str | None = None
    ) -> AsyncTable[Any]:
        """Typed access to one table (``LegacyClient.table``), its verbs awaited."""
        from legacy_core.tables import AsyncTable  # noqa: PLC0415 - tables imports service

        validate_identifier(name, "table")
        self._env(environment)
        return AsyncTable(self, name, model=model, environment=environment)

    async def health(self) -> dict[str, dict[str, Any]]:
        """Probe every environment once (no retries): ok, latency, breaker state, error."""
        return await self.driver.run(self._health_steps())
