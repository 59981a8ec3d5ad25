"""Conformance: the ``$filter`` grammar, ADR 0004 semantics, errors and quirks (item 4)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

import pytest
import requests

from fourd_emulator import EmulatorServer

pytestmark = pytest.mark.integration


def query(
    http: requests.Session, base: str, table: str, text: str, **extra: Any
) -> requests.Response:
    params = {"$filter": text, "$top": 100000, **extra}
    return http.get(f"{base}/{table}", params=params, timeout=10)


def rows(
    http: requests.Session, base: str, table: str, text: str, **extra: Any
) -> list[dict[str, Any]]:
    r = query(http, base, table, text, **extra)
    assert 200 == r.status_code, r.text
    body = r.json()
    assert body["__COUNT"] == len(body["__ENTITIES"])
    return list(body["__ENTITIES"])


@pytest.fixture
def variants(base: str, http: requests.Session) -> list[dict[str, Any]]:
    """All 2,000 variants as the server sends them."""
    return list(
        http.get(f"{base}/Artikel_Variante", params={"$top": 5000}, timeout=10).json()["__ENTITIES"]
    )


def day(wire: str | None) -> dt.date | None:
    if wire is None or wire == "0!0!0":
        return None
    d, m, y = (int(x) for x in wire.split("!"))
    return dt.date(y, m, d)


class TestProtocolExamples:
    def test_uuid_foreign_key(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """'Familie_ = "<32 hex>"' selects the variants of one family."""
        fam = variants[8]["Familie_"]
        got = rows(http, base, "Artikel_Variante", f'Familie_ = "{fam}"')
        assert sorted(v["__KEY"] for v in variants if v["Familie_"] == fam) == sorted(
            e["__KEY"] for e in got
        )

    def test_number_equality(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """'Nummer = 803721'-style filters select by number."""
        nummer = variants[5]["Nummer"]
        got = rows(http, base, "Artikel_Variante", f"Nummer = {nummer}")
        assert [variants[5]["__KEY"]] == [e["__KEY"] for e in got]

    def test_date_range(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """Date >= / <= against "YYYY-MM-DD" compares as dates."""
        got = rows(
            http,
            base,
            "Artikel_Variante",
            'created_date >= "2020-01-01" AND created_date <= "2021-06-30"',
        )
        expected = [
            v["__KEY"]
            for v in variants
            if (d := day(v["created_date"])) is not None
            and dt.date(2020, 1, 1) <= d <= dt.date(2021, 6, 30)
        ]
        assert expected == [e["__KEY"] for e in got]
        assert expected

    def test_odata_operator_is_500(self, base: str, http: requests.Session) -> None:
        """OData operators such as eq answer HTTP 500 with __ERROR."""
        r = query(http, base, "Artikel_Variante", "Nummer eq 803721")
        assert 500 == r.status_code
        assert 1279 == r.json()["__ERROR"][0]["errCode"]

    def test_strict_date_comparison_is_500(self, base: str, http: requests.Session) -> None:
        """With quirks, strict > on a date attribute answers 500."""
        assert (
            500 == query(http, base, "Artikel_Variante", 'created_date > "2020-01-01"').status_code
        )
        assert (
            500 == query(http, base, "Artikel_Variante", 'created_date < "2020-01-01"').status_code
        )

    def test_timestamp_filter_is_500(self, base: str, http: requests.Session) -> None:
        """With quirks, any filter on __TIMESTAMP answers 500."""
        r = query(http, base, "Artikel_Variante", '__TIMESTAMP >= "2025-01-01"')
        assert 500 == r.status_code

    def test_quirks_off_allows_both(
        self, plain_server: EmulatorServer, http: requests.Session
    ) -> None:
        """Without quirks strict date comparisons and __TIMESTAMP filters work."""
        base = f"{plain_server.base_url}/rest"
        assert rows(http, base, "Artikel_Variante", 'created_date > "2020-01-01"')
        assert rows(http, base, "Artikel_Variante", '__TIMESTAMP >= "2025-01-01"')

    def test_params_placeholders(self, base: str, http: requests.Session) -> None:
        """:1 placeholders take their values from $params (quotes need no escaping)."""
        got = rows(
            http,
            base,
            "Kunden",
            "Name = :1 AND Kundennr >= :2",
            **{"$params": json.dumps(["O'Reilly", 0])},
        )
        assert [] == got
        got = rows(http, base, "Kunden", "Name = :1", **{"$params": json.dumps(["Müller"])})
        assert got
        assert all("Müller" == e["Name"] for e in got)

    def test_missing_param_is_an_error(self, base: str, http: requests.Session) -> None:
        """A placeholder without a $params value is a query error."""
        assert 500 == query(http, base, "Kunden", "Name = :2", **{"$params": '["x"]'}).status_code

    def test_filter_encoded_once(self, base: str, http: requests.Session) -> None:
        """A $filter percent-encoded once works; encoded twice it is a syntax error, never empty."""
        text = 'Ort = "Seiffen"'
        once = http.get(f"{base}/Adressen?$filter={quote(text)}", timeout=5)
        twice = http.get(f"{base}/Adressen?$filter={quote(quote(text))}", timeout=5)
        assert 200 == once.status_code
        assert once.json()["__COUNT"] > 0
        assert 500 == twice.status_code

    def test_quoted_whole_filter(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """The 4D docs' form $filter="Nummer=…" (whole filter in quotes) is accepted."""
        nummer = variants[3]["Nummer"]
        assert 1 == len(rows(http, base, "Artikel_Variante", f'"Nummer={nummer}"'))


