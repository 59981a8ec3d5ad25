"""A typed builder for 4D ``$filter`` expressions.

Build filters with :func:`field` and Python operators; render them with :func:`render`.
Every literal is rendered through its type (never ``str()``), every identifier is
validated against 4D naming, and raw text is allowed only through an explicit
:class:`Raw`. Nothing here does I/O; invalid names and values raise
:class:`~legacy_core.errors.InvalidQuery` before any request is made.

Semantics (shared by the in-memory adapter and the emulator; see ADR 0004):

- ``==`` on a string renders ``=``; a value containing ``@`` renders ``===`` (4D's
  literal comparison) so that ``@`` is not a wildcard; :meth:`Field.like` is the explicit
  wildcard form.
- Dates render as ``"YYYY-MM-DD"``; strict ``>``/``<`` on a date become ``>=``/``<=`` of
  the next/previous day, because pyERP's server answers 500 to strict date comparisons.
- ``== None`` renders ``= null``; ``!= None`` renders ``# null``.
- Strings that cannot be written safely inside ``"…"`` (quotes, backslashes, control
  characters) are sent as ``$params`` placeholders ``:n`` instead of inline.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, NoReturn, TypeAlias

import attrs

from legacy_core._checks import check_int, check_text, describe
from legacy_core.errors import InvalidQuery, WhereSyntaxError
from legacy_core.model import validate_identifier

__all__ = [
    "And",
    "Comparison",
    "Field",
    "Filter",
    "In",
    "Not",
    "Or",
    "Raw",
    "Rendered",
    "Value",
    "field",
    "parse_where",
    "render",
    "where_filter",
]

Value: TypeAlias = str | int | float | bool | dt.date | dt.datetime | None
Op = Literal["=", "===", "!=", "<", "<=", ">", ">=", "begin", "like"]

_SAFE_INLINE_MAX = 4000


def _check_value(value: object, *, context: str) -> Value:
    if value is None or isinstance(value, (bool, dt.date)):
        return value
    if isinstance(value, str):
        return check_text(value, context)
    if isinstance(value, int):
        return check_int(value, context)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{context}: {value!r} cannot be compared in 4D (not finite)"
            raise InvalidQuery(msg)
        return value
    msg = (
        f"{context}: unsupported value type {type(value).__name__} "
        "(use str, int, float, bool, date, datetime or None)"
    )
    raise InvalidQuery(msg)


class Filter:
    """Base of every filter node; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def __and__(self, other: Filter) -> Filter:
        return And((*_parts(self, And), *_parts(_as_filter(other), And)))

    def __or__(self, other: Filter) -> Filter:
        return Or((*_parts(self, Or), *_parts(_as_filter(other), Or)))

    def __rand__(self, other: object) -> Filter:
        # `5 & f` or `{...} & f`: a typed error rather than Python's TypeError.
        return And((*_parts(_as_filter(other), And), *_parts(self, And)))

    def __ror__(self, other: object) -> Filter:
        return Or((*_parts(_as_filter(other), Or), *_parts(self, Or)))

    def __invert__(self) -> Filter:
        return Not(self)

    def __bool__(self) -> bool:
        # `a == 1 and b == 2` would silently drop a filter: make that an error.
        msg = "filters cannot be used as booleans; combine them with & | ~"
        raise InvalidQuery(msg)


def _parts(node: Filter, kind: type[And] | type[Or]) -> tuple[Filter, ...]:
    # a & b & c is one And of three parts, not a nested pair: shorter $filter text.
    return node.parts if isinstance(node, kind) and type(node) is kind else (node,)


def _as_filter(value: object) -> Filter:
    if isinstance(value, Filter):
        return value
    msg = f"cannot combine a filter with {type(value).__name__}"
    raise InvalidQuery(msg)


