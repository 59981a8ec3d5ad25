"""4D collection pages straight into Arrow, without a Python object per value (ADR 0025).

:func:`arrow_page` parses the answer's bytes with ``pyarrow.json`` (C++, the GIL
released, so pages decode in parallel on worker threads) and converts each column with
Arrow compute kernels to the types the typed decoder gives values: ``D!M!YYYY`` →
``date32`` (``0!0!0`` null), 4D times → ``time32[ms]`` (``duration[ms]`` past 24 h),
``__TIMESTAMP`` → ``timestamp[ms, UTC]``, relations → their key, 4D Objects as Arrow
structs. It answers None when the bytes are not a plain, regular page (an error
envelope, a mixed-shape Object that Arrow cannot infer one type for, a value of the
wrong type); the caller then decodes the JSON itself and calls :func:`entities_table`,
which builds the same columns from the entities through the row decoder (so bad values
raise the same :class:`DecodeError`), with JSON text for columns of no single shape.

A column whose values the kernels do not cover (an ISO moment in a date attribute, a
float number of milliseconds) is decoded through the row decoder alone, so both paths
give the same values. Requires pyarrow; pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from legacy_core.columnar import ArrowRecords, infer_array
from legacy_core.model import Page

from ._envelopes import parse_entity_set_id
from ._values import TableSchema, column_kind, decode_column

__all__ = ["arrow_page", "entities_table"]

_MS_PER_DAY = 86_400_000
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
_DMY = r"^(?P<d>[0-9]{1,2})!(?P<m>[0-9]{1,2})!(?P<y>[0-9]{1,4})$"
_ISO_DAY = r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})$"
_BANGS = r"^!!(.*)!!$"
_ZONE = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_RELATION_KEY = r"[\[(]\"?(?P<k>[^\]\")]*)\"?[\])]\s*/?$"
_SIMPLE = {"key": pa.string(), "str": pa.string(), "relation": pa.string()}


def arrow_page(  # noqa: PLR0911 - each None names one shape the JSON path must judge
    body: bytes,
    *,
    skip: int,
    schema: TableSchema | None,
    typed: bool,
    want_entity_set: bool = False,
    entity_set: str | None = None,
) -> Page | None:
    """The page in ``body`` as Arrow columns, or None when only the JSON path can read it."""
    envelope = _read_envelope(body, _declared(schema) if typed else {})
    if envelope is None:
        return None
    names = envelope.column_names
    if "__ERROR" in names or "__STATUS" in names or "__ENTITIES" not in names:
        return None  # checked_json maps these (or reports the missing array)
    count = _count_field(envelope, "__COUNT", None)
    entities = envelope.column("__ENTITIES").combine_chunks()
    if count is None or not pa.types.is_list(entities.type) or entities.null_count:
        return None
    items = entities.flatten()
    if len(items) and (not pa.types.is_struct(items.type) or items.null_count):
        return None  # __ENTITIES of something else than objects: the JSON path says what
    first = _count_field(envelope, "__FIRST", skip)
    sent = _count_field(envelope, "__SENT", len(items))
    if first is None or sent is None or sent != len(items):
        return None
    if want_entity_set:
        if "__ENTITYSET" not in names:
            return None
        entity_set = parse_entity_set_id(envelope.column("__ENTITYSET")[0].as_py())
    table = pa.Table.from_struct_array(items) if len(items) else pa.table({})
    if typed:
        table = _typed_table(table, schema)
    return Page(ArrowRecords(table), count, first, sent=sent, entity_set=entity_set)


def entities_table(
    entities: Sequence[Mapping[str, Any]], schema: TableSchema | None, *, typed: bool
) -> Any:
    """The Arrow table of 4D entities as decoded JSON (the path for irregular pages)."""
    names: dict[str, None] = {}
    for entity in entities:
        names.update(dict.fromkeys(entity))
    if not names:
        return pa.Table.from_pylist([{} for _ in entities])
    arrays = []
    for name in names:
        values = [e.get(name) for e in entities]
        if typed:
            kind = column_kind(name, schema)
            arrays.append(_array_of(kind, decode_column(name, values, schema)))
        else:
            arrays.append(infer_array(values))
    return pa.Table.from_arrays(arrays, names=list(names))


# --- the envelope ----------------------------------------------------------------------


def _read_envelope(body: bytes, declared: Mapping[str, Any]) -> Any | None:
    if body.lstrip()[:1] != b"{":
        return None
    options = pj.ReadOptions(block_size=max(len(body) + 1, 1 << 16), use_threads=False)
    # 4D may pretty-print its answers: values (and the envelope) can span lines.
    parse = pj.ParseOptions(newlines_in_values=True)
    try:
        envelope = pj.read_json(io.BytesIO(body), read_options=options, parse_options=parse)
        # Inference can differ from what 4D means: ISO-looking text ("2020-01-02") becomes
        # timestamp[s], a number next to a string becomes text. Read such a page again
        # with those fields declared (the catalog's types; text for the timestamps), in
        # the inferred order; a value that does not fit then sends it to the JSON path.
        schema = _declared_schema(envelope.schema, declared)
        if schema is not None:
            parse = pj.ParseOptions(
                newlines_in_values=True, explicit_schema=schema, unexpected_field_behavior="error"
            )
            envelope = pj.read_json(io.BytesIO(body), read_options=options, parse_options=parse)
    except _ARROW_ERRORS:
        return None
    return envelope if envelope.num_rows == 1 else None


_DECLARED = {
    "key": pa.string(),
    "str": pa.string(),
    "date": pa.string(),
    "timestamp": pa.string(),
    "stamp": pa.int64(),
    "int": pa.int64(),
    "duration": pa.int64(),
    "number": pa.float64(),
    "bool": pa.bool_(),
}


def _declared(schema: TableSchema | None) -> dict[str, Any]:
    """The Arrow type each catalog attribute must parse as (relations and Objects: any)."""
    names = {"__KEY", "__STAMP", "__TIMESTAMP", *(schema.attributes if schema else ())}
    kinds = {name: column_kind(name, schema) for name in names}
    return {name: _DECLARED[kind] for name, kind in kinds.items() if kind in _DECLARED}


def _fits(inferred: Any, declared: Any) -> bool:
    # What the kernels accept as is: the type itself, nulls, whole numbers for a number.
    if inferred == declared or pa.types.is_null(inferred):
        return True
    return bool(pa.types.is_floating(declared) and pa.types.is_int64(inferred))


def _declared_schema(schema: Any, declared: Mapping[str, Any]) -> Any | None:
    """The envelope's schema with the declared entity types and no timestamps, or None."""
    fields = [
        _declared_entities(f, declared)
        if f.name == "__ENTITIES"
        else f.with_type(_text_type(f.type))
        for f in schema
    ]
    changed = any(f.type != g.type for f, g in zip(fields, schema, strict=True))
    return pa.schema(fields) if changed else None


