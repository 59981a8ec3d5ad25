"""Write-back from Django: local changes in ``SyncOutgoing``, parked conflicts in ``SyncConflict``.

The same interface ``SqlChanges`` offers ``WriteBack`` (ADR 0036), on Django's ORM, so
``WriteBack(client, mapping.mapping, mapping.sink())`` pushes the changes app code
recorded with :func:`record_change`; after a saved push the model row takes 4D's saved
stamp and values (the runner's echo), so the next sync run announces nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from django.db import DatabaseError, models, router, transaction
from django.db.models import F

from legacy_core.errors import ConfigurationError, SinkError
from legacy_core.sync import LocalChange, SyncMapping

from .models import SyncConflict, SyncOutgoing

__all__ = ["DjangoChanges", "record_change"]

_OPEN = ("pending", "unknown")


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    # Dates and decimals as 4D's JSON takes them (ISO text, numbers).
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dt.datetime | dt.date):
            out[name] = value.isoformat()
        elif hasattr(value, "as_tuple"):  # Decimal
            out[name] = float(value)
        else:
            out[name] = value
    return out


class DjangoChanges:
    """The outgoing changes and parked conflicts in Django's database ``using``."""

    def __init__(self, using: str | None = None) -> None:
        self.using = using or router.db_for_write(SyncOutgoing)

    def __repr__(self) -> str:
        return f"<DjangoChanges using={self.using}>"

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Database errors in the block as a SinkError naming the database and the step."""
        try:
            yield
        except DatabaseError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            msg = f"Django write-back tables (database {self.using}): {what}: {first}"
            raise SinkError(msg) from exc

    def _outgoing(self) -> models.QuerySet[SyncOutgoing]:
        return SyncOutgoing.objects.using(self.using)

    def record_change(
        self,
        mapping: str,
        key: str,
        values: Mapping[str, Any],
        *,
        base_stamp: int | None,
        changed_at: dt.datetime | None = None,
    ) -> int:
        """Record a local change of ``key`` (4D field names to values) to push; its id."""
        at = changed_at or dt.datetime.now(dt.UTC)
        LocalChange(str(key), values, base_stamp, at)  # checks
        if not values:
            msg = f"a change of {mapping}[{key}] sets no field"
            raise ConfigurationError(msg)
        with self._errors("record a change"):
            row = self._outgoing().create(
                mapping=mapping,
                key=str(key),
                values=_jsonable(values),
                base_stamp=base_stamp,
                changed_at=at,
            )
        return int(row.pk)

    def pending(self, mapping: str) -> list[LocalChange]:
        """The changes still to push (``pending`` and ``unknown``), oldest first."""
        with self._errors("read pending changes"):
            rows = list(self._outgoing().filter(mapping=mapping, status__in=_OPEN).order_by("id"))
        return [
            LocalChange(r.key, dict(r.values), r.base_stamp, r.changed_at, id=int(r.pk))
            for r in rows
        ]

    def mark(
        self,
        mapping: str,
        change: LocalChange,
        status: Literal["done", "dropped", "parked", "rejected", "unknown"],
        *,
        stamp: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome; ``unknown`` keeps the change to push (and counts the attempt)."""
        del mapping
        done = None if status == "unknown" else dt.datetime.now(dt.UTC)
        with self._errors("mark a change"):
            self._outgoing().filter(pk=change.id).update(
                status=status,
                stamp=stamp,
                error=error or "",
                done_at=done,
                attempts=F("attempts") + 1,
            )

    def outgoing(self, mapping: str) -> list[dict[str, Any]]:
        """Every recorded change of ``mapping`` with its status, oldest first."""
        names = ("id", "key", "values", "base_stamp", "status", "attempts", "stamp", "error")
        return list(self._outgoing().filter(mapping=mapping).order_by("id").values(*names))

    def park(
        self, mapping: str, change: LocalChange, remote: Mapping[str, Any], remote_stamp: int | None
    ) -> None:
        """Keep both versions in ``SyncConflict``."""
        with self._errors("park a conflict"):
            SyncConflict.objects.using(self.using).create(
                mapping=mapping,
                key=change.key,
                local=_jsonable(change.values),
                remote=_jsonable(remote),
                base_stamp=change.base_stamp,
                remote_stamp=remote_stamp,
                changed_at=change.changed_at,
                outgoing_id=change.id,
            )

    def conflicts(self, mapping: str, *, resolved: bool | None = False) -> list[SyncConflict]:
        """The parked conflicts of ``mapping`` (``resolved`` None: every one)."""
        qs = SyncConflict.objects.using(self.using).filter(mapping=mapping)
        if resolved is not None:
            qs = qs.filter(resolved=resolved)
        return list(qs.order_by("id"))

    def resolve(
        self,
        conflict_id: int,
        keep: Literal["local", "legacy"],
        *,
        values: Mapping[str, Any] | None = None,
    ) -> int | None:
        """Close a conflict; the id of the new change it records, if any.

        ``legacy`` keeps 4D's version; ``local`` (with ``values``: those instead) records a
        new change on 4D's current stamp, which the next write-back pushes.
        """
        with transaction.atomic(using=self.using):
            rows = SyncConflict.objects.using(self.using).select_for_update()
            found = rows.filter(pk=conflict_id, resolved=False).first()
            if found is None:
                msg = f"no open conflict {conflict_id} in SyncConflict (database {self.using})"
                raise ConfigurationError(msg)
            new_id = None
            if keep == "local":
                new_id = self.record_change(
                    found.mapping,
                    found.key,
                    values or dict(found.local),
                    base_stamp=found.remote_stamp,
                )
            found.resolved = True
            found.resolution = keep
            found.decided_at = dt.datetime.now(dt.UTC)
            found.save(update_fields=("resolved", "resolution", "decided_at"))
        return new_id


def _source_names(mapping: SyncMapping) -> dict[str, str]:
    return {f.target: f.source for f in mapping.fields}


def record_change(
    mapping: Any,
    instance_or_key: models.Model | str | int,
    values: Mapping[str, Any],
    *,
    base_stamp: int | None = None,
    changed_at: dt.datetime | None = None,
    using: str | None = None,
) -> int:
    """Record a local change of a Django row for the next write-back; its ``SyncOutgoing`` id.

    ``mapping`` is a ``DjangoMapping``; ``values`` name 4D fields or the model fields they
    fill. Given a model instance, its key and (unless ``base_stamp``) its stamp come from
    the mapping's key and ``__STAMP`` fields.
    """
    from .sync import DjangoMapping  # noqa: PLC0415

    if not isinstance(mapping, DjangoMapping):
        msg = f"record_change wants a DjangoMapping, not {type(mapping).__name__}"
        raise ConfigurationError(msg)
    m = mapping.mapping
    names = _source_names(m)
    columns = mapping.sink().columns
    if isinstance(instance_or_key, models.Model):
        if m.key in columns:
            key_field = columns[m.key]
        else:
            target = next((t for t, s in names.items() if s == m.key), m.key)
            key_field = columns.get(target, target)
        key = str(getattr(instance_or_key, key_field))
        if base_stamp is None:
            base_stamp = getattr(instance_or_key, columns["__STAMP"], None)
    else:
        key = str(instance_or_key)
    fourd = {names.get(k, k) if k not in names.values() else k: v for k, v in values.items()}
    store = DjangoChanges(using or router.db_for_write(mapping.resolve_model()))
    return store.record_change(m.name, key, fourd, base_stamp=base_stamp, changed_at=changed_at)
