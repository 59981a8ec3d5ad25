"""The typed decoder with ``expanded`` relations: inlined entities, nested pages, bad shapes."""

from __future__ import annotations

import datetime as dt

import pytest

from legacy_adapters.wire import AttributeSpec, DecodeError, TableSchema, decode_record
from legacy_adapters.wire._requests import query_params
from legacy_core.errors import InvalidQuery
from legacy_core.model import Query

FAMILY = TableSchema(
    "Fam",
    {
        "Nr": AttributeSpec("Nr", type="long"),
        "Ab": AttributeSpec("Ab", type="date", simple_date=True),
    },
    ["Nr"],
)
ITEM = TableSchema(
    "Item",
    {
        "Fam": AttributeSpec("Fam", kind="relatedEntity", type="Fam", related_table="Fam"),
        "Kids": AttributeSpec(
            "Kids", kind="relatedEntities", type="FamSelection", related_table="Fam"
        ),
    },
)
INLINE = {"__KEY": "5", "__STAMP": 2, "Nr": 5, "Ab": "3!4!2024"}


class TestExpandedDecoding:
    def test_inlined_entity(self) -> None:
        """An inlined N->1 entity is decoded with its own schema (dates, stamps)."""
        row = decode_record({"__KEY": "1", "Fam": INLINE}, ITEM, {"Fam": FAMILY})
        assert {"__KEY": "5", "__STAMP": 2, "Nr": 5, "Ab": dt.date(2024, 4, 3)} == row["Fam"]

    def test_deferred_stays_a_key(self) -> None:
        """A relation the server left deferred decodes to its key even when expand asked."""
        link = {"__deferred": {"uri": "/rest/Fam(5)", "__KEY": "5"}}
        assert "5" == decode_record({"__KEY": "1", "Fam": link}, ITEM, {"Fam": FAMILY})["Fam"]

    def test_nested_page(self) -> None:
        """A 1->N relation sent as a nested page is a list of decoded rows."""
        nested = {"__COUNT": 2, "__ENTITIES": [INLINE, {**INLINE, "__KEY": "6", "Nr": 6}]}
        row = decode_record({"__KEY": "1", "Kids": nested}, ITEM, {"Kids": FAMILY})
        assert [5, 6] == [k["Nr"] for k in row["Kids"]]
        assert dt.date(2024, 4, 3) == row["Kids"][1]["Ab"]

    def test_null_relation(self) -> None:
        """A null relation stays None."""
        assert decode_record({"__KEY": "1", "Fam": None}, ITEM, {"Fam": FAMILY})["Fam"] is None

    @pytest.mark.parametrize(
        "value",
        [{"Nr": 5}, {"__ENTITIES": [1, 2]}, {"__KEY": "5", "Nr": "fünf"}],
        ids=["no key", "not objects", "bad value"],
    )
    def test_bad_shapes(self, value: object) -> None:
        """A malformed inline is a DecodeError naming table and relation."""
        with pytest.raises(DecodeError, match=r"^Item\.Fam: "):
            decode_record({"__KEY": "1", "Fam": value}, ITEM, {"Fam": FAMILY})

    def test_expand_param(self) -> None:
        """``$expand`` lists the relations, comma-separated, after the other parameters."""
        params = query_params(Query("live", "Item", attributes=["Fam"], expand=["Fam", "Kids"]))
        assert [("$attributes", "Fam"), ("$expand", "Fam,Kids")] == params

    def test_expand_names_are_identifiers(self) -> None:
        """A relation name that is no 4D identifier is refused when the query is built."""
        with pytest.raises(InvalidQuery, match="relation"):
            Query("live", "Item", expand=["Fam&$filter=1"])
