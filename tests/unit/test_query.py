"""The $filter builder: rendering of every form, bad input, and Hypothesis well-formedness."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import operator
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from legacy_core.errors import InvalidQuery
from legacy_core.model import Query
from legacy_core.query import (
    And,
    Comparison,
    Filter,
    In,
    Not,
    Or,
    Raw,
    Rendered,
    Value,
    field,
    render,
)


def text_of(flt: Filter) -> str:
    """The rendered $filter text, asserting no $params were needed."""
    rendered = render(flt)
    assert () == rendered.params
    return rendered.text


class TestRender:
    """Each filter form renders to the 4D syntax of ADR 0004."""

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("Nummer") == 803721, "Nummer = 803721"),
            (field("Nummer") == -5, "Nummer = -5"),
            (field("Preis") > 1.5, "Preis > 1.5"),
            (field("Preis") <= 0.1, "Preis <= 0.1"),
            (field("Nummer") < 10, "Nummer < 10"),
            (field("Nummer") >= 10, "Nummer >= 10"),
            (field("Aktiv") == True, "Aktiv = true"),  # noqa: E712
            (field("Aktiv") != False, "Aktiv != false"),  # noqa: E712
            (
                field("Familie_") == "7464FEB39C516942B01E62F44B1ED454",
                'Familie_ = "7464FEB39C516942B01E62F44B1ED454"',
            ),
            (field("Name") != "Engel", 'Name != "Engel"'),
            (field("Name") == "Müller Öl", 'Name = "Müller Öl"'),
            (field("Name") == "", 'Name = ""'),
        ],
        ids=repr,
    )
    def test_comparisons(self, flt: Filter, expected: str) -> None:
        """Numbers, booleans and safe strings render inline through their type."""
        assert expected == text_of(flt)

    def test_at_sign_is_literal_in_equality(self) -> None:
        """``==`` with a value holding ``@`` renders 4D's literal ``===``."""
        assert 'Mail === "a@b.de"' == text_of(field("Mail") == "a@b.de")

    def test_at_sign_not_equal(self) -> None:
        """``!=`` with ``@`` becomes NOT of the literal comparison."""
        assert 'NOT(Mail === "a@b.de")' == text_of(field("Mail") != "a@b.de")

    def test_like_is_the_wildcard_form(self) -> None:
        """``like`` renders ``=`` so that ``@`` is 4D's wildcard."""
        assert 'Name = "Engel@"' == text_of(field("Name").like("Engel@"))

    def test_begins(self) -> None:
        """``begins`` renders 4D's ``begin`` comparator."""
        assert 'Name begin "Eng"' == text_of(field("Name").begins("Eng"))

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("X").is_null(), "X = null"),
            (field("X").not_null(), "X # null"),
            (field("X") == None, "X = null"),  # noqa: E711
            (field("X") != None, "X # null"),  # noqa: E711
        ],
        ids=repr,
    )
    def test_null(self, flt: Filter, expected: str) -> None:
        """Null checks render ``= null`` and ``# null``."""
        assert expected == text_of(flt)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("D") == dt.date(2025, 1, 27), 'D = "2025-01-27"'),
            (field("D") >= dt.date(2025, 1, 27), 'D >= "2025-01-27"'),
            (field("D") <= dt.date(2025, 1, 27), 'D <= "2025-01-27"'),
            (field("D") > dt.date(2025, 1, 31), 'D >= "2025-02-01"'),
            (field("D") < dt.date(2025, 3, 1), 'D <= "2025-02-28"'),
            (field("D") > dt.date(2024, 12, 31), 'D >= "2025-01-01"'),
            (field("T") == dt.datetime(2025, 1, 27, 10, 5), 'T = "2025-01-27T10:05:00"'),
            (field("T") > dt.datetime(2025, 1, 27, 10, 5), 'T > "2025-01-27T10:05:00"'),
        ],
        ids=repr,
    )
    def test_dates(self, flt: Filter, expected: str) -> None:
        """Dates render ISO; strict date comparisons become inclusive of the next/previous day."""
        assert expected == text_of(flt)

    def test_in(self) -> None:
        """``in_`` renders an IN list of literals."""
        assert 'N IN [1,2.5,"x",true]' == text_of(field("N").in_([1, 2.5, "x", True]))

    def test_in_accepts_any_iterable(self) -> None:
        """``in_`` takes generators and tuples, not only lists."""
        assert "N IN [1,2]" == text_of(field("N").in_(n for n in (1, 2)))

    def test_and_or_at_top_level(self) -> None:
        """A top-level AND/OR needs no parentheses."""
        assert "A = 1 AND B = 2" == text_of((field("A") == 1) & (field("B") == 2))
        assert "A = 1 OR B = 2" == text_of((field("A") == 1) | (field("B") == 2))

    def test_chains_flatten(self) -> None:
        """``a & b & c`` is one AND of three parts, not nested pairs."""
        flt = (field("A") == 1) & (field("B") == 2) & (field("C") == 3)
        assert isinstance(flt, And)
        assert 3 == len(flt.parts)
        assert "A = 1 AND B = 2 AND C = 3" == text_of(flt)

    def test_nesting_is_parenthesised(self) -> None:
        """Nested groups keep their meaning through parentheses."""
        flt = (field("A") == 1) & ((field("B") == 2) | (field("C") == 3))
        assert "A = 1 AND (B = 2 OR C = 3)" == text_of(flt)
        flt = ((field("A") == 1) & (field("B") == 2)) | (field("C") == 3)
        assert "(A = 1 AND B = 2) OR C = 3" == text_of(flt)

    def test_not(self) -> None:
        """``~`` renders NOT(...) around the whole inner filter."""
        assert "NOT(A = 1 OR B = 2)" == text_of(~((field("A") == 1) | (field("B") == 2)))

    def test_raw(self) -> None:
        """Raw text passes unchanged at the top and parenthesised inside a group."""
        assert "Nummer = 1" == text_of(Raw("Nummer = 1"))
        assert "(Nummer = 1 OR X = 2) AND Y = 3" == text_of(
            Raw("Nummer = 1 OR X = 2") & (field("Y") == 3)
        )

    def test_unsafe_strings_go_to_params(self) -> None:
        """Strings with quotes, backslashes or control characters become :n placeholders."""
        flt = (field("A") == "O'Reilly") & (field("B") == 'Kerze "Rot"') & (field("C") == "ok")
        assert Rendered('A = :1 AND B = :2 AND C = "ok"', ("O'Reilly", 'Kerze "Rot"')) == render(
            flt
        )

    @pytest.mark.parametrize("value", ["a\\b", "a\nb", "tab\there", "del\x7f", "x" * 4001])
    def test_other_unsafe_strings(self, value: str) -> None:
        """Backslashes, control characters and very long strings are never inline."""
        assert Rendered("A = :1", (value,)) == render(field("A") == value)

    def test_params_json(self) -> None:
        """``$params`` is a JSON array; dates in it are ISO text."""
        rendered = render((field("A") == "O'Reilly") & (field("B").in_(["x\ny", 3])))
        assert ["O'Reilly", "x\ny"] == json.loads(str(rendered.params_json()))
        assert None is render(field("A") == 1).params_json()

    def test_params_json_of_a_datetime(self) -> None:
        """A datetime parameter is sent as ISO text."""
        assert (
            '["2025-01-27T10:00:00"]'
            == Rendered("T = :1", (dt.datetime(2025, 1, 27, 10),)).params_json()
        )


