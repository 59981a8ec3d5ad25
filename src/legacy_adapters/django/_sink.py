"""The Django sink: a mapping's rows in a user's Django model, bookkeeping in the app's models.

Every batch is one ``transaction.atomic`` block on the model's database: the upserts
(``bulk_create(update_conflicts=True)`` where the backend can name the conflict target,
else ``bulk_update`` + ``bulk_create``), the deletes, the outbox rows, the pending
versions and, at the end of a run, the checkpoint; a fenced run (ADR 0035) first claims
its token on the checkpoint row (``StaleRun`` when a newer run got there). The
``legacy_sync_batch`` signal is sent after that commit (ADR 0034).
"""

from __future__ import annotations

import contextlib
import decimal
import fcntl
import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DatabaseError, connections, models, router, transaction

from legacy_adapters.sync._base import Batch, Column, stale_run_message, stored_form
from legacy_core.errors import ConfigurationError, SinkError, StaleRun
from legacy_core.sync import Checkpoint

from .models import SyncCheckpoint, SyncEvent, SyncPending
from .signals import legacy_sync_batch

__all__ = ["DEFAULT_COLUMNS", "DjangoSink"]

DEFAULT_COLUMNS = {"__KEY": "legacy_key", "__STAMP": "legacy_stamp"}
"""Model fields for the system columns a mapping does not map itself (Django field names
cannot start with an underscore pair)."""

SOFT_DELETE_FIELD = "legacy_deleted"
_CHUNK = 1000


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _plain(value: Any) -> Any:
    # Django hands back Decimals for DecimalField; the stored forms know floats.
    return float(value) if isinstance(value, decimal.Decimal) else value


