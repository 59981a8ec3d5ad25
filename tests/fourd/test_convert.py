"""The private converter: typed/raw value decoding, envelopes and write encoding (no I/O)."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legacy_adapters.wire import (
    DecodeError,
    decode_record,
    encode_values,
    parse_catalog,
    parse_entity_set_id,
    parse_page,
    parse_schema,
    parse_write_answer,
)

CATALOG = {
    "name": "Artikel_Variante",
    "attributes": [
        {"name": "Nummer", "kind": "storage", "type": "long"},
        {"name": "Bezeichnung", "kind": "storage", "type": "string"},
        {"name": "Preis", "kind": "storage", "type": "number"},
        {"name": "Aktiv", "kind": "storage", "type": "bool"},
        {"name": "Datum", "kind": "storage", "type": "date", "simpleDate": True},
        {"name": "Geaendert", "kind": "storage", "type": "date"},
        {"name": "Uhrzeit", "kind": "storage", "type": "duration"},
        {"name": "Preise", "kind": "storage", "type": "object"},
        {"name": "Familie", "kind": "relatedEntity", "type": "Artikel_Familie"},
        {"name": "Bewegungen", "kind": "relatedEntities", "type": "Lager_BewegungSelection"},
    ],
}
SCHEMA = parse_schema(CATALOG, "Artikel_Variante")
# Generation is slow on a loaded 2-core CI box; the properties, not the timing, matter.
RELAXED = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)


def typed(**values: Any) -> dict[str, Any]:
    return decode_record(values, SCHEMA)


class TestTypedDecoding:
    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            ("27!1!2025", dt.date(2025, 1, 27)),
            ("1!12!2024", dt.date(2024, 12, 1)),
            ("0!0!0", None),
            (None, None),
            ("2025-01-27", dt.date(2025, 1, 27)),
            ("0000-00-00", None),
            ("2025-01-27T00:00:00.000Z", dt.date(2025, 1, 27)),
        ],
    )
    def test_simple_dates(self, wire: Any, expected: dt.date | None) -> None:
        """D!M!YYYY and ISO dates become dates; the empty date 0!0!0 becomes None."""
        assert expected == typed(Datum=wire)["Datum"]

    def test_date_with_time_is_aware_datetime(self) -> None:
        """A non-simple date field sent as an ISO timestamp keeps its time, in UTC."""
        expected = dt.datetime(2025, 1, 27, 19, 35, 41, 801000, tzinfo=dt.UTC)
        assert expected == typed(Geaendert="2025-01-27T19:35:41.801Z")["Geaendert"]

    @pytest.mark.parametrize("wire", ["31!2!2025", "x!1!2025", "yesterday", 20250127])
    def test_bad_dates_raise(self, wire: Any) -> None:
        """A value that is no 4D date is a DecodeError naming the attribute."""
        with pytest.raises(DecodeError, match=r"Artikel_Variante\.Datum"):
            typed(Datum=wire)

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            (74141000, dt.time(20, 35, 41)),
            (0, dt.time(0, 0)),
            (1500, dt.time(0, 0, 1, 500000)),
            (86_399_999, dt.time(23, 59, 59, 999000)),
            (86_400_000, dt.timedelta(days=1)),
            (90_000_000, dt.timedelta(hours=25)),
            (-1000, dt.timedelta(seconds=-1)),
            (None, None),
        ],
    )
    def test_times(self, wire: Any, expected: Any) -> None:
        """Millisecond times become time of day, or timedelta from 24 hours on."""
        assert expected == typed(Uhrzeit=wire)["Uhrzeit"]

    @pytest.mark.parametrize(
        "wire",
        [
            "2025-01-27T19:35:41.801Z",
            '"2025-01-27T19:35:41.801Z"',
            "!!2025-01-27T19:35:41.801Z!!",
        ],
    )
    def test_timestamp_quirks(self, wire: str) -> None:
        """__TIMESTAMP quirks (literal quotes, !!…!!) are stripped to an aware datetime."""
        expected = dt.datetime(2025, 1, 27, 19, 35, 41, 801000, tzinfo=dt.UTC)
        assert expected == typed(__TIMESTAMP=wire)["__TIMESTAMP"]

    def test_timestamp_date_only_bangs(self) -> None:
        """The update answer's !!YYYY-MM-DD!! becomes midnight UTC of that day."""
        expected = dt.datetime(2025, 1, 27, tzinfo=dt.UTC)
        assert expected == typed(__TIMESTAMP="!!2025-01-27!!")["__TIMESTAMP"]

    def test_system_fields(self) -> None:
        """__KEY is a str and __STAMP an int, whatever JSON type carried them."""
        out = typed(__KEY=17000, __STAMP="12")
        assert ("17000", 12) == (out["__KEY"], out["__STAMP"])

    @pytest.mark.parametrize(
        ("wire", "expected"),
        [
            ({"__deferred": {"uri": "/rest/Artikel_Familie(7464)", "__KEY": "7464"}}, "7464"),
            ({"__deferred": {"uri": "/rest/Artikel_Familie[7464FEB3]"}}, "7464FEB3"),
            ({"__deferred": {"uri": "/rest/Artikel_Familie(17000)"}}, "17000"),
            ({"__KEY": "ABC", "Name": "expanded"}, "ABC"),
            (None, None),
        ],
    )
    def test_relations_become_keys(self, wire: Any, expected: str | None) -> None:
        """A deferred (or expanded) related entity decodes to the related key."""
        assert expected == typed(Familie=wire)["Familie"]

    def test_unlisted_deferred_value_becomes_key(self) -> None:
        """A deferred relation the schema does not list still decodes to its key."""
        out = decode_record({"X": {"__deferred": {"uri": "/rest/T(5)", "__KEY": "5"}}}, SCHEMA)
        assert {"X": "5"} == out

    def test_plain_values_and_objects(self) -> None:
        """Numbers, strings, booleans and objects keep their JSON value; to-many stays as sent."""
        related = {"__deferred": {"uri": "/rest/Artikel_Variante(1)/Bewegungen?$expand=Bewegungen"}}
        wire = {
            "Nummer": 7,
            "Preis": 2.5,
            "Bezeichnung": "Engel",
            "Aktiv": True,
            "Preise": {"Coll": [{"Art": "Laden", "Preis": 39.5, "VE": 1}]},
            "Bewegungen": related,
            "Unbekannt": [1, "x"],
            "UUIDish": "00000000000000000000000000000000",
        }
        assert wire == decode_record(wire, SCHEMA)

    @pytest.mark.parametrize(
        ("name", "wire"),
        [("Nummer", "7"), ("Nummer", True), ("Preis", "2.5"), ("Aktiv", 1), ("Bezeichnung", 5)],
    )
    def test_wrong_json_type_raises(self, name: str, wire: Any) -> None:
        """A value of the wrong JSON type for its 4D type is a DecodeError, not a silent cast."""
        with pytest.raises(DecodeError, match=name):
            typed(**{name: wire})


