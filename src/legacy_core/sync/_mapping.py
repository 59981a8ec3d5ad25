"""What a sync copies: the 4D table, its key, the fields and their transforms, the watermark.

Values only: no I/O. The runner (``legacy_adapters.sync``) reads through a LegacyClient and
writes to a sink; these objects tell it what to read and how to turn a record into a row.
"""

from __future__ import annotations

import datetime as dt
import graphlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

from legacy_core.errors import ConfigurationError
from legacy_core.model import Record, validate_identifier
from legacy_core.query import Filter, field

__all__ = [
    "COLUMN_KINDS",
    "DeleteDetection",
    "FieldMap",
    "GlobalStampWatermark",
    "ModifiedWatermark",
    "SyncMapping",
    "TimestampWatermark",
    "Watermark",
    "position_of_moment",
    "run_order",
]

_DAY_MS = 86_400_000
_EPOCH = dt.date(1970, 1, 1).toordinal()

COLUMN_KINDS = frozenset({"integer", "real", "bool", "date", "timestamp", "json", "text"})
"""The kinds of sink column a field can become."""

DeleteDetection = Literal["keys", "deleted_records", "none"]
"""How deletes are found: a key-set comparison, 4D's ``__DeletedRecords`` table, or not at all."""


def position_of_moment(day: dt.date, millis: int) -> int:
    """The position of a day and a time of day: milliseconds since 1970-01-01 (no zone)."""
    return (day.toordinal() - _EPOCH) * _DAY_MS + millis


def _day_of(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.datetime):
        return value.date() if isinstance(value, dt.datetime) else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):  # a raw read: D!M!YYYY (0!0!0 is the empty date)
        text = value.strip("!")
        if "-" in text:
            return dt.date.fromisoformat(text[:10])
        d, m, y = (int(p) for p in text.split("!"))
        return None if y == 0 else dt.date(y, m, d)
    msg = f"not a 4D date: {value!r}"
    raise TypeError(msg)


def _millis_of(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        msg = f"not a 4D time: {value!r}"
        raise TypeError(msg)
    if isinstance(value, int | float):  # a raw read: milliseconds since midnight
        return int(value)
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + (
            value.microsecond // 1000
        )
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds() * 1000)
    msg = f"not a 4D time: {value!r}"
    raise TypeError(msg)


@attrs.frozen
class ModifiedWatermark:
    """pyERP's watermark: ``modified_date`` + ``modified_time`` (a date and a time field).

    A row never modified has empty ``modified_*``; ``created_date``/``created_time`` then
    stand in (``created=None`` switches that off). Positions are milliseconds; the query
    never uses a strict ``>`` on a date (HTTP 500 on pyERP's server): it is rendered
    ``>=`` the next day by the query builder.
    """

    date_field: str = "modified_date"
    time_field: str = "modified_time"
    created: tuple[str, str] | None = ("created_date", "created_time")
    overlap: int = 300_000
    """Milliseconds re-read before the watermark (late commits, clock skew between writers)."""

    kind: Literal["modified"] = attrs.field(default="modified", init=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the position is computed from."""
        return (self.date_field, self.time_field, *(self.created or ()))

    def position(self, record: Record) -> int | None:
        """The moment the record last changed, or None when it carries none."""
        pairs = [(self.date_field, self.time_field)]
        if self.created is not None:
            pairs.append(self.created)
        for date_name, time_name in pairs:
            day = _day_of(record.get(date_name))
            if day is not None:
                return position_of_moment(day, _millis_of(record.get(time_name)))
        return None

    def since(self, low: int) -> Filter:
        """Rows at or after ``low``: its day from its time of day on, then every later day."""
        day = dt.date.fromordinal(_EPOCH + low // _DAY_MS)
        millis = low % _DAY_MS
        pairs = [(self.date_field, self.time_field)]
        if self.created is not None:
            pairs.append(self.created)
        out: Filter | None = None
        for date_name, time_name in pairs:
            d = field(date_name)
            part = ((d == day) & (field(time_name) >= millis)) | (d > day)
            out = part if out is None else out | part
        assert out is not None
        return out


@attrs.frozen
class TimestampWatermark:
    """4D's ``__TIMESTAMP`` (UTC, milliseconds). pyERP's server answers 500 to a filter on it."""

    overlap: int = 300_000
    kind: Literal["timestamp"] = attrs.field(default="timestamp", init=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the position is computed from."""
        return ("__TIMESTAMP",)

    def position(self, record: Record) -> int | None:
        """``__TIMESTAMP`` in milliseconds since the epoch."""
        value = record.get("__TIMESTAMP")
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.strip('"').replace("Z", "+00:00"))
        if not isinstance(value, dt.datetime):
            msg = f"not a 4D timestamp: {value!r}"
            raise TypeError(msg)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)

    def since(self, low: int) -> Filter:
        """``__TIMESTAMP >= low`` as an ISO text."""
        moment = dt.datetime.fromtimestamp(low / 1000, dt.UTC)
        return field("__TIMESTAMP") >= moment.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )


