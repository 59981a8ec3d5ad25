"""Hypothesis strategies for odd caller input: names, values, arguments and wire bodies."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
RESERVED = {"and", "or", "except", "not", "in", "null", "true", "false", "begin"}

# Characters that have broken something before: lone surrogates, Unicode digits that
# str.isdigit() accepts, newlines ($ matches before one), quotes, wildcards, C1 controls.
ODD_CHARS = ["\ud800", "\udfff", "²", "٣", "\n", "\r", '"', "'", "\\", "@", "\x00", "\x85", "€"]
odd_text = st.lists(st.one_of(st.characters(), st.sampled_from(ODD_CHARS)), max_size=12).map(
    "".join
)

valid_names = st.from_regex(IDENT, fullmatch=True).filter(lambda s: s.casefold() not in RESERVED)


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], tenths: int = 7) -> Any:
    """``common`` in ``tenths`` of ten draws, else ``rare`` (one_of would dedupe repeats)."""
    return st.integers(0, 9).flatmap(lambda i: common if i < tenths else rare)


names = st.one_of(
    valid_names,
    valid_names.map(lambda s: s + "\n"),
    valid_names.map(lambda s: " " + s),
    st.sampled_from([*sorted(RESERVED), "Nummer\n", "__KEY", "a.b", "1abc", "", "Nü"]),
    odd_text,
)
any_names = mostly(names, st.one_of(st.integers(), st.none(), st.binary(max_size=4)))


class Big(int):
    """An int whose repr is short, so hypothesis can print a 5,000-digit failing example.

    Only ``repr`` differs: ``str()``, ``int()`` and formatting fail like a plain int's.
    """

    def __repr__(self) -> str:
        return f"Big({'-' if self < 0 else ''}~{self.bit_length()} bits)"


BIG_INTS = [
    Big(v) for v in (10**5000, -(10**4301), 2**63, -(2**63) - 1, 2**64, 2**63 - 1, -(2**63))
]
ints = st.one_of(st.integers(), st.sampled_from(BIG_INTS))
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    odd_text,
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(dt.UTC))),
    st.decimals(allow_nan=True, allow_infinity=True),
)
weird = st.one_of(
    st.binary(max_size=6),
    st.just(object()),
    st.frozensets(st.integers(), max_size=2),
    st.complex_numbers(max_magnitude=10),
    st.times(),
    st.timedeltas(),
)
values = mostly(scalars, weird)
nested = st.recursive(
    st.one_of(scalars, st.binary(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(odd_text, st.integers()), inner, max_size=3),
    ),
    max_leaves=8,
)
odd_counts = st.one_of(
    st.none(),
    ints,
    st.booleans(),
    st.floats(allow_nan=True),
    st.sampled_from(
        ["100", " 7 ", "²", "٣", "-1", "1e3", "all", "", "1" * 5000, "99999999999999999999"]
    ),
    odd_text,
)
counts = mostly(st.one_of(st.none(), st.integers(0, 10**6)), odd_counts)


def deep(levels: int) -> Any:
    """A list nested ``levels`` deep."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def cyclic() -> Any:
    """A dict that contains itself."""
    value: dict[str, Any] = {}
    value["self"] = value
    return value


write_values = st.one_of(
    values,
    nested,
    st.sampled_from([Decimal("1e400"), Decimal("NaN"), float("nan"), float("-inf")]),
    st.builds(deep, st.integers(150, 400)),
    st.builds(cyclic),
)

# Mostly well-formed input, so that the accepted path (and its oracle) is exercised too.
mostly_valid_names = mostly(valid_names, any_names)
mostly_scalars = mostly(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.dates()), values
)
