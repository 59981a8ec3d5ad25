"""The columnar decoder against the row decoder on generated 4D pages (ADR 0025).

Pages are drawn attribute by attribute from what 4D sends for each catalog type, well
formed or not: ``D!M!YYYY`` dates with blanks, ``0!0!0``, ``!!YYYY-MM-DD!!`` and impossible
days; times in and past a day and as floats; ``__TIMESTAMP`` with and without a zone, in
quotes, with micro-seconds; relations deferred by ``__KEY`` or URI; Objects of one shape
or of several. The property: the Arrow path gives, value for value, what
``decode_record`` gives, or both reject the page with a DecodeError. Hand-written cases
below pin the documented conversions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz._profile import budget, count

from legacy_adapters.wire import AttributeSpec, DecodeError, TableSchema, decode_record
from legacy_adapters.wire._values import column_kind

pa = pytest.importorskip("pyarrow")

from legacy_adapters.wire._arrow import arrow_page, entities_table  # noqa: E402

UTC = dt.UTC
SCHEMA = TableSchema(
    "T",
    {
        "Datum": AttributeSpec("Datum", type="date", simple_date=True),
        "Zeit": AttributeSpec("Zeit", type="duration"),
        "Nummer": AttributeSpec("Nummer", type="long"),
        "Preis": AttributeSpec("Preis", type="number"),
        "Aktiv": AttributeSpec("Aktiv", type="bool"),
        "Name": AttributeSpec("Name", type="string"),
        "Familie": AttributeSpec("Familie", kind="relatedEntity", type="Familie"),
        "Info": AttributeSpec("Info", type="object"),
    },
)

_dates = st.one_of(
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(lambda d: f"{d.day}!{d.month}!{d.year}"),
    st.dates(dt.date(1000, 1, 1)).map(lambda d: f"!!{d.isoformat()}!!"),
    st.dates(dt.date(1000, 1, 1)).map(lambda d: f" {d.isoformat()} "),
    st.sampled_from(["0!0!0", "", "  ", "31!2!2020", "1!13!2020", "1!1!0", None, "2020-02-30"]),
    st.datetimes(timezones=st.just(UTC)).map(lambda m: m.isoformat()),
)
_times = st.one_of(
    st.integers(0, 86_399_999), st.integers(-(10**10), 10**10), st.none(), st.just(3_600_000.0)
)
_stamps = st.one_of(
    st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)).map(
        lambda m: m.isoformat(timespec="milliseconds") + "Z"
    ),
    st.datetimes(dt.datetime(1900, 1, 1)).map(lambda m: m.isoformat() + "Z"),
    st.datetimes(dt.datetime(1900, 1, 1)).map(lambda m: f'"{m.isoformat(timespec="seconds")}"'),
    st.sampled_from(["", "0000-00-00", "2017-03-06T14:47:38.001", "2020-01-02", "nonsense"]),
)
_keys = st.one_of(st.text("0123456789ABCDEF", min_size=1, max_size=8), st.integers(0, 10**6))
_relations = st.one_of(
    st.none(),
    _keys.map(lambda k: {"__deferred": {"uri": f"/rest/Familie[{k}]", "__KEY": str(k)}}),
    _keys.map(lambda k: {"__deferred": {"uri": f"/rest/Familie({k})"}}),
    st.just({"__deferred": {"uri": "/rest/Familie"}}),
    _keys.map(lambda k: {"__KEY": str(k), "Name": "expanded"}),
    st.just("not a relation"),
)
_objects = st.one_of(
    st.none(),
    st.fixed_dictionaries({"DE": st.text(max_size=5)}),
    st.fixed_dictionaries({"DE": st.fixed_dictionaries({"kurz": st.text(max_size=3)})}),
    st.fixed_dictionaries({"Coll": st.lists(st.integers(-5, 5), max_size=3)}),
    st.text(max_size=4),
)
_entity = st.fixed_dictionaries(
    {
        "__KEY": _keys.map(str),
        "__STAMP": st.one_of(st.integers(0, 10**9), st.just("12")),
        "__TIMESTAMP": _stamps,
    },
    optional={
        "Datum": _dates,
        "Zeit": _times,
        "Nummer": st.one_of(st.integers(-(2**40), 2**40), st.none(), st.just(2.0)),
        "Preis": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 99)),
        "Aktiv": st.one_of(st.booleans(), st.none()),
        "Name": st.one_of(st.text(max_size=6), st.none()),
        "Familie": _relations,
        "Info": _objects,
        # 4D's widest integer is 64 bits signed; beyond it Arrow's JSON reader reads doubles.
        "Unbekannt": st.one_of(
            st.integers(-(2**63), 2**63 - 1), _relations.filter(lambda r: not isinstance(r, str))
        ),
    },
)


def columnar(body: bytes, *, typed: bool) -> Any:
    """What the 4D reader's columnar path makes of a page: fast path, else the JSON path."""
    page = arrow_page(body, skip=0, schema=SCHEMA, typed=typed)
    if page is None:
        entities = orjson.loads(body)["__ENTITIES"]
        return entities_table(entities, SCHEMA, typed=typed)
    return page.records.table  # type: ignore[attr-defined]