class TestBadInput:
    """Bad names, values and combinations raise InvalidQuery naming the culprit, before any I/O."""

    @pytest.mark.parametrize(
        "name", ["Artikel; DROP", "", "1abc", "Na me", "a.b", "Ä", "x" * 256, 'a"b']
    )
    def test_invalid_identifier(self, name: str) -> None:
        """Identifiers outside 4D's naming are refused with the name in the message."""
        with pytest.raises(InvalidQuery) as info:
            field(name)
        assert repr(name)[:60] in str(info.value)

    @pytest.mark.parametrize("name", [5, None, b"Nummer", ["Nummer"]])
    def test_non_str_identifier(self, name: Any) -> None:
        """A name that is not a str is refused with its type."""
        with pytest.raises(InvalidQuery, match=type(name).__name__):
            field(name)

    @pytest.mark.parametrize(
        "value",
        [b"bytes", decimal.Decimal("1.5"), [1], {"a": 1}, object(), 1 + 2j, dt.time(10, 0)],
        ids=repr,
    )
    def test_unsupported_value(self, value: Any) -> None:
        """Values outside str/int/float/bool/date/datetime/None are refused with their type."""
        with pytest.raises(InvalidQuery, match=type(value).__name__):
            field("Nummer") == value  # noqa: B015

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite(self, value: float) -> None:
        """NaN and infinities cannot be compared in 4D."""
        with pytest.raises(InvalidQuery, match="not finite"):
            field("Preis") < value  # noqa: B015

    def test_non_finite_in_list(self) -> None:
        """NaN inside an IN list is refused too."""
        with pytest.raises(InvalidQuery, match="not finite"):
            field("Preis").in_([1.0, float("nan")])

    def test_empty_in(self) -> None:
        """An empty IN list is refused rather than matching nothing."""
        with pytest.raises(InvalidQuery, match="empty"):
            field("Nummer").in_([])

    def test_in_with_a_string(self) -> None:
        """A single string is not a list of values."""
        with pytest.raises(InvalidQuery, match="list"):
            field("Nummer").in_("123")

    def test_in_with_none(self) -> None:
        """None inside an IN list is refused (use ``is_null``)."""
        with pytest.raises(InvalidQuery, match="None"):
            field("Nummer").in_([1, None])

    def test_ordering_with_none(self) -> None:
        """Only equality compares with null."""
        with pytest.raises(InvalidQuery, match="None"):
            field("Nummer") < None  # noqa: B015

    @pytest.mark.parametrize("op", ["begins", "like"])
    def test_string_operators_need_strings(self, op: str) -> None:
        """``begins`` and ``like`` take strings only."""
        with pytest.raises(InvalidQuery, match="int"):
            getattr(field("Name"), op)(5)

    def test_unsafe_like_pattern(self) -> None:
        """A wildcard pattern cannot go through $params, so quotes in it are refused."""
        with pytest.raises(InvalidQuery, match="wildcard"):
            render(field("Name").like('Kerze "@'))

    @pytest.mark.parametrize("other", [5, "Nummer = 1", None, True])
    def test_combining_with_non_filters(self, other: Any) -> None:
        """``&`` and ``|`` take filters only, naming what they got."""
        flt = field("A") == 1
        with pytest.raises(InvalidQuery, match=type(other).__name__):
            flt & other
        with pytest.raises(InvalidQuery, match=type(other).__name__):
            flt | other

    def test_filter_is_not_a_bool(self) -> None:
        """Using a filter as a boolean (``a and b``, ``if f``) is an error, not a silent drop."""
        with pytest.raises(InvalidQuery, match="boolean"):
            bool(field("A") == 1)
        with pytest.raises(InvalidQuery, match="boolean"):
            (field("A") == 1) and (field("B") == 2)

    @pytest.mark.parametrize("text", ["", "   ", 5])
    def test_empty_raw(self, text: Any) -> None:
        """Raw needs non-empty text."""
        with pytest.raises(InvalidQuery, match="Raw"):
            Raw(text)

    @pytest.mark.parametrize("node", [And(()), Or(()), Not(And(()))], ids=repr)
    def test_empty_groups(self, node: Filter) -> None:
        """An AND/OR without parts cannot be rendered."""
        with pytest.raises(InvalidQuery, match="empty"):
            render(node)

    @pytest.mark.parametrize("node", ["Nummer = 1", None, 5])
    def test_render_non_filter(self, node: Any) -> None:
        """``render`` takes filters only."""
        with pytest.raises(InvalidQuery, match="not a filter"):
            render(node)

    def test_comparison_validates_directly(self) -> None:
        """Building a Comparison by hand checks its attribute like ``field`` does."""
        with pytest.raises(InvalidQuery, match="Artikel; DROP"):
            Comparison("Artikel; DROP", "=", 1)
        with pytest.raises(InvalidQuery, match="Artikel; DROP"):
            In("Artikel; DROP", (1,))

    @pytest.mark.parametrize(
        ("date", "op"), [(dt.date.max, operator.gt), (dt.date.min, operator.lt)]
    )
    def test_strict_date_at_calendar_edge(
        self, date: dt.date, op: Callable[[Any, Any], Filter]
    ) -> None:
        """A strict comparison past the last (or before the first) date is refused, not crashed."""
        with pytest.raises(InvalidQuery, match="D"):
            render(op(field("D"), date))

    @pytest.mark.parametrize(
        ("kwargs", "culprit"),
        [
            ({"table": "Artikel; DROP"}, "Artikel; DROP"),
            ({"table": ""}, "table"),
            ({"table": 5}, "table"),
            ({"top": -1}, "top"),
            ({"skip": -1}, "skip"),
            ({"top": True}, "top"),
            ({"top": 1.5}, "top"),
            ({"attributes": ["Nummer", "a;b"]}, "a;b"),
            ({"order_by": "Nummer; DROP"}, "Nummer; DROP"),
            ({"filter": "Nummer = 1"}, "filter"),
        ],
        ids=repr,
    )
    def test_bad_query(self, kwargs: dict[str, Any], culprit: str) -> None:
        """A Query with a bad table, window, projection, order or filter names the bad part."""
        spec: dict[str, Any] = {"environment": "live", "table": "Artikel", **kwargs}
        with pytest.raises(InvalidQuery, match=re.escape(culprit)):
            Query(**spec)