class TestEncoding:
    def test_python_values_to_wire(self) -> None:
        """Dates go out as D!M!YYYY, datetimes as UTC ISO, times and durations as ms."""
        values = {
            "Datum": dt.date(2025, 1, 7),
            "Geaendert": dt.datetime(
                2025, 1, 27, 20, 35, 41, 801000, tzinfo=dt.timezone(dt.timedelta(hours=1))
            ),
            "Uhrzeit": dt.time(20, 35, 41),
            "Dauer": dt.timedelta(hours=25),
            "Name": "x",
            "Menge": 3,
        }
        expected = {
            "Datum": "7!1!2025",
            "Geaendert": "2025-01-27T19:35:41.801Z",
            "Uhrzeit": 74141000,
            "Dauer": 90_000_000,
            "Name": "x",
            "Menge": 3,
        }
        assert expected == encode_values(values)

    @RELAXED
    @given(st.dates())
    def test_dates_round_trip(self, day: dt.date) -> None:
        """Every date encodes to wire form and decodes back to itself."""
        wire = encode_values({"Datum": day})["Datum"]
        assert day == typed(Datum=wire)["Datum"]

    @RELAXED
    @given(st.integers(min_value=0, max_value=10 * 86_400_000))
    def test_times_round_trip(self, ms: int) -> None:
        """Every millisecond time decodes and encodes back to the same number."""
        value = typed(Uhrzeit=ms)["Uhrzeit"]
        assert ms == encode_values({"Uhrzeit": value})["Uhrzeit"]