@attrs.frozen
class GlobalStampWatermark:
    """4D's replication stamp ``__GlobalStamp`` (server-wide, rises on every save)."""

    field_name: str = "__GlobalStamp"
    overlap: int = 0
    """Stamps re-read below the watermark: above 0 when saves commit out of stamp order
    (transactions); every stamp re-read is de-duplicated."""
    kind: Literal["global_stamp"] = attrs.field(default="global_stamp", init=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the position is computed from."""
        return (self.field_name,)

    def position(self, record: Record) -> int | None:
        """The row's global stamp (0 for rows saved before tracking began)."""
        value = record.get(self.field_name)
        return None if value is None else int(value)

    def since(self, low: int) -> Filter:
        """``__GlobalStamp > low``: every save takes its own stamp, so the one at ``low`` was read.

        (Rows saved before tracking began all carry 0: ``>=`` would re-read them all.)
        """
        return field(self.field_name) > low


Watermark = ModifiedWatermark | TimestampWatermark | GlobalStampWatermark


@attrs.frozen
class FieldMap:
    """One copied field: the 4D ``source``, the sink's ``target`` column, an optional transform."""

    source: str
    target: str = attrs.field()
    transform: Callable[[Any], Any] | None = attrs.field(default=None, eq=False)
    kind: str | None = None
    """The sink column's kind (``integer``, ``real``, ``bool``, ``date``, ``timestamp``,
    ``json``, ``text``); None: the source field's. Set it when a transform changes the type."""

    @target.default
    def _target(self) -> str:
        return self.source

    def __attrs_post_init__(self) -> None:
        validate_identifier(self.source, "field")
        validate_identifier(self.target, "column")
        if self.kind is not None and self.kind not in COLUMN_KINDS:
            msg = f"field {self.source}: column kind must be one of {sorted(COLUMN_KINDS)}"
            raise ConfigurationError(msg)


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    # One name is a common slip for a tuple of one: never split it into letters.
    return (value,) if isinstance(value, str) else tuple(value)


def _field_maps(value: Sequence[FieldMap | str] | Mapping[str, str]) -> tuple[FieldMap, ...]:
    if isinstance(value, Mapping):
        return tuple(FieldMap(s, t) for s, t in value.items())
    return tuple(f if isinstance(f, FieldMap) else FieldMap(f) for f in value)


@attrs.frozen
class SyncMapping:
    """A 4D table kept in step with a sink: its key, the fields, the watermark, delete detection.

    ``fields`` empty means every field the table's catalog lists (relations excluded);
    ``key`` is ``__KEY`` or a business key field (unique in 4D). ``name`` (default: the
    table) names the checkpoint, so two mappings of one table keep separate ones.
    """

    table: str
    watermark: Watermark = attrs.field(factory=ModifiedWatermark)
    key: str = "__KEY"
    fields: tuple[FieldMap, ...] = attrs.field(default=(), converter=_field_maps)
    deletes: DeleteDetection = "keys"
    name: str = attrs.field()
    target: str = attrs.field()
    """The sink's table (default: the 4D table's name)."""
    after: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Names of the mappings that must run before this one (parents before variants)."""
    conflict_policy: str = "manual"
    """What write-back does when 4D changed an entity since the local change's base stamp:
    ``newest_wins``, ``legacy_wins``, ``local_wins`` or ``manual`` (ADR 0036)."""

    @name.default
    def _name(self) -> str:
        return self.table

    @target.default
    def _target(self) -> str:
        return self.table

    def __attrs_post_init__(self) -> None:
        validate_identifier(self.table, "table")
        validate_identifier(self.target, "table")
        validate_identifier(self.key, "key field")
        from ._conflicts import check_policy  # noqa: PLC0415 - _conflicts imports this module

        check_policy(self.conflict_policy, table=self.table)
        if self.deletes not in ("keys", "deleted_records", "none"):
            msg = f"mapping {self.name}: deletes must be keys, deleted_records or none"
            raise ConfigurationError(msg, table=self.table)
        if self.deletes == "deleted_records" and self.key != "__KEY":
            msg = (
                f"mapping {self.name}: __DeletedRecords names entities by primary key; "
                "use key='__KEY' with deletes='deleted_records'"
            )
            raise ConfigurationError(msg, table=self.table)
        if any(f.source == self.key and f.transform is not None for f in self.fields):
            msg = f"mapping {self.name}: the key {self.key} cannot have a transform"
            raise ConfigurationError(msg, table=self.table)
        if self.name in self.after:
            msg = f"mapping {self.name}: a mapping cannot run after itself"
            raise ConfigurationError(msg, table=self.table)
        targets = [f.target for f in self.fields]
        if len(set(targets)) != len(targets):
            msg = f"mapping {self.name}: two fields map to one column"
            raise ConfigurationError(msg, table=self.table)

    def read_fields(self, catalog: Sequence[str]) -> list[str]:
        """The fields to request: the mapped ones (or the catalog's) plus key and watermark."""
        names = [f.source for f in self.fields] or list(catalog)
        extra = [self.key, *self.watermark.fields]
        return list(dict.fromkeys([*names, *(n for n in extra if n != "__KEY")]))

    def columns(self, catalog: Sequence[str]) -> list[FieldMap]:
        """The sink's columns in order: ``__KEY``, ``__STAMP``, then the mapped fields."""
        maps = list(self.fields) or [FieldMap(n) for n in catalog]
        system = [FieldMap("__KEY"), FieldMap("__STAMP")]
        return [*system, *(m for m in maps if m.target not in {"__KEY", "__STAMP"})]

    def row(self, record: Record, columns: Sequence[FieldMap]) -> dict[str, Any]:
        """The sink row of ``record``: each column's value through its transform."""
        out: dict[str, Any] = {}
        for m in columns:
            value = record.get(m.source)
            out[m.target] = m.transform(value) if m.transform is not None else value
        return out

    def key_of(self, record: Record) -> str:
        """The record's key as text (``__KEY`` is a string; a business key may be a number)."""
        value = record.get(self.key)
        if value is None:
            msg = f"mapping {self.name}: a record of {self.table} has no {self.key}"
            raise ConfigurationError(msg, table=self.table)
        return str(value)


def run_order(mappings: Sequence[SyncMapping]) -> list[SyncMapping]:
    """``mappings`` in an order where each runs after the ones its ``after`` names.

    Ties keep the given order. A name in ``after`` that is not among ``mappings``, two
    mappings with one name, or a cycle is a ConfigurationError naming the mappings.
    """
    by_name: dict[str, SyncMapping] = {}
    for m in mappings:
        if m.name in by_name:
            msg = f"two sync mappings are named {m.name}"
            raise ConfigurationError(msg, table=m.table)
        by_name[m.name] = m
    for m in mappings:
        missing = [n for n in m.after if n not in by_name]
        if missing:
            msg = f"mapping {m.name} runs after unknown mapping(s): {', '.join(missing)}"
            raise ConfigurationError(msg, table=m.table)
    sorter = graphlib.TopologicalSorter({m.name: m.after for m in mappings})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        msg = f"sync mappings depend on each other in a cycle: {cycle}"
        raise ConfigurationError(msg) from None
    rank = {m.name: i for i, m in enumerate(mappings)}
    out: list[SyncMapping] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank.__getitem__)
        out.extend(by_name[n] for n in ready)
        sorter.done(*ready)
    return out
