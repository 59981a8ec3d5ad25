"""The in-memory backend: a thread-safe TableReader and FieldWriter over MemoryTables.

What lives here: per-environment storage, paging, projection, snapshots (4D entity
sets) with clock-driven expiry, and stamped writes. Filter semantics live in
``_evaluate``; the catalog and value checks in ``_tables``.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from legacy_adapters.memory._evaluate import check_attributes, compile_filter, sort_rows
from legacy_adapters.memory._tables import (
    BOOL_TYPES,
    DATE_TYPES,
    MANAGED,
    NUMBER_TYPES,
    OBJECT_TYPES,
    STRING_TYPES,
    MemoryTable,
    copy_row,
    copy_value,
    wire_date,
)
from legacy_adapters.wire import AttributeSpec, TableSchema, decode_record
from legacy_core.clock import SystemClock
from legacy_core.errors import (
    EntitySetExpired,
    InvalidQuery,
    LegacyError,
    PartialWrite,
    RecordNotFound,
    StampConflict,
    UnknownTable,
)
from legacy_core.model import (
    FieldUpdate,
    Page,
    Query,
    Record,
    WriteOutcome,
    WriteResult,
    outcome_status,
    validate_identifier,
)
from legacy_core.ports import Clock
from legacy_core.query import render

__all__ = ["DEFAULT_PAGE_SIZE", "MemoryBackend"]

DEFAULT_PAGE_SIZE = 100
"""What 4D sends when a request has no ``$top``."""

_INTEGER_TYPES = frozenset({"long", "long64", "word", "byte"})


def _clock(value: Clock | None) -> Clock:
    return SystemClock() if value is None else value


@attrs.define
class _Store:
    """One table of one environment: its catalog and its rows by key (insertion ordered)."""

    table: MemoryTable
    rows: dict[str, dict[str, Any]]
    schema: TableSchema = attrs.field(init=False)
    """What the 4D decoder needs for typed reads; built once per loaded table."""
    described: TableSchema = attrs.field(init=False)
    """What ``describe`` answers: the catalog's attributes (no system ones) and the key."""

    def __attrs_post_init__(self) -> None:
        self.schema = _schema_of(self.table)
        self.described = TableSchema(
            table=self.table.name,
            attributes={n: a for n, a in self.schema.attributes.items() if n not in MANAGED},
            # As the emulator's catalog: a table without a key attribute names __KEY.
            primary_key=(self.table.key,),
        )


@attrs.define
class _Snapshot:
    environment: str
    table: str
    keys: tuple[str, ...]
    timeout: float
    expires_at: float