wire_like = st.one_of(
    st.builds(
        lambda d, m, y: f"{d}!{m}!{y}", st.integers(0, 40), st.integers(0, 14), st.integers(0, 9999)
    ),
    st.datetimes(timezones=st.just(dt.UTC)).map(lambda m: m.isoformat().replace("+00:00", "Z")),
    st.sampled_from(
        ['"2025-01-27T19:35:41.801Z"', "!!2025-01-27!!", "!!x!!", "0!0!0", "2025-02-30"]
    ),
    st.builds(lambda k: {"__deferred": {"uri": f"/rest/T({k})", "__KEY": k}}, st.text(max_size=5)),
    st.builds(lambda u: {"__deferred": {"uri": u}}, st.text(max_size=12)),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | wire_like,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
entity_names = st.sampled_from(
    [
        "__KEY",
        "__STAMP",
        "__TIMESTAMP",
        "Nummer",
        "Preis",
        "Aktiv",
        "Datum",
        "Geaendert",
        "Uhrzeit",
        "Familie",
        "Bezeichnung",
        "Preise",
        "Other",
    ]
)


class TestParserProperties:
    @RELAXED
    @given(st.dictionaries(entity_names, json_values, max_size=8))
    def test_decoder_never_raises_anything_else(self, record: dict[str, Any]) -> None:
        """Random values decode or raise DecodeError, never another exception."""
        try:
            out = decode_record(record, SCHEMA)
        except DecodeError:
            return
        assert set(record) == set(out)

    @RELAXED
    @given(
        st.dictionaries(
            st.sampled_from(
                ["__ENTITIES", "__COUNT", "__FIRST", "__SENT", "__ENTITYSET", "__entityModel"]
            ),
            json_values,
        ),
        st.booleans(),
    )
    def test_envelope_never_raises_anything_else(
        self, body: dict[str, Any], typed_mode: bool
    ) -> None:
        """Random envelopes parse into a consistent Page or raise DecodeError."""
        try:
            page = parse_page(body, skip=0, schema=SCHEMA, typed=typed_mode, want_entity_set=True)
        except DecodeError:
            return
        assert (len(page.records), body["__COUNT"]) == (page.sent, page.count)

    @RELAXED
    @given(
        st.lists(st.dictionaries(entity_names, json_values, max_size=5), max_size=5),
        st.integers(0, 10**6),
    )
    def test_valid_envelopes_round_trip(self, entities: list[dict[str, Any]], count: int) -> None:
        """A well-formed envelope serialised with orjson parses back to the same raw records."""
        body = orjson.loads(orjson.dumps({"__COUNT": count, "__FIRST": 3, "__ENTITIES": entities}))
        page = parse_page(body, skip=3, schema=None, typed=False)
        assert (entities, count, 3, len(entities)) == (
            list(page.records),
            page.count,
            page.first,
            page.sent,
        )

    @RELAXED
    @given(json_values)
    def test_other_parsers_raise_only_decode_error(self, body: Any) -> None:
        """The catalog, schema, write-answer and set-id parsers raise only DecodeError."""
        for parse in (
            parse_catalog,
            lambda b: parse_schema(b, "T"),
            parse_write_answer,
            parse_entity_set_id,
        ):
            with contextlib.suppress(DecodeError):
                parse(body)


class TestEnvelopes:
    def test_missing_entities_is_error(self) -> None:
        """An answer without __ENTITIES is not a page."""
        with pytest.raises(DecodeError, match="__ENTITIES"):
            parse_page({"__COUNT": 1}, skip=0, schema=None, typed=False)

    def test_sent_must_match(self) -> None:
        """__SENT that disagrees with the entities is a protocol error."""
        with pytest.raises(DecodeError, match="__SENT"):
            parse_page(
                {"__COUNT": 5, "__SENT": 2, "__ENTITIES": [{}]}, skip=0, schema=None, typed=False
            )

    def test_defaults(self) -> None:
        """Without __FIRST/__SENT the window comes from skip and the entity count."""
        page = parse_page(
            {"__COUNT": 9, "__ENTITIES": [{"a": 1}]}, skip=4, schema=None, typed=False
        )
        assert (9, 4, 1) == (page.count, page.first, page.sent)

    @pytest.mark.parametrize(
        ("uri", "expected"),
        [
            ("/rest/Artikel/$entityset/ABC123", "ABC123"),
            ("http://h:80/rest/T/$entityset/X9?x=1", "X9"),
            ("ZZ", "ZZ"),
        ],
    )
    def test_entity_set_id(self, uri: str, expected: str) -> None:
        """The entity-set id is read from the __ENTITYSET URI."""
        assert expected == parse_entity_set_id(uri)

    def test_raw_mode_keeps_values_as_sent(self) -> None:
        """Raw mode returns the records exactly as decoded from JSON."""
        entity = {
            "__KEY": "1",
            "Datum": "0!0!0",
            "Uhrzeit": 74141000,
            "__TIMESTAMP": '"2025-01-01T00:00:00.000Z"',
        }
        page = parse_page(
            {"__COUNT": 1, "__ENTITIES": [entity]}, skip=0, schema=SCHEMA, typed=False
        )
        assert [entity] == list(page.records)

    def test_schema_types(self) -> None:
        """The public schema maps storage attributes to their type and relations to their kind."""
        types = SCHEMA.types()
        assert ("long", "date", "relatedEntity") == (
            types["Nummer"],
            types["Datum"],
            types["Familie"],
        )
