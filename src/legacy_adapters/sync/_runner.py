"""The sync runner: reads a mapping's changes through a LegacyClient and commits them to a sink.

Reads go through the client (sessions, retries, the request budget all apply). Each page
becomes one sink transaction holding its rows, its outbox events and the versions it
applied; the watermark moves only in the run's last transaction, so a crash anywhere
leaves the last committed batch as the point a re-run resumes from (ADR 0031).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from legacy_core import instrument
from legacy_core.errors import ConfigurationError
from legacy_core.query import field
from legacy_core.service import LegacyClient
from legacy_core.sync import (
    ChangeEvent,
    Checkpoint,
    EventHandler,
    FieldMap,
    GlobalStampWatermark,
    SyncMapping,
    Version,
    diff_rows,
    plan_read,
    position_of_moment,
    select_new,
)

from ._base import Batch, Column, Sink, storage_class, stored_form

__all__ = ["RunSummary", "SyncRunner"]

DELETED_RECORDS = "__DeletedRecords"


_RUN: contextvars.ContextVar[_RequestCounter | None] = contextvars.ContextVar(
    "legacy_api_sync_run", default=None
)


class _RequestCounter(instrument.NoInstrumentation):
    """Counts the HTTP exchanges made for one run (its context, copied into page workers)."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def http(self, event: instrument.HttpEvent) -> None:
        del event
        if _RUN.get() is self:
            with self._lock:
                self.requests += 1


@attrs.frozen
class RunSummary:
    """What one run did: rows read, entities created/updated/deleted, requests, seconds."""

    mapping: str
    full: bool
    rows_read: int
    keys_read: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    requests: int
    seconds: float
    position: int | None

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        kind = "full copy" if self.full else "incremental"
        return (
            f"{self.mapping}: {kind}, {self.rows_read:,} rows read"
            f"{f' (+{self.keys_read:,} keys)' if self.keys_read else ''}, "
            f"{self.created:,} created, {self.updated:,} updated, {self.deleted:,} deleted, "
            f"{self.requests:,} requests, {self.seconds:.2f} s"
        )


