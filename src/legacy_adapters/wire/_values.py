"""4D wire values: one private cattrs converter, the one ``D!M!YYYY`` implementation.

Shared by every adapter that holds or receives 4D JSON (the HTTP adapter, the in-memory
adapter, the recorded fake); it does no I/O and imports no HTTP library.

Raw mode hands records on exactly as 4D sent them (what ``wsz_api`` needs); typed mode
turns ``D!M!YYYY`` into dates, millisecond times into times, ``__TIMESTAMP`` into aware
datetimes and deferred relations into keys, driven by the table schema from
``$catalog/{Table}``. Nothing here does I/O; malformed input raises :class:`DecodeError`,
which the backend turns into a ProtocolError with the request's context.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import cattrs

from legacy_core._checks import ascii_int, describe
from legacy_core.schema import AttributeSpec, TableSchema

__all__ = [
    "AttributeSpec",
    "DecodeError",
    "TableSchema",
    "column_kind",
    "date_parts",
    "decode_column",
    "decode_record",
    "encode_values",
    "is_wire_date",
]

_MS_PER_DAY = 86_400_000
# ASCII digits, whole text: \d alone matches "٣" and $ a trailing newline.
_DMY = re.compile(r"([0-9]{1,2})!([0-9]{1,2})!([0-9]{1,4})")
_ISO_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_BANGS = re.compile(r"^!!(.*)!!$")
_RELATION_KEY = re.compile(r"[\[(]\"?([^\]\")]*)\"?[\])]\s*/?$")


class DecodeError(ValueError):
    """A value or envelope does not have the shape 4D documents."""


# --- marker types: what the converter structures a wire value *into* -----------------
class _Date:
    """A 4D date that may carry a time (``simpleDate`` false)."""


class _SimpleDate:
    """A date-only 4D field."""


class _Duration:
    """A 4D time: milliseconds since midnight."""


class _Timestamp:
    """``__TIMESTAMP``: ISO-8601 UTC with 4D's quirks."""


class _Key:
    """``__KEY``: always a string."""


class _Stamp:
    """``__STAMP``: an int."""


class _Int:
    """long, long64, word, byte."""


class _Number:
    """number (real)."""


class _Bool:
    """bool."""


class _Str:
    """string, text, uuid."""


class _Relation:
    """A related entity: deferred or expanded; decoded to its key."""


class _AsSent:
    """object, blob, image and anything unknown: kept as sent."""


def _date(value: Any, _cls: type) -> dt.date | dt.datetime | None:
    return _decode_date(value, simple=False)


def _simple_date(value: Any, _cls: type) -> dt.date | dt.datetime | None:
    return _decode_date(value, simple=True)


def _decode_date(value: Any, *, simple: bool) -> dt.date | dt.datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        msg = f"a 4D date must be a string, not {type(value).__name__}"
        raise DecodeError(msg)
    text = value.strip()
    if m := _BANGS.match(text):
        # v20 sends some dates as !!YYYY-MM-DD!!: the same date as D!M!YYYY, not a moment.
        text = m.group(1).strip()
    parts = date_parts(text)
    if parts is not None:
        # 0!0!0 (and 0000-00-00) is 4D's empty date.
        return None if parts == (0, 0, 0) else _make_date(*parts, value)
    moment = _decode_timestamp(text, None)
    if moment is None or not simple:
        return moment
    return moment.date()


def date_parts(text: str) -> tuple[int, int, int] | None:
    """``(year, month, day)`` of ``D!M!YYYY`` or ``YYYY-MM-DD`` (``0!0!0``: zeros), else None.

    ASCII digits and the whole text only: a digit class would also take "٣" and an
    end-of-line anchor a trailing newline.
    """
    if m := _DMY.fullmatch(text):
        day, month, year = (int(g) for g in m.groups())
        return (year, month, day)
    if m := _ISO_DAY.fullmatch(text):
        year, month, day = (int(g) for g in m.groups())
        return (year, month, day)
    return None


def is_wire_date(value: object) -> bool:
    """Whether ``value`` is a date as 4D sends it: ``D!M!YYYY`` (``0!0!0`` included)."""
    return isinstance(value, str) and _DMY.fullmatch(value) is not None


