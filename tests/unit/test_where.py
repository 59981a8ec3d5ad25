"""The --where mini-language: what each text becomes in the query builder, and bad input."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_core.errors import InvalidQuery, WhereSyntaxError
from legacy_core.query import Filter, field, parse_where, render


def same(expected: Filter, text: str) -> None:
    """``text`` parses to a filter that renders exactly as ``expected`` does."""
    assert render(expected) == render(parse_where(text))


class TestParse:
    """Texts of the language become the builder's filters."""

    def test_the_issue_example(self) -> None:
        """Typed values of each kind, joined by and."""
        same(
            (field("A") == 1)
            & (field("B") != "x")
            & (field("C") >= 2.5)
            & (field("D") == True)  # noqa: E712 - the builder's equality
            & field("E").is_null(),
            "A = 1 and B != 'x' and C >= 2.5 and D = true and E = null",
        )

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Nummer = 803721", field("Nummer") == 803721),
            ("Nummer == 803721", field("Nummer") == 803721),
            ("Nummer # 5", field("Nummer") != 5),
            ("Nummer < -5", field("Nummer") < -5),
            ("Nummer <= 5", field("Nummer") <= 5),
            ("Nummer > 5", field("Nummer") > 5),
            ("Preis >= .5", field("Preis") >= 0.5),
            ("Preis = 1e3", field("Preis") == 1000.0),
            ("E != null", field("E").not_null()),
            ("Aktiv = FALSE", field("Aktiv") == False),  # noqa: E712 - the builder's equality
            ("Name begin Engel", field("Name").begins("Engel")),
            ("Name like 'Engel@'", field("Name").like("Engel@")),
            ("Mail = a@b.de", field("Mail") == "a@b.de"),
            ("Typ in [1, 2, 3]", field("Typ").in_([1, 2, 3])),
            ("Datum >= 2025-01-31", field("Datum") >= dt.date(2025, 1, 31)),
            ("Datum > 2025-01-31", field("Datum") > dt.date(2025, 1, 31)),
            ("PLZ = 01067", field("PLZ") == "01067"),
            ("Code = 10000-BE", field("Code") == "10000-BE"),
            ('Name = "Nuss knacker"', field("Name") == "Nuss knacker"),
            (r"Name = 'O\'Brien'", field("Name") == "O'Brien"),
            (r"Name = 'a\nb'", field("Name") == "a\nb"),
        ],
    )
    def test_comparisons(self, text: str, expected: Filter) -> None:
        """Each operator and kind of value maps to the builder's own form."""
        same(expected, text)

    def test_or_binds_looser_than_and(self) -> None:
        """a and b or c is (a and b) or c."""
        a, b, c = field("A") == 1, field("B") == 2, field("C") == 3
        same((a & b) | c, "A = 1 and B = 2 or C = 3")
        same(a & (b | c), "A = 1 and (B = 2 or C = 3)")

    def test_not_and_keywords_in_any_case(self) -> None:
        """not negates the next term; keywords are case-insensitive."""
        same(~(field("A") == 1) & (field("B") == 2), "NOT A = 1 AND B = 2")

    def test_renders_safely(self) -> None:
        """Values pass through the builder's quoting, never into the text as typed."""
        rendered = render(parse_where("""Name = 'x" OR 1 = 1'"""))
        assert ("Name = :1", ('x" OR 1 = 1',)) == (rendered.text, rendered.params)

    @given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    def test_any_64_bit_integer(self, number: int) -> None:
        """Every integer 4D can hold is read as that integer."""
        same(field("N") == number, f"N = {number}")


class TestBadInput:
    """Text that does not parse fails with the 1-based position of the problem."""

    @pytest.mark.parametrize(
        ("text", "position", "problem"),
        [
            ("Nummer eq 5", 8, "expected an operator after 'Nummer'"),
            ("Nummer = ", 10, "expected a value, found the end"),
            ("Nummer = 1 and", 15, "expected a field name, found the end"),
            ("Nummer = 1 Typ = 2", 12, "expected 'and', 'or' or the end, found 'Typ'"),
            ("X = 'abc", 5, "a string without its closing quote"),
            ("and = 1", 1, "expected a field name, found 'and'"),
            ("1x = 2", 1, "invalid attribute '1x'"),
            ("(A = 1", 7, "expected ')'"),
            ("A in [1, 2", 11, "expected ',' or ']'"),
            ("A in 1", 6, "expected '[' starting the list"),
            ("A begin 5", 3, "begin needs a string"),
            ("A < null", 3, "A < None: only == and != compare with null"),
            ("D = 2025-02-30", 5, "'2025-02-30' is not a valid date"),
            ("A = 1 ; B = 2", 7, "expected 'and', 'or' or the end, found ';'"),
            ("A ! 1", 3, "unexpected '!'"),
            ("   ", 1, "empty filter"),
        ],
    )
    def test_position_and_problem(self, text: str, position: int, problem: str) -> None:
        """The error names where and what, and carries both."""
        with pytest.raises(WhereSyntaxError) as info:
            parse_where(text)
        assert f"--where at position {position}: {problem}" in str(info.value)
        assert (text, position) == (info.value.text, info.value.position)

    def test_is_an_invalid_query(self) -> None:
        """Callers that catch InvalidQuery (or ValueError) catch it too."""
        with pytest.raises(InvalidQuery):
            parse_where("A =")
        with pytest.raises(ValueError, match="position"):
            parse_where("A =")

    def test_pickles_with_its_position(self) -> None:
        """The error keeps text and position across processes."""
        with pytest.raises(WhereSyntaxError) as info:
            parse_where("A = 1 or")
        copy = pickle.loads(pickle.dumps(info.value))
        assert ("A = 1 or", 9, str(info.value)) == (copy.text, copy.position, str(copy))


@pytest.mark.parametrize("text", ["(" * 3000 + "a = 1" + ")" * 3000, "not " * 3000 + "a = 1"])
def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(text: str) -> None:
    """Thousands of nested parentheses or ``not`` raise WhereSyntaxError at the 65th level."""
    with pytest.raises(WhereSyntaxError, match="nested deeper than 64") as caught:
        parse_where(text)
    assert caught.value.position is not None
    assert caught.value.position <= 65 * 4


def test_nesting_up_to_the_bound_parses() -> None:
    """64 levels of parentheses still parse into the plain comparison."""
    assert render(parse_where("(" * 64 + "a = 1" + ")" * 64)) == render(field("a") == 1)
