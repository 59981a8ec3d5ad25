"""The pure parts of typed tables: value checks per 4D type and models generated from schemas."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from legacy_core.errors import InvalidRow, UnknownField
from legacy_core.schema import AttributeSpec, TableSchema
from legacy_core.tables import _key_filter, check_values, model_from_schema

SCHEMA = TableSchema(
    table="T",
    attributes={
        "L": AttributeSpec("L", type="long"),
        "N": AttributeSpec("N", type="number"),
        "S": AttributeSpec("S", type="string"),
        "U": AttributeSpec("U", type="uuid"),
        "B": AttributeSpec("B", type="bool"),
        "D": AttributeSpec("D", type="date", simple_date=True),
        "DT": AttributeSpec("DT", type="date"),
        "Z": AttributeSpec("Z", type="duration"),
        "O": AttributeSpec("O", type="object"),
        "P": AttributeSpec("P", type="image"),
        "R": AttributeSpec("R", kind="relatedEntity", type="X", related_table="X", foreign_key="L"),
    },
    primary_key=["U"],
)

GOOD: list[tuple[str, Any]] = [
    ("L", 5),
    ("L", None),
    ("N", 1.5),
    ("N", 2),
    ("N", Decimal("1.25")),
    ("S", "x"),
    ("U", "ABC"),
    ("B", False),
    ("D", dt.date(2024, 1, 2)),
    ("DT", dt.datetime(2024, 1, 2, 3, 4)),
    ("DT", dt.date(2024, 1, 2)),
    ("Z", dt.time(8, 30)),
    ("Z", dt.timedelta(hours=30)),
    ("Z", 1000),
    ("O", {"Coll": []}),
    ("O", [1, 2]),
    ("P", b"anything"),
]
BAD: list[tuple[str, Any, str]] = [
    ("L", "5", "an int"),
    ("L", True, "an int"),
    ("L", 1.5, "an int"),
    ("N", "1.5", "a number"),
    ("N", False, "a number"),
    ("S", 5, "a str"),
    ("B", 1, "a bool"),
    ("D", dt.datetime(2024, 1, 2), "a datetime.date"),
    ("D", "2024-01-02", "a datetime.date"),
    ("Z", "08:30", "a datetime.time"),
    ("O", "{}", "a dict or list"),
]


class TestCheckValues:
    @pytest.mark.parametrize(("name", "value"), GOOD)
    def test_accepted(self, name: str, value: Any) -> None:
        """A value of the field's type (or None) passes."""
        check_values(SCHEMA, {name: value}, environment="live")

    @pytest.mark.parametrize(("name", "value", "wanted"), BAD)
    def test_refused(self, name: str, value: Any, wanted: str) -> None:
        """A value of another type raises InvalidRow naming env, table, field and the type."""
        with pytest.raises(InvalidRow) as info:
            check_values(SCHEMA, {name: value}, environment="live", key="K1")
        err = info.value
        assert (name, "K1", "T", "live") == (err.field, err.key, err.ctx.table, err.ctx.environment)
        assert f"live: T[K1].{name}: " in str(err)
        assert wanted in str(err)
        assert err.not_applied

    def test_every_problem_is_listed(self) -> None:
        """Several bad values: the first is named, all are in ``problems``."""
        with pytest.raises(InvalidRow, match=r"\(and 1 more\)") as info:
            check_values(SCHEMA, {"L": "x", "S": "ok", "B": "no"})
        assert ["L", "B"] == [f for f, _m in info.value.problems]

    def test_relation_and_system_attributes(self) -> None:
        """A relation names its foreign key; __STAMP belongs to 4D."""
        with pytest.raises(InvalidRow, match="write its foreign key 'L'"):
            check_values(SCHEMA, {"R": "k"})
        with pytest.raises(InvalidRow, match="managed by 4D"):
            check_values(SCHEMA, {"__STAMP": 3})

    def test_unknown_name_first(self) -> None:
        """A misspelt name is UnknownField (with its hint) before any type check."""
        with pytest.raises(UnknownField, match="did you mean 'S'"):
            check_values(SCHEMA, {"s": 1})


class TestModelFromSchema:
    def test_fields_aliases_and_types(self) -> None:
        """System attributes and awkward 4D names get Python names; aliases keep 4D's."""
        pydantic = pytest.importorskip("pydantic")
        schema = TableSchema(
            table="Odd",
            attributes={
                "class": AttributeSpec("class", type="string"),
                "copy": AttributeSpec("copy", type="long"),
                "model_nr": AttributeSpec("model_nr", type="long"),
                "_intern": AttributeSpec("_intern", type="bool"),
                "Datum": AttributeSpec("Datum", type="date", simple_date=True),
            },
        )
        model = model_from_schema(schema)
        row = model.model_validate(
            {
                "__KEY": "1",
                "__STAMP": 2,
                "class": "a",
                "copy": 3,
                "model_nr": 4,
                "_intern": True,
                "Datum": dt.date(2024, 5, 6),
            }
        )
        dumped = row.model_dump(by_alias=True, exclude_unset=True)
        assert {
            "__KEY": "1",
            "__STAMP": 2,
            "class": "a",
            "copy": 3,
            "model_nr": 4,
            "_intern": True,
            "Datum": dt.date(2024, 5, 6),
        } == dumped
        assert ("1", 2) == (row.key, row.stamp)
        with pytest.raises(pydantic.ValidationError):
            model.model_validate({"copy": "3"})  # strict: no text for a long
        assert model is model_from_schema(schema)  # cached per schema


class TestKeyFilter:
    def test_uuid_key_by_its_attribute(self) -> None:
        """A single text primary key is queried by its name with the keys as they are."""
        assert ("U", ["A", "B"]) == _key_filter(SCHEMA, ["A", "B"])

    def test_numeric_key_as_numbers(self) -> None:
        """A long primary key is queried with the keys as ints."""
        schema = TableSchema("N", {"ID": AttributeSpec("ID", type="long")}, primary_key=["ID"])
        assert ("ID", [17000, -3]) == _key_filter(schema, ["17000", "-3"])
        assert ("__KEY", ["x1"]) == _key_filter(schema, ["x1"])  # not a number: by __KEY

    def test_no_single_key(self) -> None:
        """Without one storage primary key the lookup filters on __KEY."""
        schema = TableSchema("N", {"A": AttributeSpec("A"), "B": AttributeSpec("B")}, ["A", "B"])
        assert ("__KEY", ["k"]) == _key_filter(schema, ["k"])
        assert ("__KEY", ["k"]) == _key_filter(TableSchema("E"), ["k"])