def same(columnar_value: Any, row_value: Any, *, loose: bool = False) -> bool:
    """Equal after type conversion: structs list absent fields as None, times may be durations.

    ``loose``: an attribute without a catalog type (raw reads, Objects), where Arrow's JSON
    reader turns numbers that share a column with text into their text (ADR 0025).
    """
    if isinstance(row_value, dict) and isinstance(columnar_value, dict):
        extra = set(columnar_value) - set(row_value)
        return all(columnar_value[k] is None for k in extra) and all(
            same(columnar_value.get(k), v, loose=loose) for k, v in row_value.items()
        )
    if isinstance(row_value, dt.time) and isinstance(columnar_value, dt.timedelta):
        seconds = row_value.hour * 3600 + row_value.minute * 60 + row_value.second
        return columnar_value == dt.timedelta(seconds=seconds, microseconds=row_value.microsecond)
    is_day = isinstance(row_value, dt.date) and not isinstance(row_value, dt.datetime)
    if is_day and isinstance(columnar_value, dt.datetime):  # a date column with moments too
        return columnar_value == dt.datetime.combine(row_value, dt.time(), UTC)
    if loose and isinstance(columnar_value, str) and isinstance(row_value, (int, float)):
        return not isinstance(row_value, bool) and float(columnar_value) == row_value
    return bool(columnar_value == row_value) and (row_value is None) == (columnar_value is None)


def same_in(table: Any, name: str, columnar_value: Any, row_value: Any, *, typed: bool) -> bool:
    """``same`` for one cell of ``table``: JSON text columns hold the value whole."""
    if str(table.schema.field(name).type) == "extension<arrow.json>":
        return (
            columnar_value is None
            if row_value is None
            else (orjson.loads(columnar_value) == row_value)
        )
    loose = not typed or column_kind(name, SCHEMA) == "as_sent"
    return same(columnar_value, row_value, loose=loose)


@budget(400)
@given(st.lists(_entity, min_size=1, max_size=6), st.booleans())
def test_columns_are_the_row_decoders_values(entities: list[dict[str, Any]], typed: bool) -> None:
    """Every value of the columnar page equals decode_record's, or both raise DecodeError."""
    count("test_columns_are_the_row_decoders_values")
    body = orjson.dumps({"__COUNT": len(entities), "__ENTITIES": entities})
    try:
        rows = [decode_record(e, SCHEMA) if typed else e for e in entities]
    except DecodeError:
        with pytest.raises(DecodeError):
            columnar(body, typed=typed)
        return
    table = columnar(body, typed=typed)
    got = table.to_pylist()
    assert len(rows) == len(got)
    for want, have in zip(rows, got, strict=True):
        for name, value in want.items():
            assert same_in(table, name, have[name], value, typed=typed), (name, have[name], value)


def page(*entities: dict[str, Any]) -> bytes:
    """A collection answer holding ``entities``."""
    return orjson.dumps({"__COUNT": len(entities), "__SENT": len(entities), "__ENTITIES": entities})