class DjangoSink:
    """Keeps one mapping's rows in ``model`` (a Django model class) on database ``using``.

    ``columns`` names the model field of a sink column where the two differ (default:
    ``__KEY`` -> ``legacy_key``, ``__STAMP`` -> ``legacy_stamp``; every other column is
    the model field of the same name). The key column's field must be unique.

    Deletes: when the model has a boolean field ``soft_delete`` (default
    ``legacy_deleted``) the row is kept and flagged (and unflagged if the key comes
    back); otherwise it is deleted. ``full=True`` makes the next run a full copy
    (the stored checkpoint is kept for its run count, its position is ignored).
    """

    def __init__(
        self,
        model: type[models.Model],
        *,
        using: str | None = None,
        columns: Mapping[str, str] | None = None,
        soft_delete: str | None = SOFT_DELETE_FIELD,
        full: bool = False,
    ) -> None:
        self.model = model
        self.using = using or router.db_for_write(model)
        self.columns = {**DEFAULT_COLUMNS, **(columns or {})}
        self.full = full
        self._meta = model._meta
        self.label = self._meta.label
        self.soft_delete = soft_delete if soft_delete and self._has(soft_delete) else None
        self._fields: dict[str, models.Field[Any, Any]] = {}
        self._kinds: dict[str, str] = {}
        self._key: str | None = None
        self._table = self._meta.db_table

    def __repr__(self) -> str:
        return f"<DjangoSink {self.label} using={self.using}>"

    def _has(self, name: str) -> bool:
        try:
            self._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        return True

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Database errors in the block as a SinkError naming the model, database and step."""
        try:
            yield
        except DatabaseError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            msg = f"Django sink {self.label} (database {self.using}): {what}: {first}"
            raise SinkError(msg, table=self._table) from exc

    # -- the Sink port ---------------------------------------------------------------------

    def prepare(self, table: str, key: str, columns: Sequence[Column]) -> None:
        """Resolve every column to a model field; ConfigurationError naming the missing ones.

        The model's table is the user's (its migrations create it); the bookkeeping
        tables come with this app's migration (``manage.py migrate``).
        """
        missing = []
        fields: dict[str, models.Field[Any, Any]] = {}
        for c in columns:
            name = self.columns.get(c.name, c.name)
            try:
                f = self._meta.get_field(name)
            except FieldDoesNotExist:
                missing.append(f"{c.name} -> {name}" if name != c.name else name)
                continue
            if not isinstance(f, models.Field) or f.many_to_many or f.one_to_many:
                missing.append(f"{name} (not a column)")
                continue
            fields[c.name] = f
        if missing:
            msg = (
                f"Django sink {self.label}: mapping of 4D table {table} needs model fields "
                f"that {self.label} lacks: {', '.join(missing)}"
            )
            raise ConfigurationError(msg, table=table)
        key_field = fields[key]
        unique = key_field.unique or any(
            isinstance(c, models.UniqueConstraint)
            and tuple(c.fields) == (key_field.name,)
            and c.condition is None
            for c in self._meta.constraints
        )
        if not unique:
            msg = (
                f"Django sink {self.label}: the key field {key_field.name} (4D {key}) must be "
                "unique (unique=True) for the upserts"
            )
            raise ConfigurationError(msg, table=table)
        self._fields = fields
        self._kinds = {c.name: c.kind for c in columns}
        self._key = key

    def load_checkpoint(self, mapping: str) -> Checkpoint | None:
        """The committed checkpoint and its pending versions (or None; a fresh one if full)."""
        with self.errors(f"checkpoint of {mapping}"):
            row = SyncCheckpoint.objects.using(self.using).filter(mapping=mapping).first()
            pending = list(
                SyncPending.objects.using(self.using)
                .filter(mapping=mapping)
                .values_list("key", "stamp", "position")
            )
        if self.full:
            self.full = False  # once: the runner loads the checkpoint at the start of a run
            return Checkpoint(mapping, runs=0 if row is None else row.runs)
        if row is None and not pending:
            return None
        return Checkpoint.from_json(
            {
                "mapping": mapping,
                "position": None if row is None else row.position,
                "deleted_position": None if row is None else row.deleted_position,
                "runs": 0 if row is None else row.runs,
                "seen": [] if row is None else row.seen,
                "pending": [list(p) for p in pending],
            }
        )

    def _live(self) -> models.QuerySet[Any]:
        qs = self.model._default_manager.using(self.using).all()
        return qs.filter(**{self.soft_delete: False}) if self.soft_delete else qs

    def _read(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for column, f in self._fields.items():
            value = _plain(obj[f.attname])
            kind = self._kinds.get(column, "text")
            out[column] = stored_form(kind, value)
        return out

    def rows(self, table: str, key: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of ``keys`` as stored forms of their columns' kinds, by key."""
        attnames = [f.attname for f in self._fields.values()]
        key_field = self._fields[key]
        out: dict[str, dict[str, Any]] = {}
        with self.errors(f"read of {table}"):
            for part in _chunks(list(keys)):
                lookup = {f"{key_field.attname}__in": self._keys_as(key_field, part)}
                for obj in self._live().filter(**lookup).values(*attnames):
                    row = self._read(obj)
                    out[str(row[key])] = row
        return out

    def keys(self, table: str, key: str) -> set[str]:
        """Every live key of the model (soft-deleted rows excluded)."""
        del table
        stored = self._fields[key]
        kind = self._kinds.get(key, "text")
        with self.errors("key scan"):
            return {
                str(stored_form(kind, _plain(v)))
                for v in self._live().values_list(stored.attname, flat=True)
            }

    def count(self, table: str) -> int:
        """Live rows of the model."""
        del table
        with self.errors("count"):
            return int(self._live().count())

    def commit(self, table: str, key: str, mapping: str, batch: Batch) -> None:
        """Write ``batch`` in one ``transaction.atomic`` block; signal after the commit."""
        objs = [self._object(table, row) for row in batch.upserts]
        with self.errors(f"batch of {table}"), transaction.atomic(using=self.using):
            if batch.fence is not None:
                self._claim_fence(table, mapping, batch.fence)
            if objs:
                self._upsert(key, objs)
            if batch.deletes:
                self._delete(key, list(batch.deletes))
            if batch.events:
                SyncEvent.objects.using(self.using).bulk_create(
                    [
                        SyncEvent(
                            mapping=e.mapping,
                            kind=e.kind,
                            key=e.key,
                            stamp=e.stamp,
                            changed=list(e.changed),
                            before=None if e.before is None else _jsonable(e.before),
                            after=None if e.after is None else _jsonable(e.after),
                        )
                        for e in batch.events
                    ]
                )
            if batch.pending:
                SyncPending.objects.using(self.using).bulk_create(
                    [
                        SyncPending(mapping=mapping, key=k, stamp=s, position=p)
                        for (k, s), p in batch.pending.items()
                    ],
                    ignore_conflicts=True,
                )
            cp = batch.checkpoint
            if batch.finished:
                SyncPending.objects.using(self.using).filter(mapping=mapping).delete()
                if cp is not None:
                    SyncCheckpoint.objects.using(self.using).update_or_create(
                        mapping=mapping,
                        defaults={
                            "table": table,
                            "model": self.label,
                            "position": cp.position,
                            "deleted_position": cp.deleted_position,
                            "runs": cp.runs,
                            "seen": cp.to_json()["seen"],
                        },
                    )
            events = list(batch.events)
            if events or batch.finished:
                transaction.on_commit(
                    lambda: legacy_sync_batch.send(
                        sender=self.model,
                        mapping=mapping,
                        events=events,
                        finished=batch.finished,
                        using=self.using,
                    ),
                    using=self.using,
                )

    def _claim_fence(self, table: str, mapping: str, fence: int) -> None:
        # First in the batch's transaction, like the SQL sinks' CLAIM_FENCE: the checkpoint
        # row, locked (select_for_update), takes the token unless it holds a newer one.
        rows = SyncCheckpoint.objects.using(self.using).select_for_update()
        row, created = rows.get_or_create(
            mapping=mapping, defaults={"table": table, "model": self.label, "fence": fence}
        )
        if created or row.fence == fence:
            return
        if row.fence is not None and row.fence > fence:
            where = f"Django sink {self.label} (database {self.using})"
            raise StaleRun(stale_run_message(where, mapping, fence), table=table)
        SyncCheckpoint.objects.using(self.using).filter(pk=row.pk).update(fence=fence)

    def _keys_as(self, f: models.Field[Any, Any], keys: Sequence[str]) -> list[Any]:
        # Keys travel as text; an integer key field wants integers in its lookups.
        if isinstance(f, models.IntegerField):
            return [int(float(k)) for k in keys]
        return list(keys)

    def _object(self, table: str, row: Mapping[str, Any]) -> models.Model:
        values: dict[str, Any] = {}
        for column, value in row.items():
            f = self._fields[column]
            try:
                if isinstance(f, models.JSONField):
                    values[f.attname] = json.loads(value) if isinstance(value, str) else value
                elif value is None:
                    values[f.attname] = None
                else:
                    values[f.attname] = f.to_python(value)
            except (ValidationError, ValueError, TypeError) as exc:
                text = "; ".join(getattr(exc, "messages", [str(exc)]))
                msg = (
                    f"Django sink {self.label}: 4D table {table}: value of {column} does not fit "
                    f"{f.name} ({type(f).__name__}): {text}"
                )
                raise SinkError(msg, table=table) from None
        if self.soft_delete:
            values[self.soft_delete] = False
        return self.model(**values)

    def _upsert(self, key: str, objs: list[models.Model]) -> None:
        key_field = self._fields[key]
        names = list(dict.fromkeys(f.name for f in self._fields.values() if f is not key_field))
        if self.soft_delete:
            names.append(self.soft_delete)
        manager = self.model._default_manager.using(self.using)
        features = connections[self.using].features
        if features.supports_update_conflicts_with_target:
            manager.bulk_create(
                objs,
                update_conflicts=True,
                unique_fields=[key_field.name],
                update_fields=names,
            )
            return
        # MySQL/MariaDB and others: the mapping's lock makes read-then-write safe here.
        values = [getattr(o, key_field.attname) for o in objs]
        existing = dict(
            manager.filter(**{f"{key_field.attname}__in": values}).values_list(
                key_field.attname, "pk"
            )
        )
        old = [o for o in objs if getattr(o, key_field.attname) in existing]
        for o in old:
            o.pk = existing[getattr(o, key_field.attname)]
        if old:
            manager.bulk_update(old, names)
        new = [o for o in objs if getattr(o, key_field.attname) not in existing]
        if new:
            manager.bulk_create(new)

    def _delete(self, key: str, keys: list[str]) -> None:
        key_field = self._fields[key]
        for part in _chunks(keys):
            qs = self.model._default_manager.using(self.using).filter(
                **{f"{key_field.attname}__in": self._keys_as(key_field, part)}
            )
            if self.soft_delete:
                qs.update(**{self.soft_delete: True})
            else:
                qs.delete()

    @contextlib.contextmanager
    def lock(self, mapping: str) -> Iterator[None]:
        """One run per mapping: a PostgreSQL advisory lock, else an ``flock`` on a file.

        Both die with their process (or connection), so a crashed run never blocks.
        """
        digest = hashlib.blake2b(f"legacy_sync:{mapping}".encode(), digest_size=8).digest()
        connection = connections[self.using]
        busy = (
            f"Django sink {self.label} (database {self.using}): another run of mapping "
            f"{mapping} is in progress"
        )
        if connection.vendor == "postgresql":
            number = int.from_bytes(digest, "big", signed=True)
            with self.errors("lock"), connection.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", [number])
                got = cur.fetchone()[0]
            if not got:
                raise SinkError(busy)
            try:
                yield
            finally:
                with self.errors("unlock"), connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", [number])
            return
        name = str(connection.settings_dict.get("NAME") or self.using)
        tag = hashlib.blake2b(f"{name}:{mapping}".encode(), digest_size=8).hexdigest()
        path = Path(tempfile.gettempdir()) / f"legacy_sync_{tag}.lock"
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SinkError(busy) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        """Nothing to release: Django owns its connections."""


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    # Stored forms are JSON-able already; a transform's output might not be.
    out: dict[str, Any] = json.loads(json.dumps(dict(row), default=str))
    return out
