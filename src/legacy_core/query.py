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
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeAlias

import attrs

from legacy_core._checks import check_int, check_text, describe
from legacy_core.errors import InvalidQuery
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