# -- Hypothesis: rendered text is well-formed and no value escapes its literal ------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"[^"]*")
    | (?P<param>:\d+)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<op>===|!=|<=|>=|=|<|>|\#)
    | (?P<punct>[()\[\],])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split $filter text into (kind, text) tokens; anything unrecognised is an error."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m is not None, f"unreadable $filter at {pos}: {text[pos : pos + 30]!r}"
        assert m.lastgroup is not None
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


class FilterParser:
    """A recursive-descent parser for the $filter grammar the builder emits.

    expr  := term (("AND" | "OR") term)*        -- one joiner per level
    term  := "(" expr ")" | "NOT" "(" expr ")" | IDENT op value
           | IDENT "begin" value | IDENT "IN" "[" value ("," value)* "]"
    value := STRING | PARAM | NUMBER | true | false | null
    """

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.strings: list[str] = []
        self.params: list[int] = []

    def parse(self) -> FilterParser:
        """Parse the whole text; assert every token was consumed."""
        self.expr()
        assert len(self.tokens) == self.pos, f"trailing tokens: {self.tokens[self.pos :]}"
        return self

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        """The token ``ahead`` positions on, or None past the end."""
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str]:
        """Consume one token, checking its kind and text when given."""
        token = self.peek()
        assert token is not None, "unexpected end of $filter"
        assert kind is None or kind == token[0], f"expected {kind}, got {token}"
        assert text is None or text == token[1], f"expected {text!r}, got {token}"
        self.pos += 1
        return token

    def expr(self) -> None:
        """Terms joined by a single kind of joiner."""
        self.term()
        joiner = None
        while (token := self.peek()) is not None and token in {("word", "AND"), ("word", "OR")}:
            assert joiner in {None, token[1]}, "AND and OR mixed without parentheses"
            joiner = token[1]
            self.take()
            self.term()

    def term(self) -> None:
        """A group, a negation or a comparison."""
        if self.peek() == ("punct", "("):
            self.take()
            self.expr()
            self.take("punct", ")")
        elif self.peek() == ("word", "NOT") and self.peek(1) == ("punct", "("):
            self.take()
            self.take()
            self.expr()
            self.take("punct", ")")
        else:
            self.take("word")
            token = self.take()
            if token == ("word", "IN"):
                self.take("punct", "[")
                self.value()
                while self.peek() == ("punct", ","):
                    self.take()
                    self.value()
                self.take("punct", "]")
            else:
                assert token[0] == "op" or token == ("word", "begin"), f"not a comparator: {token}"
                self.value()

    def value(self) -> None:
        """One constant or placeholder."""
        kind, text = self.take()
        if kind == "string":
            self.strings.append(text[1:-1])
        elif kind == "param":
            self.params.append(int(text[1:]))
        else:
            assert kind == "number" or text in {"true", "false", "null"}, f"not a value: {text!r}"