def _declared_entities(field: Any, declared: Mapping[str, Any]) -> Any:
    entities = field.type
    if not pa.types.is_list(entities) or not pa.types.is_struct(entities.value_type):
        return field  # not a page: the JSON path reports it
    attributes = []
    for f in entities.value_type:
        want = declared.get(f.name)
        fit = want is None or _fits(f.type, want)
        attributes.append(f.with_type(_text_type(f.type) if fit else want))
    item = entities.value_field.with_type(pa.struct(attributes))
    return field.with_type(pa.list_(item))


def _text_type(t: Any) -> Any:
    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_text_type(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_text_type(t.value_type)))
    return t


def _count_field(envelope: Any, name: str, default: int | None) -> int | None:
    if name not in envelope.column_names:
        return default
    value = envelope.column(name)[0].as_py()
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


# --- columns, by what the typed decoder makes of them ----------------------------------


def _typed_table(table: Any, schema: TableSchema | None) -> Any:
    arrays = []
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        kind = column_kind(name, schema)
        array = _fast(kind, column, name, schema)
        if array is None:  # the kernels do not cover these values: the row decoder does
            array = _array_of(kind, decode_column(name, column.to_pylist(), schema))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=table.column_names)


def _fast(kind: str, column: Any, name: str, schema: TableSchema | None) -> Any | None:
    t = column.type
    if kind == "as_sent":
        if pa.types.is_struct(t) and "__deferred" in t.names and _unknown(name, schema):
            return None  # maybe a relation the schema lacks: decided per value
        return column
    if pa.types.is_null(t):
        return pa.nulls(len(column), _null_type(kind))
    try:
        return _CONVERTERS[kind](column)
    except _ARROW_ERRORS:
        return None


def _unknown(name: str, schema: TableSchema | None) -> bool:
    return schema is None or name not in schema.attributes


def _null_type(kind: str) -> Any:
    return {
        "stamp": pa.int64(),
        "int": pa.int64(),
        "number": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "duration": pa.time32("ms"),
        "timestamp": pa.timestamp("ms", "UTC"),
    }.get(kind, pa.string())


def _string(column: Any) -> Any | None:
    return column if pa.types.is_string(column.type) else None


def _key(column: Any) -> Any | None:
    if pa.types.is_string(column.type):
        return column
    if pa.types.is_integer(column.type):
        return column.cast(pa.string())
    return None


def _integer(column: Any) -> Any | None:
    return column if pa.types.is_int64(column.type) else None