@attrs.frozen(eq=False)
class Comparison(Filter):
    """``attribute op value``."""

    attribute: str
    op: Op
    value: Value

    def __attrs_post_init__(self) -> None:
        validate_identifier(self.attribute, "attribute")
        _check_value(self.value, context=f"{self.attribute} {self.op}")
        if self.value is None and self.op not in {"=", "!="}:
            msg = f"{self.attribute} {self.op} None: only == and != compare with null"
            raise InvalidQuery(msg)
        if self.op in {"begin", "like"} and not isinstance(self.value, str):
            msg = f"{self.attribute} {self.op}: needs a str, not {type(self.value).__name__}"
            raise InvalidQuery(msg)


@attrs.frozen(eq=False)
class In(Filter):
    """``attribute IN [v1, v2, …]``."""

    attribute: str
    values: tuple[Value, ...]

    def __attrs_post_init__(self) -> None:
        validate_identifier(self.attribute, "attribute")
        if not self.values:
            msg = f"{self.attribute} IN []: the list is empty (it would match nothing)"
            raise InvalidQuery(msg)
        for v in self.values:
            _check_value(v, context=f"{self.attribute} IN")
            if v is None:
                msg = f"{self.attribute} IN: None is not allowed in a list; use == None"
                raise InvalidQuery(msg)


@attrs.frozen(eq=False)
class And(Filter):
    """All of the parts."""

    parts: tuple[Filter, ...]


@attrs.frozen(eq=False)
class Or(Filter):
    """Any of the parts."""

    parts: tuple[Filter, ...]


@attrs.frozen(eq=False)
class Not(Filter):
    """``NOT(part)``."""

    part: Filter


@attrs.frozen(eq=False)
class Raw(Filter):
    """Filter text passed to 4D as written: the explicit escape hatch. Never built from input."""

    text: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            msg = f"Raw filter must be a non-empty str, got {describe(self.text)}"
            raise InvalidQuery(msg)
        check_text(self.text, "Raw filter")