class TestDocumentedConversions:
    """The conversions ADR 0025 documents, written out by hand."""

    def test_dates(self) -> None:
        """D!M!YYYY, !!YYYY-MM-DD!! and blanks become date32, 0!0!0 and "" null."""
        dates = ["5!1!2021", "0!0!0", "", "!!2021-03-04!!"]
        body = page(*({"__KEY": str(i), "Datum": d} for i, d in enumerate(dates)))
        result = arrow_page(body, skip=0, schema=SCHEMA, typed=True)
        assert result is not None
        table = result.records.table  # type: ignore[attr-defined]
        assert pa.date32() == table.schema.field("Datum").type
        expected = [dt.date(2021, 1, 5), None, None, dt.date(2021, 3, 4)]
        assert expected == table.column("Datum").to_pylist()

    def test_impossible_date_is_a_decode_error(self) -> None:
        """31!2!2020 is refused with the attribute named, as by the row decoder."""
        body = page({"__KEY": "1", "Datum": "31!2!2020"})
        with pytest.raises(DecodeError, match=r"T\.Datum: invalid 4D date"):
            columnar(body, typed=True)

    def test_times_and_long_durations(self) -> None:
        """Milliseconds within a day are time32[ms]; a column past 24 h is duration[ms]."""
        day = arrow_page(
            page({"__KEY": "1", "Zeit": 30_622_000}), skip=0, schema=SCHEMA, typed=True
        )
        assert day is not None
        assert [dt.time(8, 30, 22)] == day.records.table.column("Zeit").to_pylist()  # type: ignore[attr-defined]
        body = page({"__KEY": "1", "Zeit": 90_000_000}, {"__KEY": "2", "Zeit": 1000})
        long = arrow_page(body, skip=0, schema=SCHEMA, typed=True)
        assert long is not None
        column = long.records.table.column("Zeit")  # type: ignore[attr-defined]
        assert pa.duration("ms") == column.type
        assert [dt.timedelta(hours=25), dt.timedelta(seconds=1)] == column.to_pylist()

    def test_timestamps(self) -> None:
        """__TIMESTAMP with Z is timestamp[ms, UTC]; without a zone it is read as UTC."""
        body = page(
            {"__KEY": "1", "__TIMESTAMP": "2025-02-11T19:03:46.200Z"},
            {"__KEY": "2", "__TIMESTAMP": "2017-03-06T14:47:38.001"},
            {"__KEY": "3", "__TIMESTAMP": ""},
        )
        values = columnar(body, typed=True).to_pylist()
        assert [
            dt.datetime(2025, 2, 11, 19, 3, 46, 200_000, tzinfo=UTC),
            dt.datetime(2017, 3, 6, 14, 47, 38, 1000, tzinfo=UTC),
            None,
        ] == [v["__TIMESTAMP"] for v in values]

    def test_relations_are_keys(self) -> None:
        """A deferred relation becomes its key, from __KEY or from the URI."""
        body = page(
            {"__KEY": "1", "Familie": {"__deferred": {"uri": "/rest/Familie[AB]", "__KEY": "AB"}}},
            {"__KEY": "2", "Familie": {"__deferred": {"uri": "/rest/Familie(12)"}}},
            {"__KEY": "3", "Familie": None},
        )
        result = arrow_page(body, skip=0, schema=SCHEMA, typed=True)
        assert result is not None
        assert ["AB", "12", None] == result.records.table.column("Familie").to_pylist()  # type: ignore[attr-defined]

    def test_mixed_object_is_kept_as_json(self) -> None:
        """A string in one entity and {"DE": ...} in the next: JSON text, nothing lost."""
        body = page({"__KEY": "1", "Info": "Nussknacker"}, {"__KEY": "2", "Info": {"DE": "Nuss"}})
        assert arrow_page(body, skip=0, schema=SCHEMA, typed=True) is None  # not one Arrow type
        table = entities_table(orjson.loads(body)["__ENTITIES"], SCHEMA, typed=True)
        assert "extension<arrow.json>" == str(table.schema.field("Info").type)
        assert ['"Nussknacker"', '{"DE":"Nuss"}'] == table.column("Info").to_pylist()

    def test_error_envelope_goes_to_the_json_path(self) -> None:
        """A 200 with __ERROR is not read as a page: the JSON path maps the error."""
        body = orjson.dumps({"__ERROR": [{"errCode": 1800, "message": "x"}]})
        assert arrow_page(body, skip=0, schema=SCHEMA, typed=True) is None