class TestSemantics:
    def test_strings_case_insensitive(self, base: str, http: requests.Session) -> None:
        """String equality ignores case."""
        lower = rows(http, base, "Adressen", 'Ort = "seiffen"')
        upper = rows(http, base, "Adressen", 'Ort = "SEIFFEN"')
        assert lower == upper
        assert lower

    def test_wildcard(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """@ is a wildcard in = and matches any run of characters."""
        got = rows(http, base, "Artikel_Variante", 'Bezeichnung = "engel@"')
        assert sorted(
            v["__KEY"] for v in variants if v["Bezeichnung"].casefold().startswith("engel")
        ) == sorted(e["__KEY"] for e in got)
        inner = rows(http, base, "Artikel_Variante", 'Bezeichnung = "@mit@"')
        assert all("mit" in e["Bezeichnung"] for e in inner)
        assert inner

    def test_literal_comparison_ignores_wildcard(self, base: str, http: requests.Session) -> None:
        """=== treats @ literally."""
        assert [] == rows(http, base, "Artikel_Variante", 'Bezeichnung === "engel@"')

    def test_not_equal_with_hash_and_bang(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """# and != both mean not equal; null values count as not equal."""
        a = rows(http, base, "Artikel_Variante", 'Bezeichnung_FS # "x"')
        b = rows(http, base, "Artikel_Variante", 'Bezeichnung_FS != "x"')
        assert a == b
        assert len(variants) == len(a)

    def test_null_rules(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """= null matches JSON null only; # null the rest; other comparisons skip nulls."""
        nulls = rows(http, base, "Artikel_Variante", "modified_date = null")
        not_nulls = rows(http, base, "Artikel_Variante", "modified_date # null")
        assert sum(v["modified_date"] is None for v in variants) == len(nulls)
        assert len(variants) == len(nulls) + len(not_nulls)
        ranged = rows(http, base, "Artikel_Variante", 'modified_date >= "1900-01-01"')
        assert len(not_nulls) == len(ranged)

    def test_empty_date_is_smallest(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """0!0!0 equals "0000-00-00" and is smaller than every real date."""
        empty = rows(http, base, "Artikel_Variante", 'Auslaufdatum = "0000-00-00"')
        assert sum(v["Auslaufdatum"] == "0!0!0" for v in variants) == len(empty)
        before = rows(http, base, "Artikel_Variante", 'Auslaufdatum <= "1900-01-01"')
        assert empty == before

    def test_in_list(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """IN [a,b] matches any of the values."""
        wanted = [variants[1]["Nummer"], variants[2]["Nummer"]]
        got = rows(http, base, "Artikel_Variante", f"Nummer IN [{wanted[0]},{wanted[1]}]")
        assert sorted(wanted) == sorted(e["Nummer"] for e in got)

    def test_begin(self, base: str, http: requests.Session) -> None:
        """begin matches a case-insensitive prefix."""
        got = rows(http, base, "Adressen", 'Strasse begin "haupt"')
        assert got
        assert all(e["Strasse"].startswith("Haupt") for e in got)

    def test_keyword(self, base: str, http: requests.Session) -> None:
        """% matches a whole word of the text."""
        got = rows(http, base, "Artikel_Variante", 'Bezeichnung % "tanne"')
        assert got
        assert all("Tanne" in e["Bezeichnung"].split() for e in got)

    def test_boolean(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """Booleans compare with true/false."""
        got = rows(http, base, "Artikel_Variante", "Aktiv = false")
        assert sum(not v["Aktiv"] for v in variants) == len(got)

    def test_numeric_text_on_number(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """A numeric string against a number attribute compares numerically."""
        nummer = variants[0]["Nummer"]
        assert 1 == len(rows(http, base, "Artikel_Variante", f'Nummer = "{nummer}"'))

    def test_float_constants(self, base: str, http: requests.Session) -> None:
        """Numbers with a decimal point compare with int and float values."""
        got = rows(http, base, "Kunden", "Rabatt >= 12.5")
        assert got
        assert all(e["Rabatt"] >= 12.5 for e in got)

    def test_combinators(
        self, base: str, http: requests.Session, variants: list[dict[str, Any]]
    ) -> None:
        """AND/OR/EXCEPT, & and |, parentheses and NOT() combine as boolean logic."""

        def keys(pred: Any) -> list[str]:
            return [v["__KEY"] for v in variants if pred(v)]

        def got(text: str) -> list[str]:
            return [e["__KEY"] for e in rows(http, base, "Artikel_Variante", text)]

        assert keys(lambda v: v["Aktiv"] and v["Typ"] == 2) == got("Aktiv = true AND Typ = 2")
        assert keys(lambda v: v["Aktiv"] and v["Typ"] == 2) == got("Aktiv = true & Typ = 2")
        assert keys(lambda v: v["neu"] or v["Typ"] == 0) == got("neu = true OR Typ = 0")
        assert keys(lambda v: v["neu"] or v["Typ"] == 0) == got("neu = true | Typ = 0")
        assert keys(lambda v: v["Aktiv"] and v["Typ"] != 1) == got("Aktiv = true EXCEPT Typ = 1")
        assert keys(lambda v: not (v["Aktiv"] or v["neu"])) == got(
            "NOT(Aktiv = true OR neu = true)"
        )
        assert keys(lambda v: (v["neu"] or v["Typ"] == 0) and v["Aktiv"]) == got(
            "(neu = true OR Typ = 0) AND Aktiv = true"
        )
        assert keys(lambda v: v["neu"] or (v["Typ"] == 0 and v["Aktiv"])) == got(
            "neu = true OR Typ = 0 AND Aktiv = true"
        )

    def test_filter_with_order_and_paging(self, base: str, http: requests.Session) -> None:
        """Filters combine with $orderby, $skip and $top; __COUNT counts the whole selection."""
        all_rows = rows(http, base, "Artikel_Variante", "Typ = 1", **{"$orderby": "Nummer"})
        page = query(
            http,
            base,
            "Artikel_Variante",
            "Typ = 1",
            **{"$orderby": "Nummer", "$skip": 10, "$top": 5},
        ).json()
        assert len(all_rows) == page["__COUNT"]
        assert [e["__KEY"] for e in all_rows[10:15]] == [e["__KEY"] for e in page["__ENTITIES"]]


class TestFilterErrors:
    def test_unknown_attribute_is_1500_1804(self, base: str, http: requests.Session) -> None:
        """An attribute the table does not have answers 500 with 1500 + 1804, like real 4D."""
        r = query(http, base, "Artikel_Variante", "Farbe = 3")
        assert 500 == r.status_code
        assert [1500, 1804] == [e["errCode"] for e in r.json()["__ERROR"]]

    def test_bad_syntax_has_an_error_stack(self, base: str, http: requests.Session) -> None:
        """Bad syntax answers 500 with several __ERROR entries, innermost first."""
        r = query(http, base, "Artikel_Variante", "(Nummer = 1")
        assert 500 == r.status_code
        errors = r.json()["__ERROR"]
        assert [1279, 1200, 1500] == [e["errCode"] for e in errors]
        assert all({"message", "componentSignature", "errCode"} == set(e) for e in errors)
        assert "(Nummer = 1" in errors[1]["message"]

    @pytest.mark.parametrize(
        "text",
        [
            'Nummer = "abc"',
            "Bezeichnung = 5",
            'Aktiv < "x"',
            "Aktiv > true",
            'created_date = "gestern"',
            'Nummer begin "1"',
            'Preise = "x"',
            'ArtikelFamilie = "x"',
            "Nummer >= null",
            "Nummer =",
            "= 5",
            "Nummer = 1 AND",
            "Nummer IN []",
            "",
        ],
    )
    def test_invalid_filters_are_500(self, base: str, http: requests.Session, text: str) -> None:
        """Type errors and malformed filters are errors, never an empty result."""
        r = http.get(
            f"{base}/Artikel_Variante", params={"$filter": text or " ", "$top": 1}, timeout=5
        )
        if text == "":
            assert 200 == r.status_code  # an empty $filter means no filter
            return
        assert 500 == r.status_code
        assert "__ERROR" in r.json()