@attrs.frozen(eq=False)
class Field:
    """An attribute to compare: ``field("Nummer") == 803721``."""

    name: str = attrs.field()

    @name.validator
    def _check(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        validate_identifier(value, "attribute")

    def _cmp(self, op: Op, value: object) -> Comparison:
        return Comparison(self.name, op, _check_value(value, context=f"{self.name} {op}"))

    def __eq__(self, value: object) -> Comparison:  # type: ignore[override]
        if isinstance(value, str) and "@" in value:
            return self._cmp("===", value)
        return self._cmp("=", value)

    def __ne__(self, value: object) -> Comparison:  # type: ignore[override]
        if isinstance(value, str) and "@" in value:
            # 4D has no documented literal "not equal"; express it as NOT(===).
            return Not(self._cmp("===", value))  # type: ignore[return-value]
        return self._cmp("!=", value)

    def __lt__(self, value: object) -> Comparison:
        return self._cmp("<", value)

    def __le__(self, value: object) -> Comparison:
        return self._cmp("<=", value)

    def __gt__(self, value: object) -> Comparison:
        return self._cmp(">", value)

    def __ge__(self, value: object) -> Comparison:
        return self._cmp(">=", value)

    __hash__ = None  # type: ignore[assignment]

    def begins(self, prefix: str) -> Comparison:
        """Strings starting with ``prefix`` (4D ``begin``)."""
        return self._cmp("begin", prefix)

    def like(self, pattern: str) -> Comparison:
        """4D wildcard match: ``@`` stands for any characters (``"Engel@"``)."""
        return self._cmp("like", pattern)

    def in_(self, values: Iterable[object]) -> In:
        """Any of ``values`` (4D ``IN [..]``)."""
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            msg = f"{self.name}.in_: needs a list of values, not a single {type(values).__name__}"
            raise InvalidQuery(msg)
        return In(self.name, tuple(_check_value(v, context=f"{self.name} IN") for v in values))

    def is_null(self) -> Comparison:
        """The attribute is null."""
        return self._cmp("=", None)

    def not_null(self) -> Comparison:
        """The attribute is not null."""
        return self._cmp("!=", None)


def field(name: str) -> Field:
    """Start a comparison on attribute ``name``."""
    return Field(name)


@attrs.frozen
class Rendered:
    """A rendered filter: the ``$filter`` text and the ``$params`` it refers to (``:1`` …)."""

    text: str
    params: tuple[Value, ...] = ()

    def params_json(self) -> str | None:
        """``$params`` as 4D expects it (a JSON array), or None when there are none."""
        if not self.params:
            return None
        import json  # noqa: PLC0415 - only needed for the rare placeholder case

        return json.dumps([_param_value(p) for p in self.params])


def _param_value(value: Value) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


class _Renderer:
    def __init__(self) -> None:
        self.params: list[Value] = []

    def node(self, node: Filter, *, top: bool = False) -> str:
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, In):
            inner = ",".join(self.literal(v, node.attribute) for v in node.values)
            return f"{node.attribute} IN [{inner}]"
        if isinstance(node, (And, Or)):
            if not node.parts:
                msg = f"empty {type(node).__name__} filter"
                raise InvalidQuery(msg)
            joiner = " AND " if isinstance(node, And) else " OR "
            text = joiner.join(self.node(p) for p in node.parts)
            return text if top or len(node.parts) == 1 else f"({text})"
        if isinstance(node, Not):
            return f"NOT({self.node(node.part, top=True)})"
        if isinstance(node, Raw):
            return node.text if top else f"({node.text})"
        msg = f"not a filter: {type(node).__name__}"
        raise InvalidQuery(msg)

    def comparison(self, c: Comparison) -> str:
        op: str = c.op
        value = c.value
        if value is None:
            return f"{c.attribute} {'=' if op == '=' else '#'} null"
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            # Strict date comparisons answer 500 on pyERP's server; dates are whole days.
            try:
                if op == ">":
                    op, value = ">=", value + dt.timedelta(days=1)
                elif op == "<":
                    op, value = "<=", value - dt.timedelta(days=1)
            except OverflowError:
                msg = f"{c.attribute} {c.op} {value.isoformat()}: no date lies beyond it"
                raise InvalidQuery(msg) from None
        if op == "like":
            return f"{c.attribute} = {self.string(str(value), wildcard=True)}"
        if op == "begin":
            return f"{c.attribute} begin {self.string(str(value))}"
        return f"{c.attribute} {op} {self.literal(value, c.attribute)}"

    def literal(self, value: Value, attribute: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, float):
            # Plain decimal notation: 4D's parser is not documented to read 1e+16. A whole
            # float is written exactly (3.958462780413798e16 is ...984, not ...980: the
            # shortest repr would compare a different integer).
            number = float(value)
            return format(Decimal(number) if number.is_integer() else Decimal(repr(number)), "f")
        if isinstance(value, dt.datetime):
            return self.string(value.isoformat())
        if isinstance(value, dt.date):
            return f'"{value.isoformat()}"'
        if isinstance(value, str):
            return self.string(value)
        msg = f"{attribute}: cannot render {type(value).__name__}"
        raise InvalidQuery(msg)

    def string(self, value: str, *, wildcard: bool = False) -> str:
        if _inline_safe(value):
            return f'"{value}"'
        if wildcard:
            msg = f"wildcard pattern {value!r} contains characters 4D cannot take inline"
            raise InvalidQuery(msg)
        self.params.append(value)
        return f":{len(self.params)}"


def _inline_safe(value: str) -> bool:
    return len(value) <= _SAFE_INLINE_MAX and not any(
        ch in {'"', "\\", "'"} or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value
    )


def render(node: object) -> Rendered:
    """Render a filter to 4D ``$filter`` text plus ``$params`` for unsafe strings."""
    if not isinstance(node, Filter):
        msg = f"not a filter: {type(node).__name__}"
        raise InvalidQuery(msg)
    r = _Renderer()
    text = r.node(node, top=True)
    return Rendered(text, tuple(r.params))


