"""Property tests: odd caller input gets InvalidQuery, and what is accepted is sent as meant.

Filters, field names, ``Query`` arguments and write values are generated (lone
surrogates, 5,000-digit integers, NaN, "²", trailing newlines, bytes, cycles…). Only
:class:`~legacy_core.errors.LegacyError` may escape; an accepted filter is decoded and
parsed exactly as the emulator does and must compare what the caller wrote.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from tests.fuzz import _strategies as s
from tests.fuzz._oracle import as_sent, comparisons, meant, nodes, same_value
from tests.fuzz._profile import budget, count

from legacy_adapters.wire import encode_values
from legacy_adapters.wire._requests import query_params, window_params
from legacy_core.errors import InvalidQuery, LegacyError
from legacy_core.model import FieldUpdate, OrderBy, Query
from legacy_core.query import Filter, Raw, field, render, where_filter
from legacy_core.service import _encoded_size


def valid_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(s.IDENT.fullmatch(name))
        and name.casefold() not in s.RESERVED
    )


@budget(2000)
@given(st.dictionaries(s.mostly_valid_names, s.mostly_scalars, min_size=1, max_size=3))
def test_where_dicts(where: dict[Any, Any]) -> None:
    """A where dict is refused with InvalidQuery or reaches the emulator as its equalities."""
    count("where dicts")
    try:
        params = query_params(Query("live", "T", filter=where_filter(where, table="T")))
    except LegacyError:
        event("refused")
        return
    got = comparisons(as_sent(params))
    assert [name for name, *_ in got] == list(where)
    for (name, op, value), (want_name, want_value) in zip(got, where.items(), strict=True):
        assert valid_name(want_name)
        want_op, want_const = meant(want_value)
        assert (name, op) == (want_name, want_op)
        assert same_value(value, want_const), (value, want_const)


@budget(1500)
@given(s.names)
def test_field_names(name: str) -> None:
    """A name is accepted exactly when it is a 4D identifier, and is sent unchanged."""
    count("field names")
    try:
        node = field(name) == 1
    except InvalidQuery:
        event("refused")
        assert not valid_name(name)
        return
    assert valid_name(name)
    assert comparisons(as_sent(query_params(Query("live", name, filter=node)))) == [(name, "=", 1)]


def test_trailing_newline_refused() -> None:
    """``field("Nummer\\n")`` is refused: identifiers match exactly, not up to a newline."""
    for bad in ("Nummer\n", "Kunden\n"):
        with pytest.raises(InvalidQuery, match="invalid attribute"):
            field(bad)
        with pytest.raises(InvalidQuery):
            Query("live", bad)


lists_of_names = st.one_of(
    st.none(),
    st.lists(s.mostly_valid_names, max_size=4),
    st.lists(s.valid_names, max_size=4).map(",".join),
    s.odd_text,
    st.integers(),
    st.binary(max_size=4),
    st.dictionaries(s.valid_names, st.integers(), max_size=2),
)
order_specs = st.one_of(
    lists_of_names,
    st.lists(
        st.tuples(s.names, st.sampled_from(["", " desc", " ASC", " sideways"])).map("".join),
        max_size=3,
    ),
    st.lists(s.valid_names.map(lambda n: "-" + n), max_size=3),
)


@budget(2000)
@given(
    fields=lists_of_names,
    order_by=order_specs,
    top=s.counts,
    skip=s.counts,
    entity_set=st.one_of(st.none(), s.odd_text, st.integers()),
)
def test_query_arguments(fields: Any, order_by: Any, top: Any, skip: Any, entity_set: Any) -> None:
    """Query arguments are refused with InvalidQuery or sent exactly as given."""
    count("query arguments")
    try:
        query = Query(
            "live",
            "T",
            attributes=fields,
            order_by=order_by,
            top=top,
            skip=skip if skip is not None else 0,
            entity_set=entity_set,
        )
        sent = as_sent(query_params(query) + window_params(query))
    except LegacyError:
        event("refused")
        return
    assert all(valid_name(a) for a in query.attributes)
    assert sent.get("$attributes", "") == ",".join(query.attributes)
    if query.order_by:
        assert sent["$orderby"] == ", ".join(
            f"{o.field} {'desc' if o.descending else 'asc'}" for o in query.order_by
        )
    assert sent.get("$top") == (None if top is None else str(top))
    assert sent.get("$skip") == (str(skip) if skip else None)


def test_fields_not_a_list() -> None:
    """``fields=5`` and ``fields=b"x"`` are InvalidQuery, not a TypeError from iterating."""
    for bad in (5, b"Nummer", 1.5, object()):
        with pytest.raises(InvalidQuery, match="fields must be a str or a list"):
            Query("live", "T", attributes=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidQuery, match="order_by must be"):
            Query("live", "T", order_by=bad)  # type: ignore[arg-type]
    assert OrderBy.parse("-Nummer").descending


comparisons_ = st.builds(
    lambda name, op, value: (name, op, value),
    s.mostly_valid_names,
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "begins", "like", "in_", "is_null"]),
    st.one_of(s.mostly_scalars, st.lists(s.mostly_scalars, max_size=3)),
)


def build(spec: tuple[str, str, Any]) -> Filter:
    name, op, value = spec
    f = field(name)
    if op == "begins":
        return f.begins(value)
    if op == "like":
        return f.like(value)
    if op == "in_":
        return f.in_(value)
    if op == "is_null":
        return f.is_null()
    method = {"==": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__"}
    result: Filter = getattr(f, method.get(op, "__ge__"))(value)
    return result


trees = st.recursive(
    comparisons_.map(lambda c: ("cmp", c)),
    lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner),
        st.tuples(st.just("or"), inner, inner),
        st.tuples(st.just("not"), inner),
        st.tuples(st.just("rand"), st.one_of(st.integers(), st.just({"a": 1})), inner),
    ),
    max_leaves=5,
)


def tree(spec: Any) -> Any:
    kind = spec[0]
    if kind == "cmp":
        return build(spec[1])
    if kind == "and":
        return tree(spec[1]) & tree(spec[2])
    if kind == "or":
        return tree(spec[1]) | tree(spec[2])
    if kind == "not":
        return ~tree(spec[1])
    return spec[1] & tree(spec[2])  # an int or dict on the left


@budget(1500)
@given(trees)
def test_filter_trees(spec: Any) -> None:
    """Any built filter is refused with InvalidQuery or is valid syntax for the emulator."""
    count("filter trees")
    try:
        params = query_params(Query("live", "T", filter=tree(spec)))
    except LegacyError:
        event("refused")
        return
    nodes(as_sent(params))  # the emulator's parser raises FourDError on bad syntax


@budget(500)
@given(s.odd_text)
def test_raw_filters(text: str) -> None:
    """Raw text is refused (empty, not Unicode) or reaches the emulator byte for byte."""
    count("raw filters")
    try:
        params = query_params(Query("live", "T", filter=Raw(text)))
    except InvalidQuery:
        event("refused")
        assert not text.strip() or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    assert as_sent(params)["$filter"] == text


def arrived_as_meant(source: Any, wire: Any) -> bool:
    """Every non-null source value arrives non-null and equal (NaN must never become null)."""
    if source is None:
        return wire is None
    if isinstance(source, Mapping):
        return isinstance(wire, dict) and all(
            arrived_as_meant(v, wire.get(k)) for k, v in source.items()
        )
    if isinstance(source, (list, tuple)):
        return isinstance(wire, list) and all(
            arrived_as_meant(a, b) for a, b in zip(source, wire, strict=True)
        )
    if isinstance(source, (bool, str)):
        return bool(wire == source)
    if isinstance(source, (int, float, Decimal)):
        return isinstance(wire, (int, float)) and math.isclose(wire, float(source), rel_tol=1e-15)
    return wire is not None  # dates, times: rendered by the wire converter


@budget(2500)
@given(
    key=st.one_of(s.odd_text, s.valid_names, s.ints),
    name=s.mostly_valid_names,
    value=st.one_of(s.mostly_scalars, s.write_values),
)
def test_write_values(key: Any, name: str, value: Any) -> None:
    """A write value is refused with InvalidQuery before sending, or encodes as it was meant."""
    count("write values")
    try:
        update = FieldUpdate("T", key, {name: value})
        _encoded_size(update)  # the service sizes batches with it before the writer runs
    except LegacyError:
        event("refused")
        return
    assert isinstance(key, str)
    assert valid_name(name)
    body = orjson.loads(orjson.dumps(encode_values(update.values)))
    assert arrived_as_meant(value, body[name]), (value, body)


@pytest.mark.parametrize(
    "value",
    [10**5000, 2**63, float("nan"), float("inf"), "a\ud800b", b"bytes", {"x": [float("nan")]}],
    ids=["5000 digits", "2**63", "nan", "inf", "surrogate", "bytes", "nested nan"],
)
def test_known_bad_values(value: Any) -> None:
    """The values of the issue are InvalidQuery in a filter and in a write (naming the field)."""
    with pytest.raises(InvalidQuery, match="Menge"):
        FieldUpdate("Artikel", "K1", {"Menge": value})
    if not isinstance(value, (bytes, dict)):
        with pytest.raises(InvalidQuery, match="Menge"):
            render(field("Menge") == value)


def test_dates_still_render() -> None:
    """Dates and datetimes keep rendering as before (the checks do not touch them)."""
    day = dt.date(2025, 1, 2)
    assert render(field("d") >= day).text == 'd >= "2025-01-02"'