def _number(column: Any) -> Any | None:
    t = column.type
    if pa.types.is_int64(t) or pa.types.is_floating(t):
        return column.cast(pa.float64())
    return None


def _boolean(column: Any) -> Any | None:
    return column if pa.types.is_boolean(column.type) else None


def _trimmed(column: Any) -> Any:
    text = pc.utf8_trim_whitespace(column)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _BANGS, r"\1"))


def _dates(column: Any) -> Any | None:
    if not pa.types.is_string(column.type):
        return None
    plain = _plain_dates(column)
    return plain if plain is not None else _any_dates(column)


def _plain_dates(column: Any) -> Any | None:
    """The usual column, every value ``D!M!YYYY``, ``0!0!0`` or empty: two kernels and checks."""
    moments = pc.strptime(column, format="%d!%m!%Y", unit="s", error_is_null=True)
    empty = pc.or_kleene(pc.equal(column, "0!0!0"), pc.equal(column, ""))
    covered = pc.or_kleene(pc.or_kleene(pc.is_null(column), empty), pc.is_valid(moments))
    if not pc.all(covered).as_py():
        return None
    # strptime rolls 31!2!2020 over to 2 March and takes year 0: the row decoder refuses
    # both, so a day that moved or a year out of range leaves it to the general path.
    day = pc.cast(pc.list_element(pc.split_pattern(column, "!", max_splits=1), 0), pa.int32())
    year = pc.year(moments)
    sound = pc.and_(pc.equal(pc.day(moments), day), pc.greater_equal(year, 1))
    if not pc.all(pc.or_kleene(pc.is_null(moments), sound)).as_py():
        return None
    return moments.cast(pa.date32())


def _any_dates(column: Any) -> Any | None:
    """Dates with blanks, ``!!YYYY-MM-DD!!`` or ISO days: the row decoder's rules, vectorised."""
    text = _trimmed(column)
    dmy = pc.extract_regex(text, _DMY)
    iso = pc.extract_regex(text, _ISO_DAY)
    blank = pc.equal(text, "")
    matched = pc.or_(pc.is_valid(dmy), pc.is_valid(iso))
    if not pc.all(pc.or_kleene(pc.or_kleene(pc.is_null(text), blank), matched)).as_py():
        return None  # ISO moments (a date with a time): the row decoder's rules
    parts = {
        p: pc.cast(pc.coalesce(pc.struct_field(dmy, p), pc.struct_field(iso, p)), pa.int32())
        for p in ("y", "m", "d")
    }
    y, m, d = parts["y"], parts["m"], parts["d"]
    zero = pc.and_(pc.and_(pc.equal(y, 0), pc.equal(m, 0)), pc.equal(d, 0))
    if pc.any(pc.and_(pc.equal(y, 0), pc.invert(zero))).as_py():
        return None  # year 0 of a non-empty date: the row decoder raises on it
    padded = pc.binary_join_element_wise(
        pc.utf8_lpad(pc.cast(y, pa.string()), 4, "0"),
        pc.utf8_lpad(pc.cast(m, pa.string()), 2, "0"),
        pc.utf8_lpad(pc.cast(d, pa.string()), 2, "0"),
        "-",
    )
    empty = pc.or_kleene(pc.fill_null(zero, False), pc.fill_null(blank, False))
    return pc.if_else(empty, pa.scalar(None, pa.string()), padded).cast(pa.date32())


def _times(column: Any) -> Any | None:
    if not pa.types.is_int64(column.type):
        return None
    low, high = pc.min_max(column).values()
    if low.as_py() is None or (low.as_py() >= 0 and high.as_py() < _MS_PER_DAY):
        return column.cast(pa.int32()).cast(pa.time32("ms"))
    return column.cast(pa.duration("ms"))


def _timestamps(column: Any) -> Any | None:
    if not pa.types.is_string(column.type):
        return None
    if pc.all(pc.match_substring_regex(column, r"Z$")).as_py():
        # The usual column (4D sends ISO-8601 in UTC with a Z): one cast, safe, so a value
        # finer than milliseconds or not a moment at all raises and takes the long way.
        try:
            return column.cast(pa.timestamp("ms", "UTC"))
        except _ARROW_ERRORS:
            pass
    text = pc.utf8_trim_whitespace(column)
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r'^"+|"+$', ""))
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _BANGS, r"\1"))
    day = pc.is_valid(pc.extract_regex(text, _ISO_DAY))
    empty = pc.or_kleene(pc.equal(text, ""), pc.equal(text, "0000-00-00"))
    text = pc.if_else(day, pc.binary_join_element_wise(text, "T00:00:00Z", ""), text)
    zoned = pc.match_substring_regex(text, _ZONE)
    if not pc.all(pc.or_kleene(pc.or_kleene(pc.is_null(text), empty), zoned)).as_py():
        return None  # no zone (4D means UTC) or another shape: the row decoder's rules
    text = pc.if_else(pc.fill_null(empty, False), pa.scalar(None, pa.string()), text)
    moments = text.cast(pa.timestamp("us", "UTC"))
    try:
        return moments.cast(pa.timestamp("ms", "UTC"))  # safe: fails if it would truncate
    except _ARROW_ERRORS:
        return moments