def where_filter(where: object, *, table: str | None = None) -> Filter | None:
    """Turn a ``where`` argument into a filter: a Filter, a dict of equalities or None.

    A plain string is refused (raw 4D text must be wrapped in :class:`Raw` explicitly);
    ``{"Gesperrt": False, "Nummer": 1}`` is ``field("Gesperrt") == False & ...``.
    """
    if where is None or isinstance(where, Filter):
        return where
    if isinstance(where, str):
        msg = (
            f"where={describe(where)}: a plain string is not accepted; build the filter with "
            "legacy_core.query (field('Nummer') == 1) or pass Raw(...) explicitly"
        )
        raise InvalidQuery(msg, table=table)
    if isinstance(where, Mapping):
        if not where:
            return None
        parts = [Field(name) == value for name, value in where.items()]
        combined: Filter = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined
    msg = f"where must be a filter, a dict of equalities or None, not {type(where).__name__}"
    raise InvalidQuery(msg, table=table)


def attributes_of(node: Filter) -> Sequence[str]:
    """The attribute names a filter compares (Raw contributes none)."""
    out: list[str] = []
    stack: list[Filter] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (Comparison, In)):
            out.append(n.attribute)
        elif isinstance(n, (And, Or)):
            stack.extend(n.parts)
        elif isinstance(n, Not):
            stack.append(n.part)
    return out


