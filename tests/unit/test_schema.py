"""TableSchema: catalogs parsed into relations and keys, did-you-mean checks, immutability."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from legacy_adapters.wire import parse_schema
from legacy_core.errors import InvalidQuery, UnknownField
from legacy_core.schema import AttributeSpec, TableSchema

CAPTURES = Path(__file__).parents[1] / "conformance" / "captures"


def capture(name: str) -> Any:
    """A real 4D catalog body from the conformance captures."""
    return json.loads((CAPTURES / name).read_text(encoding="utf-8"))


def variant() -> TableSchema:
    """A small hand-written schema of Artikel_Variante."""
    return TableSchema(
        "Artikel_Variante",
        {
            "Nummer": AttributeSpec("Nummer", type="long"),
            "Bezeichnung": AttributeSpec("Bezeichnung"),
            "Bezeichnung_FS": AttributeSpec("Bezeichnung_FS"),
            "Auslaufdatum": AttributeSpec("Auslaufdatum", type="date", simple_date=True),
            "ArtikelFamilie": AttributeSpec(
                "ArtikelFamilie",
                "relatedEntity",
                "Artikel_Familie",
                related_table="Artikel_Familie",
            ),
        },
        primary_key=["UID"],
    )


class TestParse:
    def test_v18_relation_targets_and_key(self) -> None:
        """A v18 catalog gives the relation's target from its type and the key from "key"."""
        schema = parse_schema(capture("catalog_table__android_v18_employee.json"), "Employee")
        assert ("ID",) == schema.primary_key
        assert "Service" == schema.attributes["service"].related_table
        assert schema.attributes["service"].is_relation

    def test_v17_collection_suffix(self) -> None:
        """A v17 1->N relation's ``XCollection`` type names table X."""
        schema = parse_schema(capture("catalog_table__ios_clients.json"), "CLIENTS")
        assert "INVOICES" == schema.attributes["Link_4_return"].related_table
        assert ("id",) == schema.primary_key
        assert schema.attributes["id"].indexed

    def test_related_data_class_wins(self) -> None:
        """``relatedDataClass``, when a catalog sends it, names the target."""
        entry = {"kind": "relatedEntities", "type": "XSelection", "relatedDataClass": "Y"}
        assert "Y" == TableSchema.related_table_of(entry)
        assert None is TableSchema.related_table_of({"kind": "storage", "type": "string"})


class TestCheck:
    def test_did_you_mean(self) -> None:
        """A misspelt name names the table and the closest field."""
        with pytest.raises(UnknownField) as info:
            variant().check(["Nummer", "Bezeichung"], environment="live")
        expected = "unknown field 'Bezeichung' of Artikel_Variante; did you mean 'Bezeichnung'?"
        assert expected == info.value.message
        assert ("live", "Artikel_Variante") == (info.value.environment, info.value.table)
        assert info.value.not_applied

    def test_case_slip_suggested_first(self) -> None:
        """A name that differs only in case suggests the real spelling first."""
        assert "Nummer" == variant().suggestions("nummer")[0]

    def test_no_hint_when_nothing_is_close(self) -> None:
        """A name unlike any field gets no hint, and it is still an InvalidQuery."""
        with pytest.raises(InvalidQuery) as info:
            variant().check(["Xyz"])
        assert "unknown field 'Xyz' of Artikel_Variante" == info.value.message

    def test_system_attributes_pass(self) -> None:
        """__KEY, __STAMP and __TIMESTAMP are always allowed."""
        variant().check(["__KEY", "__STAMP", "__TIMESTAMP", "ArtikelFamilie"])

    def test_error_pickles_with_its_hint(self) -> None:
        """UnknownField keeps field and suggestions across pickling (process pools)."""
        with pytest.raises(UnknownField) as info:
            variant().check(["Bezeichung"])
        copy = pickle.loads(pickle.dumps(info.value))
        assert (info.value.field, info.value.suggestions) == (copy.field, copy.suggestions)


class TestValue:
    def test_read_only_and_picklable(self) -> None:
        """The attributes cannot be changed; the schema pickles and compares equal."""
        schema = variant()
        with pytest.raises(TypeError):
            schema.attributes["Neu"] = AttributeSpec("Neu")  # type: ignore[index]
        assert schema == pickle.loads(pickle.dumps(schema))
        assert ["ArtikelFamilie"] == [a.name for a in schema.relations]
        assert 4 == len(schema.fields)