@attrs.define
class MemoryBackend:
    """In-memory tables per environment, read and written with 4D semantics.

    Implements :class:`legacy_core.ports.TableReader` and :class:`~legacy_core.ports.FieldWriter`.
    ``clock`` drives ``__TIMESTAMP`` and snapshot expiry (a ``ManualClock`` in tests).
    Records handed out are copies: callers cannot change the store by mutating them.
    """

    clock: Clock = attrs.field(default=None, converter=_clock)
    default_environment: str = "live"
    default_page_size: int = DEFAULT_PAGE_SIZE
    _data: dict[str, dict[str, _Store]] = attrs.field(factory=dict, init=False, repr=False)
    _snapshots: dict[str, _Snapshot] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.RLock = attrs.field(factory=threading.RLock, init=False, repr=False)

    # -- setup ---------------------------------------------------------------------------

    def add_table(self, environment: str, table: MemoryTable) -> None:
        """Load (or replace) ``table`` in ``environment``; test and live hold separate data."""
        now = self._timestamp()
        rows: dict[str, dict[str, Any]] = {}
        for row in table.rows:
            record: dict[str, Any] = dict.fromkeys(table.attributes)
            record.update(copy_value(row))
            key = table.key_of(row)
            assert key is not None  # MemoryTable refuses rows without a key
            record["__KEY"] = key
            if record["__STAMP"] is None:
                record["__STAMP"] = 1
            if record["__TIMESTAMP"] is None:
                record["__TIMESTAMP"] = now
            rows[key] = record
        with self._lock:
            self._data.setdefault(environment, {})[table.name] = _Store(table, rows)

    # -- TableReader ---------------------------------------------------------------------

    def tables(self, environment: str) -> list[str]:
        """List the table names of ``environment``, sorted (none for one never loaded)."""
        with self._lock:
            return sorted(self._data.get(environment, {}))

    def read_page(self, query: Query) -> Page:
        """One page of ``query``, from a fresh selection or from ``query.entity_set``."""
        with self._lock:
            store = self._store(query.environment, query.table)
            self._check(query, store)
            if query.entity_set is not None:
                snapshot = self._snapshot(query.environment, query.table, query.entity_set)
                rows = [store.rows[k] for k in snapshot.keys if k in store.rows]
                if query.order_by:
                    rows = sort_rows(
                        rows, query.order_by, store.table, environment=query.environment
                    )
                return self._page(query, store, rows, entity_set=query.entity_set)
            return self._page(query, store, self._select(query, store))

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        """Return the entity with ``__KEY`` ``key`` (a copy, decoded when ``typed``).

        RecordNotFound if there is none.
        """
        with self._lock:
            store = self._store(environment, table)
            row = self._row(store, environment, key)
            record = self._linked(environment, store, row, copy_row(row), ())
            # Rows are in 4D's wire format, so decode exactly as a typed page does.
            return decode_record(record, store.schema) if typed else record

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        """Fix the selected keys now; later pages read them with their current values."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            msg = f"snapshot timeout must be a positive number of seconds, got {timeout!r}"
            raise InvalidQuery(msg, environment=query.environment, table=query.table)
        with self._lock:
            store = self._store(query.environment, query.table)
            self._check(query, store)
            rows = self._select(query, store)
            self._expire()
            ident = uuid.uuid4().hex.upper()
            self._snapshots[ident] = _Snapshot(
                environment=query.environment,
                table=query.table,
                keys=tuple(r["__KEY"] for r in rows),
                timeout=float(timeout),
                expires_at=self.clock.monotonic() + timeout,
            )
            return self._page(query, store, rows, entity_set=ident)

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        """Forget the snapshot; an unknown one is not an error."""
        with self._lock:
            snap = self._snapshots.get(entity_set)
            if snap is not None and (snap.environment, snap.table) == (environment, table):
                del self._snapshots[entity_set]

    # -- FieldWriter ---------------------------------------------------------------------

    def write(
        self,
        updates: Sequence[FieldUpdate],
        *,
        atomic: bool = False,
        environment: str | None = None,
    ) -> list[WriteResult]:
        """Apply ``updates`` (one table, one environment) in order; each save raises the stamp.

        The environment is ``update.environment``, else ``environment``, else the
        backend's ``default_environment``. Without ``atomic`` every update is attempted and,
        as on 4D, the others are saved when one fails (:class:`PartialWrite` with one
        outcome per update; a single update raises its own error); with it nothing is.
        """
        if not updates:
            return []
        targets = {
            (u.environment or environment or self.default_environment, u.table) for u in updates
        }
        if len(targets) != 1:
            msg = f"one write call takes one table of one environment, got {sorted(targets)}"
            raise InvalidQuery(msg)
        ((env, table),) = targets
        with self._lock:
            store = self._store(env, table)
            staged: dict[str, dict[str, Any]] = {}
            outcomes: list[WriteOutcome] = []
            for index, update in enumerate(updates):
                try:
                    result = self._apply(store, env, table, update, staged)
                except LegacyError as err:
                    if atomic or len(updates) == 1:
                        raise  # atomic: nothing staged is stored
                    outcomes.append(
                        WriteOutcome(index, table, update.key, outcome_status(err), error=err)
                    )
                    continue
                if not atomic:
                    store.rows[update.key] = staged[update.key]
                outcomes.append(WriteOutcome(index, table, update.key, "saved", result=result))
            store.rows.update(staged)
        if any(not o.applied for o in outcomes):
            # As 4D: the other entities of a non-atomic batch are saved.
            raise PartialWrite.of(outcomes, environment=env)
        return [o.result for o in outcomes if o.result is not None]

    def _apply(
        self,
        store: Any,
        env: str,
        table: str,
        update: FieldUpdate,
        staged: dict[str, dict[str, Any]],
    ) -> WriteResult:
        current = staged.get(update.key) or self._row(store, env, update.key)
        values = self._coerce(store, env, update.values)
        stamp = int(current["__STAMP"])
        if update.expected_stamp is not None and update.expected_stamp != stamp:
            msg = (
                f"stamp of {table}[{update.key}] has changed: expected "
                f"{update.expected_stamp}, current {stamp}"
            )
            raise StampConflict(
                msg,
                key=update.key,
                current=copy_row(current),
                environment=env,
                table=table,
            )
        saved = {
            **current,
            **values,
            "__STAMP": stamp + 1,
            "__TIMESTAMP": self._timestamp(),
        }
        staged[update.key] = saved
        return WriteResult(table, update.key, stamp + 1, copy_row(saved))

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        """Create ``rows`` in order; as on 4D the others are created when one fails.

        One row raises its own error; of several, :class:`PartialWrite` carries one
        outcome per row when some fail (key None for those not created).
        """
        if not rows:
            return []
        outcomes: list[WriteOutcome] = []
        with self._lock:
            self._store(environment, table)  # an unknown table fails as a whole
            for index, row in enumerate(rows):
                try:
                    result = self.create(environment, table, row)
                except LegacyError as err:
                    if len(rows) == 1:
                        raise
                    outcomes.append(
                        WriteOutcome(index, table, None, outcome_status(err), error=err)
                    )
                    continue
                outcomes.append(WriteOutcome(index, table, result.key, "saved", result=result))
        if any(not o.applied for o in outcomes):
            raise PartialWrite.of(outcomes, environment=environment)
        return [o.result for o in outcomes if o.result is not None]

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        """Delete the entity ``key``; with ``expected_stamp`` only if it is unchanged.

        RecordNotFound when there is none; a stale stamp raises StampConflict with the
        current values and deletes nothing. Snapshots holding it leave it out from now on.
        """
        with self._lock:
            store = self._store(environment, table)
            current = self._row(store, environment, key)
            stamp = int(current["__STAMP"])
            if expected_stamp is not None and expected_stamp != stamp:
                msg = (
                    f"stamp of {table}[{key}] has changed: expected {expected_stamp}, "
                    f"current {stamp}; not deleted"
                )
                raise StampConflict(
                    msg,
                    key=key,
                    current=copy_row(current),
                    environment=environment,
                    table=table,
                    not_applied=True,
                )
            del store.rows[key]

    def describe(self, environment: str, table: str) -> TableSchema:
        """The schema of ``table`` as ``$catalog/{Table}`` would describe it (N→1 relations)."""
        with self._lock:
            return self._store(environment, table).described

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        """Create one entity (``__STAMP`` 1) with a new key and return it as saved."""
        for name in values:
            validate_identifier(name, "field")
            if name in MANAGED:
                msg = f"{name} is managed by 4D and cannot be written"
                raise InvalidQuery(msg, environment=environment, table=table)
        with self._lock:
            store = self._store(environment, table)
            coerced = self._coerce(store, environment, values)
            key = self._new_key(store, coerced)
            record: dict[str, Any] = dict.fromkeys(store.table.attributes)
            record.update(coerced)
            record.update({"__KEY": key, "__STAMP": 1, "__TIMESTAMP": self._timestamp()})
            key_attr = store.table.key
            if record[key_attr] is None:
                numeric = store.table.attributes[key_attr] in NUMBER_TYPES
                record[key_attr] = int(key) if numeric else key
            store.rows[key] = record
            return WriteResult(table, key, 1, copy_row(record))

    # -- internals -----------------------------------------------------------------------

    def _store(self, environment: str, table: str) -> _Store:
        try:
            return self._data[environment][table]
        except KeyError:
            msg = f"unknown table {table!r} in environment {environment!r}"
            raise UnknownTable(msg, environment=environment, table=table) from None

    def _row(self, store: _Store, environment: str, key: str) -> dict[str, Any]:
        try:
            return store.rows[key]
        except KeyError:
            msg = f"no {store.table.name} with __KEY {key!r}"
            raise RecordNotFound(msg, environment=environment, table=store.table.name) from None

    def _check(self, query: Query, store: _Store) -> None:
        # Everything 4D would refuse is refused before looking at any row.
        if query.filter is not None:
            render(query.filter)
        relations = store.table.relations
        check_attributes(
            [n for n in query.attributes if n not in relations],
            store.table,
            environment=query.environment,
        )
        for name in query.expand:
            if name not in relations:
                msg = f"cannot expand {name!r}: not a relation of {store.table.name}"
                raise InvalidQuery(msg, environment=query.environment, table=store.table.name)
        check_attributes(
            [o.field for o in query.order_by], store.table, environment=query.environment
        )

    def _select(self, query: Query, store: _Store) -> list[dict[str, Any]]:
        rows = list(store.rows.values())
        if query.filter is not None:
            keep = compile_filter(query.filter, store.table, environment=query.environment)
            rows = [r for r in rows if keep(r)]
        if query.order_by:
            rows = sort_rows(rows, query.order_by, store.table, environment=query.environment)
        return rows

    def _page(
        self,
        query: Query,
        store: _Store,
        rows: Sequence[Mapping[str, Any]],
        *,
        entity_set: str | None = None,
    ) -> Page:
        top = self.default_page_size if query.top is None else query.top
        window = rows[query.skip : query.skip + top]
        keep = None
        if query.attributes:
            keep = ("__KEY", "__TIMESTAMP", "__STAMP", *query.attributes)
        records = [
            self._linked(
                query.environment,
                store,
                r,
                copy_row(r if keep is None else {k: r.get(k) for k in keep}),
                query.expand,
                keep,
            )
            for r in window
        ]
        if query.columnar:
            # The 4D adapter's columnar builder over the same wire-format rows (ADR 0025).
            from legacy_adapters.wire._arrow import entities_table  # noqa: PLC0415 - pyarrow
            from legacy_core.columnar import ArrowRecords  # noqa: PLC0415

            table = entities_table(records, store.schema, typed=query.typed)
            return Page(
                ArrowRecords(table), count=len(rows), first=query.skip, entity_set=entity_set
            )
        if query.typed:
            # Rows are stored in 4D's wire format, so the 4D adapter's decoder applies as is.
            expanded = {
                name: self._data[query.environment][store.table.relations[name][0]].schema
                for name in query.expand
                if name in store.table.relations
                and store.table.relations[name][0] in self._data[query.environment]
            }
            records = [decode_record(r, store.schema, expanded) for r in records]
        return Page(records=records, count=len(rows), first=query.skip, entity_set=entity_set)

    def _linked(  # noqa: PLR0917 - internal; every call passes them in this order
        self,
        environment: str,
        store: _Store,
        row: Mapping[str, Any],
        record: dict[str, Any],
        expand: Sequence[str],
        keep: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``record`` with its relations as 4D sends them: deferred, or inlined if expanded.

        An expanded entity is sent whole, its own relations deferred (as 4D does); a key
        with no entity behind it (or a target table not loaded) stays deferred.
        """
        for name, (target, fk) in store.table.relations.items():
            if keep is not None and name not in keep:
                continue
            key = row.get(fk)
            if key is None or key == "":
                record[name] = None
                continue
            link: dict[str, Any] = {
                "__deferred": {"uri": f"/rest/{target}({key})", "__KEY": str(key)}
            }
            if name in expand:
                other = self._data.get(environment, {}).get(target)
                found = other.rows.get(str(key)) if other is not None else None
                if other is not None and found is not None:
                    link = self._linked(environment, other, found, copy_row(found), ())
            record[name] = link
        return record

    def _snapshot(self, environment: str, table: str, ident: str) -> _Snapshot:
        self._expire()
        snap = self._snapshots.get(ident)
        if snap is None or (snap.environment, snap.table) != (environment, table):
            msg = f"entity set {ident!r} of {table} is unknown or expired (4D error 1802)"
            raise EntitySetExpired(msg, environment=environment, table=table)
        # 4D's $timeout is an idle timeout: every use starts it again.
        snap.expires_at = self.clock.monotonic() + snap.timeout
        return snap

    def _expire(self) -> None:
        now = self.clock.monotonic()
        for ident in [i for i, s in self._snapshots.items() if s.expires_at <= now]:
            del self._snapshots[ident]

    def _coerce(self, store: _Store, environment: str, values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            kind = store.table.attributes.get(name)
            where = f"{store.table.name}.{name}"
            if kind is None:
                msg = f"unknown field {name!r} in {store.table.name} (4D error 1203)"
                raise InvalidQuery(msg, environment=environment, table=store.table.name)
            try:
                out[name] = _coerce_value(kind, value, where)
            except InvalidQuery as exc:
                raise InvalidQuery(
                    exc.message, environment=environment, table=store.table.name
                ) from None
        return out

    def _new_key(self, store: _Store, values: Mapping[str, Any]) -> str:
        key_attr = store.table.key
        if key_attr == "__KEY":
            key = uuid.uuid4().hex.upper()
        elif values.get(key_attr) is not None:
            key = str(values[key_attr])
        else:
            # A numeric primary key without a value: the next number, as 4D's autoincrement.
            numbers = [int(k) for k in store.rows if k.lstrip("-").isdigit()]
            key = str(max(numbers, default=0) + 1)
        if key in store.rows:
            msg = f"{store.table.name} already has an entity with key {key!r}"
            raise InvalidQuery(msg, table=store.table.name)
        return key

    def _timestamp(self) -> str:
        # ISO-8601 UTC with milliseconds, as 4D sends __TIMESTAMP.
        moment = dt.datetime.fromtimestamp(self.clock.time(), tz=dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _coerce_value(kind: str, value: Any, where: str) -> Any:
    """Check a written value against the attribute's 4D type and store it in wire form."""
    if kind in DATE_TYPES:
        return wire_date(value, what=where)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in _INTEGER_TYPES and is_number and float(value).is_integer():
        return int(value)
    if (
        value is None
        or (kind in STRING_TYPES and isinstance(value, str))
        or (kind in NUMBER_TYPES - _INTEGER_TYPES and is_number and math.isfinite(value))
        or (kind in BOOL_TYPES and isinstance(value, bool))
        or (kind in OBJECT_TYPES - {"blob", "image"} and isinstance(value, (dict, list)))
    ):
        return copy_value(value)
    msg = f"{where} is {kind}; cannot write {type(value).__name__} {value!r}"
    raise InvalidQuery(msg)


def _schema_of(table: MemoryTable) -> TableSchema:
    attributes = {
        name: AttributeSpec(name=name, type=kind, simple_date=kind == "date")
        for name, kind in table.attributes.items()
    }
    for name, (target, fk) in table.relations.items():
        attributes[name] = AttributeSpec(
            name=name, kind="relatedEntity", type=target, related_table=target, foreign_key=fk
        )
    return TableSchema(table=table.name, attributes=attributes)