@attrs.define
class SyncRunner:
    """Runs one mapping into one sink; ``run()`` is one incremental (or the first, full) run.

    ``handlers`` get each batch's events before its commit (at-least-once delivery); the
    sink's ``_legacy_sync_events`` outbox gets them in the batch's transaction (exactly
    once). ``batch_size`` is the page size of the read and so the rows per transaction.
    """

    client: LegacyClient
    mapping: SyncMapping
    sink: Sink
    handlers: list[EventHandler | Callable[[Sequence[ChangeEvent]], None]] = attrs.field(
        factory=list
    )
    batch_size: int = 500
    environment: str | None = None
    fence: int | None = None
    """A fencing token (ADR 0035) every batch carries: the sink refuses it once a newer
    run committed. Given by a deployment-wide lock (the Celery tasks' Redis lock)."""
    sink_lock: bool = True
    """Hold the sink's own run lock; a caller holding a fenced deployment-wide lock may
    leave it off (the fence then guards the checkpoint)."""
    full: bool = False
    """Copy the whole table whatever the checkpoint says (the nightly full run)."""
    _kinds: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)

    def add_handler(self, handler: Callable[[Sequence[ChangeEvent]], None]) -> None:
        """Register a Python callback for every batch's events."""
        self.handlers.append(handler)

    def _columns(self) -> tuple[list[str], list[FieldMap], list[Column], str]:
        schema = self.client.describe(self.mapping.table, environment=self.environment)
        catalog = [a.name for a in schema.fields]
        maps = self.mapping.columns(catalog)
        types = {a.name: a.type for a in schema.fields}
        types |= {"__KEY": "string", "__STAMP": "long"}
        columns = [
            Column(m.target, m.kind or storage_class(types.get(m.source, "string"))) for m in maps
        ]
        key_column = next((m.target for m in maps if m.source == self.mapping.key), None)
        if key_column is None:
            msg = f"mapping {self.mapping.name}: the key {self.mapping.key} is not a mapped field"
            raise ConfigurationError(msg, table=self.mapping.table)
        return catalog, maps, columns, key_column

    def run(self) -> RunSummary:
        """Bring the sink up to date with 4D once; return what it did."""
        started = time.monotonic()
        counter = instrument.install(_RequestCounter())
        token = _RUN.set(counter)
        try:
            if not self.sink_lock:
                return self._run(started, counter)
            with self.sink.lock(self.mapping.name):
                return self._run(started, counter)
        finally:
            _RUN.reset(token)
            instrument.uninstall(counter)

    def _run(self, started: float, counter: _RequestCounter) -> RunSummary:
        m = self.mapping
        catalog, maps, columns, key_column = self._columns()
        self._kinds = {c.name: c.kind for c in columns}
        target = m.target
        self.sink.prepare(target, key_column, columns)
        cp = self.sink.load_checkpoint(m.name) or Checkpoint(m.name)
        if self.full:
            cp = attrs.evolve(cp, position=None, seen={}, pending={})
        plan = plan_read(m, cp, catalog)
        tally = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
        rows_read = keys_read = 0
        remote_keys: set[str] = set()
        deleted_position = None
        if m.deletes == "deleted_records" and cp.deleted_position is None:
            # Before the first copy: graves from now on are the ones it may not contain.
            deleted_position = self._last_grave()
        order = (
            [m.watermark.field_name]
            if isinstance(m.watermark, GlobalStampWatermark) and not plan.full
            else None
        )
        for page in self.client.iter_pages(
            m.table,
            where=plan.where,
            fields=plan.fields,
            order_by=order,
            page_size=self.batch_size,
            environment=self.environment,
        ):
            rows_read += len(page.records)
            if plan.full:
                remote_keys.update(m.key_of(r) for r in page.records)
            fresh = select_new(m, cp, page.records)
            if not fresh:
                continue
            cp = self._apply(cp, fresh, maps, target, key_column, tally)
        deletes: list[str] = []
        if plan.full and m.deletes != "none":
            # A full copy is one snapshot: what the sink holds beyond it is gone, also rows
            # an interrupted earlier copy committed and 4D deleted before this one.
            deletes = sorted(self.sink.keys(target, key_column) - remote_keys)
        elif m.deletes == "keys":
            if self.client.count(m.table, environment=self.environment) != self.sink.count(target):
                remote = self._remote_keys()
                keys_read = len(remote)
                deletes = sorted(self.sink.keys(target, key_column) - remote)
        elif m.deletes == "deleted_records" and cp.deleted_position is not None:
            graves, deleted_position = self._graves(cp.deleted_position)
            keys_read = len(graves)
            deletes = sorted(graves)
        before = self.sink.rows(target, key_column, deletes)
        events = [
            ChangeEvent(
                m.name,
                "deleted",
                k,
                None if before[k].get("__STAMP") is None else int(before[k]["__STAMP"]),
                (),
                before[k],
                None,
            )
            for k in deletes
            if k in before
        ]
        self._deliver(events)
        tally["deleted"] = len(events)
        final = cp.finished(m.watermark, deleted_position=deleted_position, ceiling=self._ceiling())
        self.sink.commit(
            target,
            key_column,
            m.name,
            Batch(
                deletes=list(before),
                events=events,
                checkpoint=final,
                finished=True,
                fence=self.fence,
            ),
        )
        return RunSummary(
            mapping=m.name,
            full=plan.full,
            rows_read=rows_read,
            keys_read=keys_read,
            requests=counter.requests,
            seconds=round(time.monotonic() - started, 3),
            position=final.position,
            **tally,
        )

    def _apply(  # noqa: PLR0917 - private; the run's working state
        self,
        cp: Checkpoint,
        fresh: list[tuple[Version, int | None, Any]],
        maps: list[FieldMap],
        target: str,
        key_column: str,
        tally: dict[str, int],
    ) -> Checkpoint:
        m = self.mapping
        latest: dict[str, tuple[Version, Any]] = {}
        for version, _pos, record in fresh:
            old = latest.get(version[0])
            if old is None or old[0][1] < version[1]:
                latest[version[0]] = (version, record)
        # Sinks write the stored forms, and their rows() answer them: a change is a
        # difference between the two, whatever the transforms and the column types.
        kinds = self._kinds
        rows = {
            k: {c: stored_form(kinds[c], v) for c, v in m.row(rec, maps).items()}
            for k, (_v, rec) in latest.items()
        }
        before = self.sink.rows(target, key_column, list(rows))
        events: list[ChangeEvent] = []
        for k, row in rows.items():
            event = diff_rows(m.name, k, latest[k][0][1], before.get(k), row)
            if event is None:
                tally["unchanged"] += 1
                continue
            tally[event.kind] += 1
            events.append(event)
        self._deliver(events)
        versions = {v: p for v, p, _r in fresh}
        cp = cp.applied(versions)
        self.sink.commit(
            target,
            key_column,
            m.name,
            Batch(
                upserts=list(rows.values()),
                events=events,
                checkpoint=cp,
                pending={v: (-1 if p is None else p) for v, p in versions.items()},
                fence=self.fence,
            ),
        )
        return cp

    def _ceiling(self) -> int | None:
        """The latest position a time watermark may take: 14 h past this host's UTC clock.

        14 h covers every time zone the server may stamp local times in (pyERP's
        modified_* are local); anything later is a wrong date. Stamps have no ceiling.
        """
        if isinstance(self.mapping.watermark, GlobalStampWatermark):
            return None
        now = dt.datetime.now(dt.UTC)
        millis = ((now.hour * 60 + now.minute) * 60 + now.second) * 1000
        return position_of_moment(now.date(), millis) + 14 * 3_600_000

    def _deliver(self, events: Sequence[ChangeEvent]) -> None:
        if events:
            for handler in self.handlers:
                handler(events)

    def _remote_keys(self) -> set[str]:
        m = self.mapping
        fields = ["__KEY"] if m.key == "__KEY" else [m.key]
        records: Iterable[Any] = self.client.iter_records(
            m.table,
            fields=fields,
            page_size=max(self.batch_size, 2000),
            environment=self.environment,
        )
        return {m.key_of(r) for r in records}

    def _last_grave(self) -> int:
        page = next(
            iter(
                self.client.iter_pages(
                    DELETED_RECORDS,
                    fields=["__Stamp"],
                    order_by=["__Stamp desc"],
                    limit=1,
                    consistent=False,
                    environment=self.environment,
                )
            ),
            None,
        )
        if page is None or not page.records:
            return 0
        return int(page.records[0]["__Stamp"])

    def _graves(self, since: int) -> tuple[set[str], int]:
        m = self.mapping
        where = (field("__Stamp") > since) & (field("__TableName") == m.table)
        keys: set[str] = set()
        top = since
        for r in self.client.iter_records(
            DELETED_RECORDS,
            where=where,
            fields=["__Stamp", "__TableName", "__PrimaryKey"],
            environment=self.environment,
        ):
            keys.add(str(r["__PrimaryKey"]))
            top = max(top, int(r["__Stamp"]))
        return keys, top