def _make_date(year: int, month: int, day: int, value: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        msg = f"invalid 4D date {value!r}"
        raise DecodeError(msg) from None


def _duration(value: Any, _cls: type) -> dt.time | dt.timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        msg = f"a 4D time must be milliseconds (a number), not {value!r}"
        raise DecodeError(msg)
    ms = int(value)
    if 0 <= ms < _MS_PER_DAY:
        seconds, millis = divmod(ms, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return dt.time(hour, minute, second, millis * 1000)
    try:
        return dt.timedelta(milliseconds=ms)
    except OverflowError:
        msg = f"4D time {value!r} is out of range"
        raise DecodeError(msg) from None


def _decode_timestamp(value: Any, _cls: type | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        msg = f"a 4D timestamp must be a string, not {type(value).__name__}"
        raise DecodeError(msg)
    # Older servers wrap the ISO text in literal quotes; update answers in !!…!!.
    text = value.strip().strip('"').strip()
    m = _BANGS.match(text)
    if m:
        text = m.group(1).strip()
    day = _ISO_DAY.fullmatch(text)
    if day:
        year, month, dom = (int(g) for g in day.groups())
        if (year, month, dom) == (0, 0, 0):
            return None
        return dt.datetime.combine(_make_date(year, month, dom, value), dt.time(), dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        msg = f"invalid 4D timestamp {value!r}"
        raise DecodeError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # 4D timestamps are UTC
    return moment


def _key(value: Any, _cls: type) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    msg = f"__KEY must be a string, not {type(value).__name__}"
    raise DecodeError(msg)


def _stamp(value: Any, _cls: type) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        # ASCII digits only: "²".isdigit() is True, and int("²") raises ValueError.
        stamp = ascii_int(value)
        if stamp is not None and stamp >= 0:
            return stamp
    msg = f"__STAMP must be an int, not {describe(value)}"
    raise DecodeError(msg)


def _int(value: Any, _cls: type) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    msg = f"expected an integer, got {value!r}"
    raise DecodeError(msg)


def _number(value: Any, _cls: type) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    msg = f"expected a number, got {value!r}"
    raise DecodeError(msg)


def _bool(value: Any, _cls: type) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    msg = f"expected a boolean, got {value!r}"
    raise DecodeError(msg)


def _str(value: Any, _cls: type) -> str | None:
    if value is None or isinstance(value, str):
        return value
    msg = f"expected a string, got {type(value).__name__}"
    raise DecodeError(msg)


def _relation(value: Any, _cls: type) -> str | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        inner = value.get("__deferred", value)
        if isinstance(inner, Mapping):
            key = inner.get("__KEY")
            if key is not None:
                return _key(key, _Key)
            uri = inner.get("uri")
            if isinstance(uri, str):
                m = _RELATION_KEY.search(uri)
                if m and m.group(1):
                    return m.group(1)
                return None
            if "__deferred" in value or "uri" in inner:
                return None
    msg = f"a related entity must be a deferred object, got {value!r}"
    raise DecodeError(msg)


def _as_sent(value: Any, _cls: type) -> Any:
    return value


_converter = cattrs.Converter()
for _marker, _hook in (
    (_Date, _date),
    (_SimpleDate, _simple_date),
    (_Duration, _duration),
    (_Timestamp, _decode_timestamp),
    (_Key, _key),
    (_Stamp, _stamp),
    (_Int, _int),
    (_Number, _number),
    (_Bool, _bool),
    (_Str, _str),
    (_Relation, _relation),
    (_AsSent, _as_sent),
):
    _converter.register_structure_hook(_marker, _hook)


def _unstructure_date(value: dt.date) -> str:
    return f"{value.day}!{value.month}!{value.year}"


def _unstructure_datetime(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _unstructure_time(value: dt.time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000


def _unstructure_timedelta(value: dt.timedelta) -> int:
    return int(value / dt.timedelta(milliseconds=1))


_converter.register_unstructure_hook(dt.date, _unstructure_date)
_converter.register_unstructure_hook(dt.datetime, _unstructure_datetime)
_converter.register_unstructure_hook(dt.time, _unstructure_time)
_converter.register_unstructure_hook(dt.timedelta, _unstructure_timedelta)
_converter.register_unstructure_hook(decimal.Decimal, float)

_TYPE_MARKERS: dict[str, type] = {
    "long": _Int,
    "long64": _Int,
    "word": _Int,
    "byte": _Int,
    "integer": _Int,
    "number": _Number,
    "real": _Number,
    "float": _Number,
    "bool": _Bool,
    "boolean": _Bool,
    "string": _Str,
    "text": _Str,
    "uuid": _Str,
    "duration": _Duration,
    "time": _Duration,
}
_SYSTEM_MARKERS: dict[str, type] = {"__KEY": _Key, "__STAMP": _Stamp, "__TIMESTAMP": _Timestamp}


def _marker_for(spec: AttributeSpec | None) -> type:
    if spec is None:
        return _AsSent
    if spec.kind == "relatedEntity":
        return _Relation
    if spec.kind not in {"storage", "calculated", "alias"}:
        return _AsSent
    if spec.type == "date":
        return _SimpleDate if spec.simple_date else _Date
    return _TYPE_MARKERS.get(spec.type, _AsSent)


def _names_one_entity(value: Any) -> bool:
    """A deferred link to one entity (``__KEY``, or a URI ending in ``(key)``/``[key]``).

    A deferred 1->N relation (``.../Teile?$expand=Teile``) or image names none: without a
    catalog entry it is kept as sent rather than turned into a ``None`` key.
    """
    inner = value.get("__deferred") if isinstance(value, Mapping) else None
    if not isinstance(inner, Mapping):
        return False
    if inner.get("__KEY") is not None:
        return True
    uri = inner.get("uri")
    return isinstance(uri, str) and _RELATION_KEY.search(uri) is not None


_Hook = Callable[[Any, type], Any]
_PLANS: dict[int, tuple[TableSchema, dict[str, tuple[_Hook, type]]]] = {}


def _plan(schema: TableSchema | None) -> dict[str, tuple[_Hook, type]]:
    # The converter's hook per attribute, looked up once per schema rather than once per
    # value (typed pages decode millions of values). The entry keeps the schema alive, so
    # its id cannot be reused by another schema while cached.
    if schema is None:
        return {}
    entry = _PLANS.get(id(schema))
    if entry is None or entry[0] is not schema:
        plan: dict[str, tuple[_Hook, type]] = {}
        for name, spec in schema.attributes.items():
            marker = _SYSTEM_MARKERS.get(name) or _marker_for(spec)
            plan[name] = (_converter.get_structure_hook(marker), marker)
        for name, marker in _SYSTEM_MARKERS.items():
            plan.setdefault(name, (_converter.get_structure_hook(marker), marker))
        if len(_PLANS) > 256:
            _PLANS.clear()  # schemas are cached per environment; this bounds odd callers
        entry = _PLANS[id(schema)] = (schema, plan)
    return entry[1]


def decode_record(
    record: Mapping[str, Any],
    schema: TableSchema | None,
    expanded: Mapping[str, TableSchema | None] | None = None,
) -> dict[str, Any]:
    """Decode one entity to Python types (typed mode); raise DecodeError on a bad value.

    ``expanded`` names the relations asked for with ``$expand`` and the schemas of their
    tables: an inlined related entity is decoded to a dict (a 1->N one, sent as a nested
    ``__ENTITIES`` page, to a list of dicts); one 4D left deferred stays its key.
    """
    out = _decode(record, schema)
    if expanded:
        for name, target in expanded.items():
            value = record.get(name)
            if isinstance(value, Mapping) and "__deferred" not in value:
                try:
                    out[name] = _inlined(value, target)
                except DecodeError as exc:
                    table = schema.table if schema is not None else "?"
                    msg = f"{table}.{name}: {exc}"
                    raise DecodeError(msg) from None
    return out


def _inlined(value: Mapping[str, Any], target: TableSchema | None) -> Any:
    entities = value.get("__ENTITIES")
    if isinstance(entities, list):
        if not all(isinstance(e, Mapping) for e in entities):
            msg = "an expanded collection holds a non-object"
            raise DecodeError(msg)
        return [decode_record(e, target) for e in entities]
    if "__KEY" in value:
        return decode_record(value, target)
    msg = f"an expanded related entity has no __KEY: {sorted(value)!r}"
    raise DecodeError(msg)


def _decode(record: Mapping[str, Any], schema: TableSchema | None) -> dict[str, Any]:
    plan = _plan(schema)
    out: dict[str, Any] = {}
    for name, value in record.items():
        step = plan.get(name)
        if step is None:
            marker = _SYSTEM_MARKERS.get(name) or _AsSent
            if marker is _AsSent and _names_one_entity(value):
                marker = _Relation  # deferred N->1 relation not in the schema: still a key
            step = (_converter.get_structure_hook(marker), marker)
        hook, marker = step
        try:
            out[name] = hook(value, marker)
        except DecodeError as exc:
            table = schema.table if schema is not None else "?"
            msg = f"{table}.{name}: {exc}"
            raise DecodeError(msg) from None
    return out


def encode_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Python values to what 4D accepts in an update (dates ``D!M!YYYY``, times in ms)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        out[name] = _converter.unstructure(value)
    return out


# --- one column at a time: what the columnar decoder (wire._arrow) needs ---------------

_KINDS: dict[type, str] = {
    _Key: "key",
    _Stamp: "stamp",
    _Timestamp: "timestamp",
    _Int: "int",
    _Number: "number",
    _Bool: "bool",
    _Str: "str",
    _Date: "date",
    _SimpleDate: "date",
    _Duration: "duration",
    _Relation: "relation",
    _AsSent: "as_sent",
}


def column_kind(name: str, schema: TableSchema | None) -> str:
    """What the typed decoder makes of attribute ``name`` (``key``, ``date``, ``as_sent``...).

    The kinds are the typed decoder's own (:func:`decode_record`), so the columnar path
    converts each column as the row path converts each value.
    """
    marker = _SYSTEM_MARKERS.get(name)
    if marker is None:
        spec = schema.attributes.get(name) if schema is not None else None
        marker = _marker_for(spec)
    return _KINDS[marker]


def decode_column(name: str, values: list[Any], schema: TableSchema | None) -> list[Any]:
    """Decode one column's values exactly as :func:`decode_record` decodes them in rows."""
    step = _plan(schema).get(name)
    try:
        if step is not None:
            hook, marker = step
            return [hook(v, marker) for v in values]
        marker = _SYSTEM_MARKERS.get(name) or _AsSent
        hook = _converter.get_structure_hook(marker)
        if marker is not _AsSent:
            return [hook(v, marker) for v in values]
        # An attribute the schema lacks: a deferred N->1 link is still a key, per value.
        relation = _converter.get_structure_hook(_Relation)
        return [relation(v, _Relation) if _names_one_entity(v) else v for v in values]
    except DecodeError as exc:
        table = schema.table if schema is not None else "?"
        msg = f"{table}.{name}: {exc}"
        raise DecodeError(msg) from None