def inline_safe(value: str) -> bool:
    """ADR 0004: a string goes inline only without quotes, backslashes and control characters."""
    return len(value) <= 4000 and not any(
        ch in "\"'\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value
    )


def expected_literals(node: Filter) -> tuple[list[str], list[Value]]:
    """The string literals and $params a filter must render to, in rendering order."""
    inline: list[str] = []
    params: list[Value] = []

    def string(value: str) -> None:
        (inline if inline_safe(value) else params).append(value)

    def constant(value: Value, op: str = "=") -> None:
        if isinstance(value, dt.datetime):
            string(value.isoformat())
        elif isinstance(value, dt.date):
            shift = {">": 1, "<": -1}.get(op, 0)
            inline.append((value + dt.timedelta(days=shift)).isoformat())
        elif isinstance(value, str):
            string(value)

    def walk(n: Filter) -> None:
        if isinstance(n, Comparison):
            constant(n.value, n.op)
        elif isinstance(n, In):
            for v in n.values:
                constant(v)
        elif isinstance(n, (And, Or)):
            for p in n.parts:
                walk(p)
        elif isinstance(n, Not):
            walk(n.part)

    walk(node)
    return inline, params


NASTY = [
    '"',
    "'",
    "\\",
    '") OR (1=1',
    '" OR Nummer > 0 OR "',
    "x' OR '1'='1",
    "\n",
    "@",
    ":1",
    "]",
    "NOT(",
    "\x7f",
    '\\"',
]
identifiers = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z").filter(
    lambda s: (
        s.casefold() not in {"and", "or", "except", "not", "in", "null", "true", "false", "begin"}
    )
)
strings = st.one_of(
    st.text(max_size=20), st.sampled_from(NASTY), st.text("\"'\\@()[]:, ", max_size=8)
)
scalars: st.SearchStrategy[Value] = st.one_of(
    strings,
    st.integers(-(2**63), 2**63 - 1),  # 4D long64 (ADR 0015)
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(dt.date(1, 1, 2), dt.date(9999, 12, 30)),
    st.datetimes(),
)
_OPS: list[Callable[[Any, Any], Filter]] = [
    operator.eq,
    operator.ne,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
]