# -- the where mini-language (the CLI's and the management command's --where) -----------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|==|=|<|>|\#)
      | (?P<punct>[()\[\],])
      | (?P<word>[^\s()\[\],=!<>\#'"]+)
      | (?P<bad>.)""",
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[+-]?\.[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_KEYWORDS = frozenset({"and", "or", "not", "in", "begin", "like", "true", "false", "null"})
_CONSTANTS: dict[str, Value] = {"true": True, "false": False, "null": None}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@attrs.frozen
class _Token:
    kind: str  # string, op, punct, word, end
    text: str
    position: int  # 0-based offset in the where text

    @property
    def keyword(self) -> str | None:
        folded = self.text.casefold()
        return folded if self.kind == "word" and folded in _KEYWORDS else None


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "bad"
        if kind == "space":
            continue
        if kind == "bad":
            quote = match.group() in {"'", '"'}
            what = "a string without its closing quote" if quote else "unexpected"
            what += "" if quote else f" {match.group()!r}"
            _fail(text, match.start(), what)
        out.append(_Token(kind, match.group(), match.start()))
    out.append(_Token("end", "", len(text)))
    return out


def _fail(text: str, position: int, problem: str) -> NoReturn:
    msg = f"--where at position {position + 1}: {problem}; in {text!r}"
    raise WhereSyntaxError(msg, text=text, position=position + 1)


MAX_WHERE_DEPTH = 64
"""How deep ``(`` and ``not`` may nest in a ``--where`` text."""


class _WhereParser:
    """Recursive descent: ``or`` binds looser than ``and``, ``not`` tighter; ``(…)`` groups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str, what: str) -> None:
        if self.current.text != text or self.current.kind not in {"punct", "op"}:
            self.fail(f"expected {what}")
        self.advance()

    def fail(self, problem: str) -> NoReturn:
        token = self.current
        found = "the end" if token.kind == "end" else repr(token.text)
        _fail(self.text, token.position, f"{problem}, found {found}")

    def parse(self) -> Filter:
        if self.current.kind == "end":
            _fail(self.text, 0, "empty filter")
        node = self.disjunction()
        if self.current.kind != "end":
            self.fail("expected 'and', 'or' or the end")
        return node

    def disjunction(self) -> Filter:
        node = self.conjunction()
        while self.current.keyword == "or":
            self.advance()
            node = node | self.conjunction()
        return node

    def conjunction(self) -> Filter:
        node = self.negation()
        while self.current.keyword == "and":
            self.advance()
            node = node & self.negation()
        return node

    def negation(self) -> Filter:
        if self.current.keyword == "not":
            self.nest()
            self.advance()
            node: Filter = Not(self.negation())
            self.depth -= 1
            return node
        if self.current.kind == "punct" and self.current.text == "(":
            self.nest()
            self.advance()
            node = self.disjunction()
            self.expect(")", "')'")
            self.depth -= 1
            return node
        return self.comparison()

    def nest(self) -> None:
        # A bound well inside Python's recursion limit: a hostile filter (a gateway
        # consumer's) gets a WhereSyntaxError, never a RecursionError.
        self.depth += 1
        if self.depth > MAX_WHERE_DEPTH:
            self.fail(f"parentheses and 'not' nested deeper than {MAX_WHERE_DEPTH}")

    def comparison(self) -> Filter:
        token = self.current
        if token.kind != "word" or token.keyword is not None:
            self.fail("expected a field name")
        self.advance()
        try:
            subject = Field(token.text)
        except InvalidQuery as exc:
            first = str(exc).splitlines()[0]
            _fail(self.text, token.position, first)
        op = self.current
        start = op.position
        if op.kind == "op":
            self.advance()
            value = self.value()
            return self.build(start, lambda: _compare(subject, op.text, value))
        if op.keyword in {"begin", "like"}:
            self.advance()
            value = self.value()
            if not isinstance(value, str):
                _fail(self.text, start, f"{op.text} needs a string")
            verb = subject.begins if op.keyword == "begin" else subject.like
            return self.build(start, lambda: verb(str(value)))
        if op.keyword != "in":
            operators = "= != < <= > >= begin like in"
            self.fail(f"expected an operator after {token.text!r} ({operators})")
        self.advance()
        values = self.values()
        return self.build(start, lambda: subject.in_(values))

    def build(self, position: int, make: Any) -> Filter:
        try:
            node: Filter = make()
        except InvalidQuery as exc:
            first = str(exc).splitlines()[0]
            _fail(self.text, position, first)
        return node

    def values(self) -> list[Value]:
        self.expect("[", "'[' starting the list")
        out = [self.value()]
        while self.current.kind == "punct" and self.current.text == ",":
            self.advance()
            out.append(self.value())
        self.expect("]", "',' or ']'")
        return out

    def value(self) -> Value:
        token = self.current
        if token.kind == "string":
            self.advance()
            return _unquote(token.text)
        if token.kind != "word" or token.keyword in {"and", "or", "not"}:
            self.fail("expected a value")
        self.advance()
        return _word_value(token.text, self.text, token.position)


def _compare(subject: Field, op: str, value: Value) -> Filter:
    if op in {"=", "=="}:
        return subject == value
    if op in {"!=", "#"}:
        return subject != value
    if op == "<":
        return subject < value
    if op == "<=":
        return subject <= value
    if op == ">":
        return subject > value
    return subject >= value


def _unquote(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    chars = iter(body)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(_ESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def _word_value(word: str, text: str, position: int) -> Value:
    folded = word.casefold()
    if folded in _CONSTANTS:
        return _CONSTANTS[folded]
    if _INT.fullmatch(word):
        return int(word)
    if _FLOAT.fullmatch(word):
        return float(word)
    if _DATE.fullmatch(word):
        try:
            return dt.date.fromisoformat(word)
        except ValueError:
            _fail(text, position, f"{word!r} is not a valid date")
    return word  # a bare word is a string (leading zeros too: PLZ = 01067)


def parse_where(text: str) -> Filter:
    """Parse the ``--where`` mini-language into a filter of this module.

    ``Nummer = 803721 and Aktiv = true``; comparisons ``= != < <= > >=`` (``==`` and
    ``#`` too), ``begin``, ``like`` and ``in [a, b]``, joined by ``and``/``or``, negated
    by ``not``, grouped by parentheses (keywords in any case). Values: integers, floats,
    ``'quoted'`` or ``"quoted"`` strings (backslash escapes), ``true``/``false``/``null``,
    ISO dates ``2025-01-31``, and bare words as strings (``01067`` stays text). A text
    that does not parse raises :class:`~legacy_core.errors.WhereSyntaxError` naming the
    1-based position.
    """
    return _WhereParser(text).parse()
