"""client.table(...): typed rows, chained queries, checked writes and expand=, on two backends.

The behaviours run against the emulator over HTTP (the 4D adapter's real path) and
against the memory fake (``setup``); the fallback for servers that ignore ``$expand`` runs
on the memory fake, where requests can be counted per kind, and 1->N relations on the
emulator, whose catalog names inverse relations and foreign keys. The expectations are
computed from plain reads of the same backend (a manual join, ``iter_records``), never
written down from the code under test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

import legacy_api
from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_core import tables
from legacy_core.errors import (
    ConfigurationError,
    InvalidQuery,
    InvalidRow,
    RecordNotFound,
    StampConflict,
    UnknownField,
)
from legacy_core.model import Query
from legacy_core.query import field
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

pytestmark = pytest.mark.integration

VARIANTS = "Artikel_Variante"
FAMILIES = "Artikel_Familie"


@attrs.define
class Counting:
    """A proxy over a backend that counts every call of its methods (the memory fake's requests)."""

    inner: Any
    calls: Counter[str] = attrs.field(factory=Counter)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return value(*args, **kwargs)

        return counted


@attrs.define
class IgnoresExpand(Counting):
    """A backend like a server that ignores ``$expand``: relations always come back as keys."""

    def read_page(self, query: Query) -> Any:
        self.calls["read_page"] += 1
        return self.inner.read_page(attrs.evolve(query, expand=()))

    def open_snapshot(self, query: Query, timeout: float) -> Any:
        self.calls["open_snapshot"] += 1
        return self.inner.open_snapshot(attrs.evolve(query, expand=()), timeout)


@attrs.define
class Setup:
    """A client and how many requests its backend has answered so far."""

    client: LegacyClient
    requests: Callable[[], int]
    name: str


def _memory_backend() -> MemoryBackend:
    backend = MemoryBackend()
    families = [
        {"UID": f"F{i:03d}", "Nummer": 100 + i, "Bezeichnung": f"Familie {i}"} for i in range(7)
    ]
    variants = [
        {
            "UID": f"V{i:03d}",
            "Familie_": f"F{i % 7:03d}" if i % 11 else None,
            "Nummer": 1000 + i,
            "Bezeichnung": f"Variante {i}",
            "Release_Date": f"{1 + i % 28}!{1 + i % 12}!2024",
        }
        for i in range(60)
    ]
    backend.add_table(
        "live",
        MemoryTable(
            FAMILIES, {"UID": "string", "Nummer": "long", "Bezeichnung": "string"}, families, "UID"
        ),
    )
    backend.add_table(
        "live",
        MemoryTable(
            VARIANTS,
            {
                "UID": "string",
                "Familie_": "string",
                "Nummer": "long",
                "Bezeichnung": "string",
                "Release_Date": "date",
            },
            variants,
            "UID",
            relations={"ArtikelFamilie": (FAMILIES, "Familie_")},
        ),
    )
    return backend


def _fast(**overrides: Any) -> dict[str, Any]:
    overrides.setdefault("retry", RetryPolicy(attempts=4, base=0.001, cap=0.005))
    overrides.setdefault("breakers", lambda name: CircuitBreaker(name=name, failure_threshold=1000))
    return overrides


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module (reset before each test that uses it)."""
    with serve(EmulatorConfig(rows=200)) as srv:
        yield srv


def _emulator_setup(server: EmulatorServer) -> Setup:
    server.reset()
    cfg = {"environments": {"live": server.base_url}, "session_store": "memory", "page_size": 40}
    client = legacy_api.build_client(cfg, **_fast())
    return Setup(client, lambda: int(server.stats()["requests_total"]), "emulator")


def _memory_setup(backend: Any) -> Setup:
    counting = backend if isinstance(backend, Counting) else Counting(backend)
    client = LegacyClient(counting, counting, ("live",), page_size=40, **_fast())
    # A schema lookup is no request (a real reader caches it); every other call is one.
    return Setup(
        client,
        lambda: sum(n for name, n in counting.calls.items() if name != "describe"),
        "memory",
    )


@pytest.fixture(params=["emulator", "memory"])
def setup(request: pytest.FixtureRequest) -> Setup:
    """The client over the emulator (HTTP) or over the memory fake."""
    if request.param == "emulator":
        return _emulator_setup(request.getfixturevalue("server"))
    return _memory_setup(_memory_backend())


def _manual_join(client: LegacyClient, limit: int) -> list[tuple[str, dict[str, Any] | None]]:
    """(variant key, its family row) from two plain reads joined on ``Familie_``."""
    families = {r["__KEY"]: dict(r) for r in client.iter_records(FAMILIES)}
    return [
        (v["__KEY"], families.get(v["Familie_"]) if v["Familie_"] else None)
        for v in client.iter_records(VARIANTS, limit=limit, order_by="Nummer")
    ]


def _strip(row: dict[str, Any] | None) -> dict[str, Any] | None:
    # Storage fields only: a related row's own relations are deferred either way.
    if row is None:
        return None
    return {k: v for k, v in row.items() if not isinstance(v, dict)}


def _pydantic() -> Any:
    return pytest.importorskip("pydantic")


class TestQueries:
    """Table.where/order_by/fields/limit and the terminal verbs."""

    def test_chained_query_equals_iter_records(self, setup: Setup) -> None:
        """where().order_by().fields().limit() reads what the same iter_records call reads."""
        client = setup.client
        cond = field("Nummer") >= 0
        expected = list(
            client.iter_records(
                VARIANTS, where=cond, order_by="Nummer desc", fields=["Nummer"], limit=7
            )
        )
        query = client.table(VARIANTS).where(cond).order_by("-Nummer").fields("Nummer").limit(7)
        assert expected == list(query.iter())
        assert expected == list(query)  # a query is iterable itself

    def test_where_ands_conditions(self, setup: Setup) -> None:
        """Two where() steps, one with keywords, select the rows matching both."""
        client = setup.client
        some = next(iter(client.iter_records(VARIANTS, limit=1, order_by="Nummer")))
        rows = list(
            client.table(VARIANTS)
            .where(field("Nummer") >= some["Nummer"])
            .where(Nummer=some["Nummer"])
            .iter()
        )
        assert [some["__KEY"]] == [r["__KEY"] for r in rows]

    def test_first_and_count(self, setup: Setup) -> None:
        """first() is the first row of the order; count() equals client.count."""
        client = setup.client
        table = client.table(VARIANTS)
        first = table.query().order_by("Nummer").first()
        expected = next(iter(client.iter_records(VARIANTS, order_by="Nummer", limit=1)))
        assert first is not None
        assert expected["__KEY"] == first["__KEY"]
        cond = field("Nummer") > expected["Nummer"]
        assert client.count(VARIANTS, cond) == table.where(cond).count() == table.count(cond)
        assert table.where(field("Nummer") < -1).first() is None

    def test_frame(self, setup: Setup) -> None:
        """frame() without expand is fetch_frame's frame."""
        client = setup.client
        expected = client.fetch_frame(VARIANTS, fields=["Nummer", "Bezeichnung"], limit=9)
        got = client.table(VARIANTS).query().fields("Nummer", "Bezeichnung").limit(9).frame()
        assert expected.equals(got)

    def test_unknown_field_is_refused(self, setup: Setup) -> None:
        """A misspelt field in where() is UnknownField with a hint, before any page is read."""
        table = setup.client.table(VARIANTS)
        table.schema()
        before = setup.requests()
        with pytest.raises(UnknownField, match="did you mean 'Bezeichnung'"):
            list(table.where(Bezeichung="x").iter())
        assert before == setup.requests()


class TestExpand:
    """expand=: the related rows in one call, equal to a manual join."""

    def test_n_to_one_equals_manual_join(self, setup: Setup) -> None:
        """Each variant's expanded family is the family row a manual join finds."""
        client = setup.client
        expected = _manual_join(client, 30)
        rows = list(
            client.table(VARIANTS).iter(expand=["ArtikelFamilie"], limit=30, order_by="Nummer")
        )
        assert [k for k, _f in expected] == [r["__KEY"] for r in rows]
        assert [_strip(f) for _k, f in expected] == [_strip(r["ArtikelFamilie"]) for r in rows]

    def test_expand_is_inlined_in_one_request_per_page(self, setup: Setup) -> None:
        """Inlined by the backend ($expand): no request to the family table at all."""
        client = setup.client
        table = client.table(VARIANTS)
        table.schema()
        client.describe(FAMILIES)  # the schemas first: only the reads are counted
        before = setup.requests()
        list(client.iter_records(VARIANTS, limit=30))
        plain = setup.requests() - before
        before = setup.requests()
        rows = list(table.iter(expand="ArtikelFamilie", limit=30))
        # the same requests as the read without expand: nothing for the families
        assert plain == setup.requests() - before
        assert 20 < sum(isinstance(r["ArtikelFamilie"], dict) for r in rows)

    def test_frame_flattens_the_relation(self, setup: Setup) -> None:
        """frame(expand=) has the family's fields as ``ArtikelFamilie.<field>`` columns."""
        client = setup.client
        expected = _manual_join(client, 12)
        frame = client.table(VARIANTS).frame(expand="ArtikelFamilie", limit=12, order_by="Nummer")
        got = frame["ArtikelFamilie.Bezeichnung"].tolist()
        want = [f["Bezeichnung"] if f else None for _k, f in expected]
        assert [w for w in want if w] == [g for g in got if isinstance(g, str)]
        assert list(frame["__KEY"]) == [k for k, _f in expected]

    def test_projection_keeps_the_expanded_relation(self, setup: Setup) -> None:
        """fields("Nummer").expand("ArtikelFamilie") reads the family too, and only Nummer else."""
        client = setup.client
        expected = _manual_join(client, 8)
        query = client.table(VARIANTS).query().order_by("Nummer").limit(8)
        rows = list(query.fields("Nummer").expand("ArtikelFamilie"))
        assert [_strip(f) for _k, f in expected] == [_strip(r["ArtikelFamilie"]) for r in rows]
        assert {"__KEY", "__STAMP", "__TIMESTAMP", "Nummer", "ArtikelFamilie"} == set(rows[0])

    def test_get_with_expand(self, setup: Setup) -> None:
        """get(key, expand=) carries the family, as the manual join does."""
        client = setup.client
        key, family = next((k, f) for k, f in _manual_join(client, 20) if f is not None)
        row = client.table(VARIANTS).get(key, expand="ArtikelFamilie")
        assert _strip(family) == _strip(row["ArtikelFamilie"])

    def test_unknown_relation(self, setup: Setup) -> None:
        """A misspelt relation is UnknownField with a hint; a field cannot be expanded."""
        table = setup.client.table(VARIANTS)
        with pytest.raises(UnknownField, match="did you mean 'ArtikelFamilie'"):
            list(table.iter(expand="ArtikelFamile"))
        with pytest.raises(InvalidQuery, match="it is a field, not a relation"):
            list(table.iter(expand="Nummer"))


class TestLookups:
    """The fallback for a server that ignores $expand, counted on the memory fake."""

    def test_fallback_when_expand_is_ignored(self) -> None:
        """A backend ignoring $expand gets the families by batched __KEY lookups, same result."""
        ignoring = IgnoresExpand(_memory_backend())
        fallback = _memory_setup(ignoring)
        expected = _manual_join(fallback.client, 50)
        ignoring.calls.clear()
        rows = list(
            fallback.client.table(VARIANTS).iter(
                expand="ArtikelFamilie", limit=50, order_by="Nummer"
            )
        )
        assert [_strip(f) for _k, f in expected] == [_strip(r["ArtikelFamilie"]) for r in rows]
        # 50 rows in pages of 40: a snapshot and one more page, each page followed by one
        # lookup of its distinct family keys (at most 7, under LOOKUP_BATCH)
        assert (1, 1 + 2) == (ignoring.calls["open_snapshot"], ignoring.calls["read_page"])

    def test_lookups_are_batched(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With 3 keys per lookup, 7 distinct families of one page take 3 lookup reads."""
        monkeypatch.setattr(tables, "LOOKUP_BATCH", 3)
        ignoring = IgnoresExpand(_memory_backend())
        fallback = _memory_setup(ignoring)
        fallback.client.describe(VARIANTS)
        fallback.client.describe(FAMILIES)
        ignoring.calls.clear()
        rows = list(fallback.client.table(VARIANTS).iter(expand="ArtikelFamilie", limit=30))
        families = {r["ArtikelFamilie"]["__KEY"] for r in rows if r["ArtikelFamilie"]}
        assert 7 == len(families)
        # 30 rows fit one page of 40: one plain read, no snapshot; lookups: ceil(7 / 3) = 3
        assert (0, 1 + 3) == (ignoring.calls["open_snapshot"], ignoring.calls["read_page"])

    def test_numeric_keys(self) -> None:
        """Families keyed by a long are looked up by that field, keys sent as numbers."""
        backend = MemoryBackend()
        fams = [{"Nr": n, "Name": f"F{n}"} for n in (5, 17000)]
        items = [{"Id": i, "FamNr": (5, 17000, None)[i % 3]} for i in range(9)]
        backend.add_table("live", MemoryTable("Fam", {"Nr": "long", "Name": "string"}, fams, "Nr"))
        backend.add_table(
            "live",
            MemoryTable(
                "Item",
                {"Id": "long", "FamNr": "long"},
                items,
                "Id",
                relations={"Fam": ("Fam", "FamNr")},
            ),
        )
        ignoring = IgnoresExpand(backend)
        client = _memory_setup(ignoring).client
        rows = list(client.table("Item").iter(expand="Fam", order_by="Id"))
        assert [(5, "F5"), (17000, "F17000"), None] * 3 == [
            (r["Fam"]["Nr"], r["Fam"]["Name"]) if r["Fam"] else None for r in rows
        ]

    def test_dangling_link_is_none(self) -> None:
        """A variant whose family does not exist gets None, not an error."""
        backend = _memory_backend()
        client = _memory_setup(IgnoresExpand(backend)).client
        key = next(iter(client.iter_records(VARIANTS, limit=1)))["__KEY"]
        client.push_field(VARIANTS, key, "Familie_", "F999")
        assert client.table(VARIANTS).get(key, expand="ArtikelFamilie")["ArtikelFamilie"] is None


class TestOneToMany:
    """A 1->N relation (the family's variants) through inverseName and foreignKey."""

    def test_families_with_their_variants(self, server: EmulatorServer) -> None:
        """Each family's expanded Varianten are the variants whose Familie_ is its key."""
        client = _emulator_setup(server).client
        by_family: dict[str, set[str]] = {}
        for v in client.iter_records(VARIANTS, fields=["Familie_"]):
            if v["Familie_"]:
                by_family.setdefault(v["Familie_"], set()).add(v["__KEY"])
        rows = list(client.table(FAMILIES).iter(expand="Varianten", limit=15))
        assert 15 == len(rows)
        for family in rows:
            assert by_family.get(family["__KEY"], set()) == {
                v["__KEY"] for v in family["Varianten"]
            }

    def test_projection_without_the_key(self, server: EmulatorServer) -> None:
        """With fields("Nummer") (no UID) the variants are found through __KEY all the same."""
        client = _emulator_setup(server).client
        full = list(client.table(FAMILIES).iter(expand="Varianten", limit=5, order_by="Nummer"))
        query = client.table(FAMILIES).query().fields("Nummer").expand("Varianten")
        narrow = list(query.order_by("Nummer").limit(5))
        assert [{v["__KEY"] for v in f["Varianten"]} for f in full] == [
            {v["__KEY"] for v in f["Varianten"]} for f in narrow
        ]
        assert any(f["Varianten"] for f in narrow)
        assert "UID" not in narrow[0]

    def test_v17_catalog_cannot_follow_one_to_many(self) -> None:
        """A v17 catalog names no inverse foreign key: InvalidQuery, not a guess; N->1 works."""
        with serve(EmulatorConfig(rows=100, fourd_version=17)) as old:
            client = _emulator_setup(old).client
            with pytest.raises(InvalidQuery, match="names no foreign key"):
                list(client.table(FAMILIES).iter(expand="Varianten", limit=3))
            rows = list(client.table(VARIANTS).iter(expand="ArtikelFamilie", limit=10))
            assert all(isinstance(r["ArtikelFamilie"], dict) for r in rows)


class TestWrites:
    """create/update/delete through the table, and the type checks before any request."""

    def test_round_trip(self, setup: Setup) -> None:
        """create, get, update with the stamp, a stale stamp, delete, then RecordNotFound."""
        table = setup.client.table(VARIANTS)
        created = table.create({"Nummer": 990001, "Bezeichnung": "Neu"})
        assert (990001, "Neu") == (
            table.get(created.key)["Nummer"],
            table.get(created.key)["Bezeichnung"],
        )
        updated = table.update(created.key, {"Bezeichnung": "Neuer"}, expected_stamp=created.stamp)
        assert "Neuer" == table.get(created.key)["Bezeichnung"]
        with pytest.raises(StampConflict):
            table.update(created.key, {"Bezeichnung": "Alt"}, expected_stamp=created.stamp)
        table.delete(created.key, expected_stamp=updated.stamp)
        with pytest.raises(RecordNotFound):
            table.get(created.key)

    def test_wrong_type_fails_before_any_request(self, setup: Setup) -> None:
        """A str for a long is InvalidRow naming environment, table, key and field; nothing sent."""
        table = setup.client.table(VARIANTS)
        key = next(iter(setup.client.iter_records(VARIANTS, limit=1)))["__KEY"]
        table.schema()
        before = setup.requests()
        with pytest.raises(InvalidRow) as info:
            table.update(key, {"Bezeichnung": "ok", "Nummer": "zwölf"})
        with pytest.raises(InvalidRow, match=r"new Artikel_Variante\.Release_Date"):
            table.create({"Release_Date": "morgen"})
        assert before == setup.requests()
        err = info.value
        assert ("live", VARIANTS, key, "Nummer") == (
            err.ctx.environment,
            err.ctx.table,
            err.key,
            err.field,
        )
        assert f"live: {VARIANTS}[{key}].Nummer" in str(err)
        assert err.not_applied

    def test_relation_cannot_be_written(self, setup: Setup) -> None:
        """Writing a relation is refused and names the foreign key to write instead."""
        table = setup.client.table(VARIANTS)
        with pytest.raises(InvalidRow, match="write its foreign key 'Familie_'"):
            table.create({"ArtikelFamilie": "F001"})

    def test_typos_in_writes(self, setup: Setup) -> None:
        """A misspelt field of an update is UnknownField with did-you-mean."""
        table = setup.client.table(VARIANTS)
        with pytest.raises(UnknownField, match="did you mean 'Bezeichnung'"):
            table.create({"Bezeichung": "x"})


class TestModels:
    """Row models: generated from the schema or written by the user (pydantic 2)."""

    def test_auto_model_rows(self, setup: Setup) -> None:
        """model='auto' gives model instances with typed values equal to the dict rows."""
        _pydantic()
        client = setup.client
        plain = list(client.table(VARIANTS).iter(limit=5, order_by="Nummer"))
        typed = list(client.table(VARIANTS, model="auto").iter(limit=5, order_by="Nummer"))
        assert [r["__KEY"] for r in plain] == [m.key for m in typed]
        assert [r["Nummer"] for r in plain] == [m.Nummer for m in typed]
        assert all(isinstance(m.Release_Date, (dt.date, type(None))) for m in typed)
        assert type(typed[0]).__name__ == f"{VARIANTS}Row"

    def test_model_validates_writes(self, setup: Setup) -> None:
        """A value the model refuses fails before any request, naming the 4D field."""
        _pydantic()
        client = setup.client
        table = client.table(VARIANTS, model="auto")
        key = next(iter(client.iter_records(VARIANTS, limit=1)))["__KEY"]
        table.schema()
        before = setup.requests()
        with pytest.raises(InvalidRow) as info:
            table.update(key, {"Nummer": "12"})  # strict: no text for a long
        assert ("Nummer", key) == (info.value.field, info.value.key)
        assert before == setup.requests()

    def test_model_instance_create(self, setup: Setup) -> None:
        """A model instance is created with the fields that were set, and reads back equal."""
        _pydantic()
        table = setup.client.table(VARIANTS, model="auto")
        row_model = table.row_model()
        created = table.create(row_model(Nummer=990777, Bezeichnung="Modell"))
        back = table.get(created.key)
        assert (990777, "Modell") == (back.Nummer, back.Bezeichnung)

    def test_user_model_on_read(self, setup: Setup) -> None:
        """A user model whose rule a row breaks raises InvalidRow naming table, key and field."""
        pydantic = _pydantic()

        class Variant(pydantic.BaseModel):
            key: str = pydantic.Field(alias="__KEY")
            Nummer: int = pydantic.Field(lt=0)  # every real Nummer breaks it

        first = next(iter(setup.client.iter_records(VARIANTS, limit=1, order_by="Nummer")))
        with pytest.raises(InvalidRow) as info:
            setup.client.table(VARIANTS, model=Variant).query().order_by("Nummer").first()
        err = info.value
        assert (VARIANTS, first["__KEY"], "Nummer") == (err.ctx.table, err.key, err.field)
        assert not err.not_applied

    def test_user_model_with_nested_family(self, setup: Setup) -> None:
        """A user model can type the expanded relation as another model."""
        pydantic = _pydantic()

        class Family(pydantic.BaseModel):
            Bezeichnung: str

        class Variant(pydantic.BaseModel):
            Nummer: int
            ArtikelFamilie: Family | None = None

        expected = _manual_join(setup.client, 10)
        rows = list(
            setup.client.table(VARIANTS, model=Variant).iter(
                expand="ArtikelFamilie", limit=10, order_by="Nummer"
            )
        )
        assert [f["Bezeichnung"] if f else None for _k, f in expected] == [
            r.ArtikelFamilie.Bezeichnung if r.ArtikelFamilie else None for r in rows
        ]

    def test_not_a_model(self, setup: Setup) -> None:
        """model= must be None, 'auto' or a BaseModel subclass."""
        _pydantic()
        with pytest.raises(ConfigurationError, match="must be None, 'auto' or a pydantic"):
            setup.client.table(VARIANTS, model=dict)


class TestWithoutPydantic:
    """Dict rows need no pydantic; models say how to get it."""

    def test_dict_rows_and_model_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With pydantic unimportable, dict rows work and model='auto' names the extra."""
        monkeypatch.setitem(sys.modules, "pydantic", None)  # import pydantic -> ImportError
        client = _memory_setup(_memory_backend()).client
        assert 3 == len(list(client.table(VARIANTS).iter(limit=3)))
        with pytest.raises(ConfigurationError, match=r"legacy-api\[typed\]"):
            client.table(VARIANTS, model="auto")


class TestAsyncTable:
    """async_client.table(...): the same verbs awaited, over the emulator."""

    def test_async_equals_sync(self, server: EmulatorServer) -> None:
        """iter/first/count/get with expand give what the sync table gives."""
        sync = _emulator_setup(server).client
        expected = list(
            sync.table(VARIANTS).iter(expand="ArtikelFamilie", limit=25, order_by="Nummer")
        )
        cfg = {
            "environments": {"live": server.base_url},
            "session_store": "memory",
            "page_size": 10,
        }

        async def main() -> dict[str, Any]:
            async with legacy_api.build_async_client(cfg, **_fast()) as client:
                table = client.table(VARIANTS)
                query = table.query().order_by("Nummer").limit(25).expand("ArtikelFamilie")
                rows = [r async for r in query]
                return {
                    "rows": rows,
                    "first": await query.first(),
                    "count": await table.where(field("Nummer") > 0).count(),
                    "get": await table.get(expected[3]["__KEY"], expand="ArtikelFamilie"),
                    "frame": await table.frame(limit=5, expand="ArtikelFamilie", order_by="Nummer"),
                }

        got = asyncio.run(main())
        assert expected == got["rows"]
        assert expected[0] == got["first"]
        assert sync.count(VARIANTS, field("Nummer") > 0) == got["count"]
        assert sync.table(VARIANTS).get(expected[3]["__KEY"], expand="ArtikelFamilie") == got["get"]
        assert [r["__KEY"] for r in expected[:5]] == list(got["frame"]["__KEY"])

    def test_async_writes_are_checked(self, server: EmulatorServer) -> None:
        """A wrong type is refused before any request; a good create/update/delete round-trips."""
        setup = _emulator_setup(server)
        cfg = {"environments": {"live": server.base_url}, "session_store": "memory"}

        async def main() -> tuple[int, str, bool]:
            async with legacy_api.build_async_client(cfg, **_fast()) as client:
                table = client.table(VARIANTS)
                await table.schema()
                before = setup.requests()
                with pytest.raises(InvalidRow, match="Nummer"):
                    await table.create({"Nummer": "x"})
                refused = setup.requests() - before
                created = await table.create({"Nummer": 990555, "Bezeichnung": "A"})
                await table.update(created.key, {"Bezeichnung": "B"}, expected_stamp=created.stamp)
                name = (await table.get(created.key))["Bezeichnung"]
                await table.delete(created.key)
                with pytest.raises(RecordNotFound):
                    await table.get(created.key)
                return refused, name, True

        assert (0, "B", True) == asyncio.run(main())