def comparisons() -> st.SearchStrategy[Filter]:
    """Leaf filters of every kind the builder makes."""
    return st.one_of(
        st.builds(
            lambda name, op, v: op(field(name), v), identifiers, st.sampled_from(_OPS), scalars
        ),
        st.builds(
            lambda name, eq: field(name).is_null() if eq else field(name).not_null(),
            identifiers,
            st.booleans(),
        ),
        st.builds(lambda name, v: field(name).begins(v), identifiers, strings),
        st.builds(
            lambda name, v: field(name).like(v),
            identifiers,
            st.text(
                st.characters(
                    blacklist_characters="\"'\\",
                    blacklist_categories=("Cc",),
                    min_codepoint=0x20,
                    max_codepoint=0x2FF,
                )
            ),
        ),
        st.builds(
            lambda name, vs: field(name).in_(vs),
            identifiers,
            st.lists(scalars, min_size=1, max_size=4),
        ),
    )


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda ps: And(tuple(ps))),
        st.lists(inner, min_size=1, max_size=3).map(lambda ps: Or(tuple(ps))),
        st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
        st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
        inner.map(lambda f: ~f),
    ),
    max_leaves=8,
)


class TestRenderProperties:
    """For any filter the builder accepts, the text is well-formed and values stay in literals."""

    @settings(max_examples=400, deadline=None)
    @given(flt=filters)
    @example(flt=field("A") == '") OR (1=1')
    @example(flt=(field("A") == "x") & (field("B").in_(["a'b", 'c"d', "e"])))
    def test_well_formed(self, flt: Filter) -> None:
        """The rendered text parses: balanced quotes and parentheses, one joiner per level."""
        text = render(flt).text
        FilterParser(text).parse()
        outside = re.sub(r'"[^"]*"', "", text)
        assert '"' not in outside
        assert outside.count("(") == outside.count(")")
        assert outside.count("[") == outside.count("]")

    @settings(max_examples=400, deadline=None)
    @given(flt=filters)
    @example(flt=field("A") == '" OR Nummer > 0 OR "')
    @example(flt=~((field("A") == "x\ny") | (field("B") < dt.date(2025, 3, 1))))
    def test_values_stay_in_their_literals(self, flt: Filter) -> None:
        """Literal tokens are exactly the safe values; every other string is a $param."""
        rendered = render(flt)
        parsed = FilterParser(rendered.text).parse()
        inline, params = expected_literals(flt)
        assert Counter(inline) == Counter(parsed.strings)
        assert tuple(params) == rendered.params
        assert list(range(1, len(params) + 1)) == parsed.params
        assert all(
            ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F and ch not in "'\\"
            for ch in rendered.text
        )


class TestBuilderEdges:
    """Edge cases of identifiers and literals found in review."""

    @pytest.mark.parametrize("name", ["AND", "or", "Not", "IN", "null", "true", "begin"])
    def test_query_words_are_not_identifiers(self, name: str) -> None:
        """A word of the 4D query language is refused as an attribute name."""
        with pytest.raises(InvalidQuery, match="4D query language"):
            field(name)

    def test_floats_render_without_exponent(self) -> None:
        """Large and tiny floats render in plain decimal notation."""
        assert "a = 10000000000000000 AND b = 0.0000001" == text_of(
            (field("a") == 1e16) & (field("b") == 1e-7)
        )

    def test_c1_controls_go_to_params(self) -> None:
        """C1 control characters (U+0080-U+009F) are never written inline."""
        rendered = render(field("Name") == "a\x85b")
        assert ("a\x85b",) == rendered.params
        assert "Name = :1" == rendered.text
