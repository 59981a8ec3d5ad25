"""The ``$filter`` language: tokenizer, parser and evaluator (semantics of ADR 0004).

Grammar (keywords case-insensitive; AND binds tighter than OR and EXCEPT)::

    expr       := and_expr (("OR" | "|" | "EXCEPT" | "^") and_expr)*
    and_expr   := unary (("AND" | "&") unary)*
    unary      := "NOT" unary | "(" expr ")" | comparison
    comparison := attr op value | attr "IN" "[" value ("," value)* "]"
    op         := = == === # != !== < <= > >= begin %
    value      := "text" | 'text' | number | true | false | null | :n
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import orjson

from fourd_emulator._errors import (
    INCOMPATIBLE_TYPES,
    QUERY_SYNTAX,
    QUIRK_REFUSED,
    FourDError,
)
from fourd_emulator._schema import NUMERIC_TYPES, STRING_TYPES, AttributeSpec
from fourd_emulator._store import ColumnKey, Table
from fourd_emulator._values import parse_date_constant

__all__ = ["Predicate", "compile_filter", "parse_filter", "parse_params", "resolve_attribute"]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<param>:\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>===|!==|==|!=|<=|>=|=|\#|<|>|%)
  | (?P<punct>[()\[\],&|^])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "except", "not", "in", "begin", "true", "false", "null"}


@attrs.frozen
class _Tok:
    kind: str
    text: str
    pos: int


@attrs.frozen
class Const:
    """A constant of the filter: kind ``str``, ``num``, ``bool``, ``null`` or ``param``."""

    kind: str
    value: Any


@attrs.frozen
class Cmp:
    """``attribute op value``."""

    attribute: str
    op: str
    value: Const
    pos: int


@attrs.frozen
class InList:
    """``attribute IN [values]``."""

    attribute: str
    values: tuple[Const, ...]
    pos: int


@attrs.frozen
class BoolOp:
    """``left AND|OR|EXCEPT right``."""

    op: str
    left: Node
    right: Node


@attrs.frozen
class NotOp:
    """``NOT(inner)``."""

    inner: Node


Node = Cmp | InList | BoolOp | NotOp


def _tokenize(text: str, table: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return _syntax(text, table, pos, f"unexpected character {text[pos]!r}")  # type: ignore[no-any-return]
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "ident" and word.lower() in _KEYWORDS:
                kind = "kw"
            toks.append(_Tok(kind, word, pos))
        pos = m.end()
    return toks


def _syntax(text: str, table: str, pos: int, what: str) -> Any:
    near = text[pos : pos + 20] or "end of the query"
    msg = f"Cannot build a valid query with the string: {what} at position {pos + 1} near '{near}'"
    raise FourDError.query(QUERY_SYNTAX, msg, table=table, filter_text=text)


class _Parser:
    def __init__(self, text: str, table: str) -> None:
        self.text = text
        self.table = table
        self.toks = _tokenize(text, table)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, what: str) -> Any:
        tok = self.peek()
        return _syntax(self.text, self.table, tok.pos if tok else len(self.text), what)

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            self.fail("unexpected end of the query")
            raise AssertionError  # pragma: no cover - fail raises
        self.i += 1
        return tok

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "kw" and tok.text.lower() in words

    def is_punct(self, *chars: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "punct" and tok.text in chars

    def parse(self) -> Node:
        if not self.toks:
            self.fail("empty query")
        node = self.expr()
        if self.peek() is not None:
            self.fail(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return node

    def expr(self) -> Node:
        node = self.and_expr()
        while True:
            if self.is_word("or") or self.is_punct("|"):
                op = "or"
            elif self.is_word("except") or self.is_punct("^"):
                op = "except"
            else:
                return node
            self.take()
            node = BoolOp(op, node, self.and_expr())

    def and_expr(self) -> Node:
        node = self.unary()
        while self.is_word("and") or self.is_punct("&"):
            self.take()
            node = BoolOp("and", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.is_word("not"):
            self.take()
            return NotOp(self.unary())
        if self.is_punct("("):
            self.take()
            node = self.expr()
            if not self.is_punct(")"):
                self.fail("missing ')'")
            self.take()
            return node
        return self.comparison()

    def comparison(self) -> Node:
        tok = self.take()
        if tok.kind != "ident":
            _syntax(self.text, self.table, tok.pos, f"expected an attribute, found {tok.text!r}")
        if self.is_word("in"):
            self.take()
            if not self.is_punct("["):
                self.fail("expected '[' after IN")
            self.take()
            values = [self.value()]
            while self.is_punct(","):
                self.take()
                values.append(self.value())
            if not self.is_punct("]"):
                self.fail("expected ']'")
            self.take()
            return InList(tok.text, tuple(values), tok.pos)
        op_tok = self.peek()
        if op_tok is not None and op_tok.kind == "op":
            op = op_tok.text
        elif self.is_word("begin"):
            op = "begin"
        else:
            self.fail("expected a comparison operator")
            raise AssertionError  # pragma: no cover
        self.take()
        return Cmp(tok.text, op, self.value(), tok.pos)

    def value(self) -> Const:
        tok = self.take()
        if tok.kind == "str":
            return Const("str", tok.text[1:-1])
        if tok.kind == "num":
            is_int = re.fullmatch(r"-?\d+", tok.text) is not None
            return Const("num", int(tok.text) if is_int else float(tok.text))
        if tok.kind == "param":
            return Const("param", int(tok.text[1:]))
        if tok.kind == "kw" and tok.text.lower() in {"true", "false"}:
            return Const("bool", tok.text.lower() == "true")
        if tok.kind == "kw" and tok.text.lower() == "null":
            return Const("null", None)
        return _syntax(self.text, self.table, tok.pos, f"expected a value, found {tok.text!r}")  # type: ignore[no-any-return]


def parse_filter(text: str, table: str) -> Node:
    """Parse ``$filter`` text; raise FourDError (500, 1279) on bad syntax."""
    return _Parser(text, table).parse()


def parse_params(raw: str | None, table: str) -> list[Any]:
    """Decode ``$params`` (a JSON array)."""
    if raw is None or raw == "":
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        msg = f"$params must be a JSON array, got {raw[:80]!r}"
        raise FourDError.query(QUERY_SYNTAX, msg, table=table)
    return value


_PSEUDO = {
    "__KEY": AttributeSpec("__KEY", "string"),
    "__STAMP": AttributeSpec("__STAMP", "long"),
    "__TIMESTAMP": AttributeSpec("__TIMESTAMP", "string"),
}


def resolve_attribute(table: Table, name: str, filter_text: str | None = None) -> AttributeSpec:
    """Return the attribute ``name`` of ``table``; raise FourDError 1203 when unknown."""
    spec = table.attributes.get(name) or _PSEUDO.get(name)
    if spec is None:
        raise FourDError.unknown_attribute(name, table.name, filter_text)
    return spec


@attrs.frozen
class Predicate:
    """A compiled filter: the columns it reads and a per-row test."""

    columns: tuple[ColumnKey, ...]
    build: Callable[[Mapping[ColumnKey, Sequence[Any]]], Callable[[int], bool]]

    def select(self, table: Table) -> list[int]:
        """Indexes of the rows of ``table`` that match, in natural order."""
        cols = table.columns(self.columns)
        test = self.build(cols)
        return [i for i in range(table.count()) if test(i)]


Test = Callable[[Any], bool]


class _Compiler:
    def __init__(self, table: Table, text: str, params: list[Any], quirks: bool) -> None:
        self.table = table
        self.text = text
        self.params = params
        self.quirks = quirks
        self.columns: list[ColumnKey] = []

    def error(self, code: int, message: str) -> FourDError:
        return FourDError.query(code, message, table=self.table.name, filter_text=self.text)

    def const(self, c: Const) -> Const:
        if c.kind != "param":
            return c
        n = int(c.value)
        if not 1 <= n <= len(self.params):
            raise self.error(QUERY_SYNTAX, f"Placeholder :{n} has no value in $params")
        v = self.params[n - 1]
        if v is None:
            return Const("null", None)
        if isinstance(v, bool):
            return Const("bool", v)
        if isinstance(v, (int, float)):
            return Const("num", v)
        if isinstance(v, str):
            return Const("str", v)
        raise self.error(INCOMPATIBLE_TYPES, f"Placeholder :{n}: unsupported value {v!r}")

    def node(
        self, node: Node
    ) -> Callable[[Mapping[ColumnKey, Sequence[Any]]], Callable[[int], bool]]:
        if isinstance(node, BoolOp):
            lf, rf = self.node(node.left), self.node(node.right)
            op = node.op

            def build_bool(cols: Mapping[ColumnKey, Sequence[Any]]) -> Callable[[int], bool]:
                left, right = lf(cols), rf(cols)
                if op == "and":
                    return lambda i: left(i) and right(i)
                if op == "or":
                    return lambda i: left(i) or right(i)
                return lambda i: left(i) and not right(i)

            return build_bool
        if isinstance(node, NotOp):
            inner_f = self.node(node.inner)

            def build_not(cols: Mapping[ColumnKey, Sequence[Any]]) -> Callable[[int], bool]:
                inner = inner_f(cols)
                return lambda i: not inner(i)

            return build_not
        attr = resolve_attribute(self.table, node.attribute, self.text)
        if attr.name == "__TIMESTAMP" and self.quirks:
            raise self.error(QUIRK_REFUSED, "Query on __TIMESTAMP is not supported by this server")
        if attr.kind != "storage" and not (
            isinstance(node, Cmp) and self.const(node.value).kind == "null"
        ):
            # A relation can only be tested for null (``ArtikelFamilie # null``).
            raise self.error(
                INCOMPATIBLE_TYPES,
                f'The attribute "{attr.name}" is a relation and cannot be compared',
            )
        kind, test = (
            self.in_test(attr, node) if isinstance(node, InList) else self.cmp_test(attr, node)
        )
        key = (attr.name, kind)
        self.columns.append(key)

        def build_cmp(cols: Mapping[ColumnKey, Sequence[Any]]) -> Callable[[int], bool]:
            col = cols[key]
            return lambda i: test(col[i])

        return build_cmp

    def in_test(self, attr: AttributeSpec, node: InList) -> tuple[str, Test]:
        consts = [self.const(c) for c in node.values]
        kind, convert = self.converter(attr, "IN")
        if any(c.kind == "null" for c in consts):
            raise self.error(QUERY_SYNTAX, f"{attr.name} IN: null is not allowed in a list")
        wanted = frozenset(convert(c) for c in consts)
        return kind, lambda v: v is not None and v in wanted

    def converter(self, attr: AttributeSpec, op: str) -> tuple[str, Callable[[Const], Any]]:
        """Return the column kind for ``attr`` and how to make a constant comparable."""
        t = attr.type
        name = attr.name

        def bad(c: Const) -> FourDError:
            return self.error(
                INCOMPATIBLE_TYPES,
                f'Cannot compare the {t} attribute "{name}" with {c.kind} {c.value!r}',
            )

        if t in STRING_TYPES:

            def conv_str(c: Const) -> Any:
                if c.kind != "str":
                    raise bad(c)
                return str(c.value).casefold()

            return "fold", conv_str
        if t in NUMERIC_TYPES:

            def conv_num(c: Const) -> Any:
                if c.kind == "num":
                    return c.value
                if c.kind == "str":
                    try:
                        return float(str(c.value).strip())
                    except ValueError:
                        raise bad(c) from None
                raise bad(c)

            return "raw", conv_num
        if t == "date":

            def conv_date(c: Const) -> Any:
                if c.kind != "str":
                    raise bad(c)
                try:
                    # A point in time against a whole day is ambiguous (ADR 0004): refuse it.
                    return parse_date_constant(str(c.value), allow_time=False)
                except ValueError:
                    raise bad(c) from None

            return "date", conv_date
        if t == "bool":
            if op not in {"=", "==", "===", "#", "!=", "!=="}:
                raise self.error(
                    INCOMPATIBLE_TYPES,
                    f'Operator {op} cannot be used on the bool attribute "{name}"',
                )

            def conv_bool(c: Const) -> Any:
                if c.kind != "bool":
                    raise bad(c)
                return c.value

            return "raw", conv_bool

        def conv_other(c: Const) -> Any:
            raise bad(c)

        return "raw", conv_other

    def cmp_test(self, attr: AttributeSpec, node: Cmp) -> tuple[str, Test]:
        op = node.op
        c = self.const(node.value)
        if c.kind == "null":
            if op in {"=", "==", "==="}:
                return "raw", lambda v: v is None
            if op in {"#", "!=", "!=="}:
                return "raw", lambda v: v is not None
            raise self.error(QUERY_SYNTAX, f"{attr.name} {op} null: only = and # compare with null")
        if attr.type == "date" and op in {"<", ">"} and self.quirks:
            raise self.error(
                QUIRK_REFUSED,
                f'Strict comparison {op} is not supported on the date attribute "{attr.name}"',
            )
        kind, convert = self.converter(attr, op)
        if op in {"begin", "%"} and kind != "fold":
            raise self.error(
                INCOMPATIBLE_TYPES,
                f'Operator {op} needs a text attribute, "{attr.name}" is {attr.type}',
            )
        value = convert(c)
        return kind, _test(op, value, wildcard=kind == "fold")


class _Wildcard:
    """``@`` stands for any run of characters; the whole text must match."""

    def __init__(self, pattern: str) -> None:
        self._rx = re.compile(".*".join(re.escape(p) for p in pattern.split("@")), re.S)

    def match(self, text: str) -> bool:
        return self._rx.fullmatch(text) is not None


def _wildcard(pattern: str) -> _Wildcard:
    return _Wildcard(pattern)


def _test(op: str, value: Any, *, wildcard: bool) -> Test:  # noqa: PLR0911 - one branch per operator
    if op in {"=", "==", "#", "!="} and wildcard and "@" in value:
        rx = _wildcard(value)
        if op in {"=", "=="}:
            return lambda v: v is not None and rx.match(v)
        return lambda v: v is None or not rx.match(v)
    if op in {"=", "==", "==="}:
        return lambda v: v is not None and v == value
    if op in {"#", "!=", "!=="}:
        return lambda v: v is None or v != value
    if op == "<":
        return lambda v: v is not None and v < value
    if op == "<=":
        return lambda v: v is not None and v <= value
    if op == ">":
        return lambda v: v is not None and v > value
    if op == ">=":
        return lambda v: v is not None and v >= value
    if op == "begin":
        return lambda v: v is not None and v.startswith(value)
    # % keyword: a whole word of the text (4D keyword index semantics).
    if "@" in value:
        kw = _wildcard(value)
        return lambda v: v is not None and any(kw.match(w) for w in re.split(r"\W+", v))
    return lambda v: v is not None and value in re.split(r"\W+", v)


def compile_filter(table: Table, text: str, params: list[Any], *, quirks: bool) -> Predicate:
    """Parse and type-check ``text`` against ``table``; raise FourDError on any problem."""
    tree = parse_filter(text, table.name)
    compiler = _Compiler(table, text, params, quirks)
    build = compiler.node(tree)
    return Predicate(tuple(dict.fromkeys(compiler.columns)), build)
