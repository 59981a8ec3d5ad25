"""Hypothesis cross-check: the emulator and the memory adapter agree on every built filter.

Random filter objects from :mod:`legacy_core.query` over real attributes of seeded tables
are rendered (``$filter`` + ``$params``) and sent to the emulator; the in-memory adapter
evaluates the same object over the same rows. Both must accept or refuse it alike, and
select exactly the same keys in the same order (ADR 0004).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_core.errors import InvalidQuery
from legacy_core.model import Query
from legacy_core.query import Filter, field, render

pytestmark = pytest.mark.integration

ENV = "live"
TABLES = ("Artikel_Variante", "Kunden", "Belege")
STRING_TYPES = {"string", "uuid"}
NUMBER_TYPES = {"long", "long64", "word", "byte", "number", "duration"}


class World:
    """One emulator, the same rows loaded into a MemoryBackend, and the catalogs."""

    def __init__(self, server: EmulatorServer) -> None:
        self.base = f"{server.base_url}/rest"
        self.http = requests.Session()
        self.backend = MemoryBackend()
        self.types: dict[str, dict[str, str]] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        for table in TABLES:
            answer = self.http.get(f"{self.base}/$catalog/{table}", timeout=10).json()
            catalog = answer["dataClasses"][0]
            # Relations arrive as {"__deferred": ...} objects: to the adapter they are objects.
            types = {
                a["name"]: a["type"] if a["kind"] == "storage" else "object"
                for a in catalog["attributes"]
            }
            rows = self.http.get(
                f"{self.base}/{table}", params={"$top": 100000}, timeout=30
            ).json()["__ENTITIES"]
            self.types[table] = types
            self.rows[table] = rows
            self.backend.add_table(ENV, MemoryTable(table, types, rows))

    def emulator_keys(self, table: str, node: Filter) -> tuple[int, list[str]]:
        rendered = render(node)
        params: dict[str, Any] = {
            "$filter": rendered.text,
            "$top": 100000,
            "$attributes": "__STAMP",
        }
        if rendered.params_json() is not None:
            params["$params"] = rendered.params_json()
        r = self.http.get(f"{self.base}/{table}", params=params, timeout=30)
        if r.status_code != 200:
            return r.status_code, []
        return 200, [e["__KEY"] for e in r.json()["__ENTITIES"]]

    def memory_keys(self, table: str, node: Filter) -> list[str] | None:
        try:
            page = self.backend.read_page(Query(ENV, table, filter=node, top=100000))
        except InvalidQuery:
            return None
        return [str(r["__KEY"]) for r in page.records]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """A private emulator (rows=400) and the memory adapter loaded with its rows."""
    with serve(EmulatorConfig(rows=400, seed=11)) as server:
        w = World(server)
        yield w
        w.http.close()


SAFE_TEXT = st.text(
    alphabet=st.sampled_from(list("abcxyzABCÄÖÜäöüßEngel -_.,()&|#=<>:[]0123456789")), max_size=12
)
NASTY_TEXT = st.text(alphabet=st.sampled_from(list("ab'\"\\\n\t@ éÉ")), min_size=1, max_size=6)


def _date_of(wire: Any) -> dt.date | None:
    if not isinstance(wire, str) or wire == "0!0!0":
        return None
    d, m, y = (int(x) for x in wire.split("!"))
    return dt.date(y, m, d)


@st.composite
def comparisons(draw: st.DrawFn, world: World, table: str) -> Filter:
    types = world.types[table]
    name = draw(st.sampled_from(sorted(types)))
    if name.startswith("__"):
        name = "Bezeichnung" if table == "Artikel_Variante" else "UID"
    kind = types[name]
    f = field(name)
    column = [r.get(name) for r in world.rows[table]]
    present = [v for v in column if v is not None]
    if draw(st.integers(0, 9)) == 0 or kind == "object":
        return f.is_null() if draw(st.booleans()) else f.not_null()
    if kind in STRING_TYPES:
        sample = st.sampled_from(present) if present else SAFE_TEXT
        value = draw(
            st.one_of(
                sample,
                sample.map(str.upper),
                sample.map(str.lower),
                SAFE_TEXT,
                NASTY_TEXT,
            )
        )
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "begins", "like", "in"]))
        if op == "begins":
            return f.begins(value[: draw(st.integers(0, max(len(value), 1)))])
        if op == "like":
            pattern = draw(
                SAFE_TEXT.map(lambda t: t.replace("a", "@")) | sample.map(lambda t: t[:3] + "@")
            )
            return f.like(pattern)
        if op == "in":
            return f.in_(draw(st.lists(st.one_of(sample, SAFE_TEXT), min_size=1, max_size=4)))
        return _compare(f, op, value)
    if kind in NUMBER_TYPES:
        sample = st.sampled_from(present) if present else st.integers()
        number = st.one_of(
            sample,
            st.integers(-10, 1_000_000),
            st.floats(allow_nan=False, allow_infinity=False, min_value=-1e7, max_value=1e7),
            sample.map(str),
        )
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in"]))
        if op == "in":
            return f.in_(draw(st.lists(number, min_size=1, max_size=4)))
        return _compare(f, op, draw(number))
    if kind == "date":
        dates = [d for d in map(_date_of, present) if d is not None]
        day = st.one_of(
            st.sampled_from(dates) if dates else st.nothing(),
            st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)),
        )
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in"]))
        if op == "in":
            return f.in_(draw(st.lists(day, min_size=1, max_size=3)))
        return _compare(f, op, draw(day))
    if kind == "bool":
        return _compare(f, draw(st.sampled_from(["==", "!="])), draw(st.booleans()))
    return f.is_null()


def _compare(f: Any, op: str, value: Any) -> Filter:
    result: Filter = {
        "==": lambda: f == value,
        "!=": lambda: f != value,
        "<": lambda: f < value,
        "<=": lambda: f <= value,
        ">": lambda: f > value,
        ">=": lambda: f >= value,
    }[op]()
    return result


def filters(world: World, table: str) -> st.SearchStrategy[Filter]:
    return st.recursive(
        comparisons(world, table),
        lambda children: st.one_of(
            st.tuples(children, children).map(lambda p: p[0] & p[1]),
            st.tuples(children, children).map(lambda p: p[0] | p[1]),
            children.map(lambda c: ~c),
        ),
        max_leaves=5,
    )


@st.composite
def table_and_filter(draw: st.DrawFn, world: World) -> tuple[str, Filter]:
    table = draw(st.sampled_from(TABLES))
    return table, draw(filters(world, table))


class TestFilterCrossCheck:
    def test_emulator_and_memory_adapter_agree(self, world: World) -> None:
        """Every rendered filter is accepted or refused by both alike and selects the same keys."""

        @settings(
            max_examples=int(os.environ.get("EMULATOR_CROSSCHECK_EXAMPLES", "200")),
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(case=table_and_filter(world))
        def check(case: tuple[str, Filter]) -> None:
            table, node = case
            try:
                rendered = render(node)
            except InvalidQuery:
                return  # the builder refused it before any I/O: nothing to compare
            expected = world.memory_keys(table, node)
            status, got = world.emulator_keys(table, node)
            context = f"{table}: $filter={rendered.text!r} $params={rendered.params_json()!r}"
            if expected is None:
                assert 500 == status, context
            else:
                assert 200 == status, context
                assert expected == got, context

        check()

    def test_generated_filters_select_something(self, world: World) -> None:
        """The strategies reach real rows: a sampled equality finds its row in both."""
        row = world.rows["Kunden"][7]
        node = (field("Name") == row["Name"]) & (field("Kundennr") == row["Kundennr"])
        assert [row["__KEY"]] == world.memory_keys("Kunden", node)
        assert (200, [row["__KEY"]]) == world.emulator_keys("Kunden", node)