def _relations(column: Any) -> Any | None:  # noqa: PLR0911 - one None per unusual shape
    t = column.type
    if not pa.types.is_struct(t):
        return None
    top = _string_field(column, "__KEY") if "__KEY" in t.names else None
    if "__deferred" not in t.names:
        return top if top is not None and top.null_count == column.null_count else None
    deferred = pc.struct_field(column, "__deferred")
    if not pa.types.is_struct(deferred.type):
        return None
    inner = _string_field(deferred, "__KEY") if "__KEY" in deferred.type.names else None
    if inner is not None and inner.null_count == deferred.null_count == column.null_count:
        return inner  # the usual column: every link deferred with its __KEY (no URI parsing)
    from_uri = None
    if "uri" in deferred.type.names:
        uri = pc.struct_field(deferred, "uri")
        if not pa.types.is_string(uri.type) and not pa.types.is_null(uri.type):
            return None
        if pa.types.is_string(uri.type):
            found = pc.struct_field(pc.extract_regex(uri, _RELATION_KEY), "k")
            from_uri = pc.if_else(pc.equal(found, ""), pa.scalar(None, pa.string()), found)
    candidates = [c for c in (inner, from_uri) if c is not None]
    key = pc.coalesce(*candidates) if candidates else pa.nulls(len(column), pa.string())
    if top is None:
        # An entity sent without __deferred and without __KEY: the row decoder raises.
        if pc.any(pc.and_(pc.is_valid(column), pc.is_null(deferred))).as_py():
            return None
        return pc.if_else(pc.is_valid(column), key, pa.scalar(None, pa.string()))
    return pc.if_else(pc.is_valid(deferred), key, top)


def _string_field(struct: Any, name: str) -> Any | None:
    field = pc.struct_field(struct, name)
    if pa.types.is_string(field.type):
        return field
    if pa.types.is_integer(field.type) or pa.types.is_null(field.type):
        return field.cast(pa.string())
    msg = f"{name} is {field.type}"
    raise pa.ArrowInvalid(msg)


_CONVERTERS: dict[str, Any] = {
    "key": _key,
    "str": _string,
    "stamp": _integer,
    "int": _integer,
    "number": _number,
    "bool": _boolean,
    "date": _dates,
    "duration": _times,
    "timestamp": _timestamps,
    "relation": _relations,
}


# --- columns from decoded values (the row decoder's output) ----------------------------


def _array_of(kind: str, values: list[Any]) -> Any:  # noqa: PLR0911 - one return per kind
    """One column of decoded values as the Arrow type the kernels give the same kind."""
    try:
        if kind in _SIMPLE:
            return pa.array(values, _SIMPLE[kind])
        if kind in {"stamp", "int"}:
            return pa.array(values, pa.int64())
        if kind == "number":
            return pa.array(values, pa.float64())
        if kind == "bool":
            return pa.array(values, pa.bool_())
        if kind == "date":
            return _date_values(values)
        if kind == "duration":
            return _time_values(values)
        if kind == "timestamp":
            return _moment_values(values)
    except (*_ARROW_ERRORS, OverflowError, TypeError):
        pass  # a value outside the type (an int past 64 bits): kept whole as JSON text
    return infer_array(values)


def _date_values(values: list[Any]) -> Any:
    if all(v is None or not isinstance(v, dt.datetime) for v in values):
        return pa.array(values, pa.date32())
    return _moment_values(
        [
            v
            if v is None or isinstance(v, dt.datetime)
            else dt.datetime.combine(v, dt.time(), dt.UTC)
            for v in values
        ]
    )


def _moment_values(values: list[Any]) -> Any:
    unit = "us" if any(v is not None and v.microsecond % 1000 for v in values) else "ms"
    return pa.array(values, pa.timestamp(unit, "UTC"))


def _time_values(values: list[Any]) -> Any:
    if all(v is None or isinstance(v, dt.time) for v in values):
        return pa.array(values, pa.time32("ms"))
    return pa.array([_as_timedelta(v) for v in values], pa.duration("ms"))


def _as_timedelta(value: Any) -> Any:
    if not isinstance(value, dt.time):
        return value
    return dt.timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )
