"""The emulator answers like the real servers: same keys, nesting and types per 4D version.

For each capture kind the emulator (``--fourd-version`` 17, 18 and 20) gets the equivalent
request; its answer's envelope is compared with the real capture of that version. Entity
attributes differ by design (the emulator seeds pyERP's tables), so records are compared
by their system keys and by the shapes of their values (deferred relations, stamps).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import MemorySessionStore
from legacy_core.errors import RecordNotFound, StampConflict
from legacy_core.model import Environment, FieldUpdate, Query
from legacy_core.sessions import SharedSessionProvider

from .captures_support import load

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


def kind(value: Any) -> Any:
    """The JSON shape of ``value``: nested keys with value types (lists by their first item)."""
    if isinstance(value, dict):
        return {k: kind(v) for k, v in value.items()}
    if isinstance(value, list):
        return [kind(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def envelope(body: dict[str, Any]) -> dict[str, Any]:
    """The envelope of a collection or entity answer: every ``__`` key but the entities."""
    return {k: kind(v) for k, v in body.items() if k.startswith("__") and k != "__ENTITIES"}


def system(record: dict[str, Any]) -> dict[str, Any]:
    """The 4D system keys of one entity with their value shapes."""
    return {k: kind(v) for k, v in record.items() if k.startswith("__")}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, EmulatorServer]]:
    """One emulator per announced 4D version."""
    with (
        serve(EmulatorConfig(rows=40, fourd_version=17)) as v17,
        serve(EmulatorConfig(rows=40, fourd_version=18)) as v18,
        serve(EmulatorConfig(rows=40, fourd_version=20)) as v20,
    ):
        yield {17: v17, 18: v18, 20: v20}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A client session keeping the emulator's cookie."""
    with requests.Session() as s:
        yield s


def rest(servers: dict[int, EmulatorServer], version: int) -> str:
    """The REST root of the emulator of ``version``, back at its seeded state."""
    servers[version].reset()
    return f"{servers[version].base_url}/rest"


VERSIONS = (17, 18, 20)
COLLECTION = {
    17: "collection__ios_v17_events.json",
    18: "collection__docs_v18_company.json",
    20: "collection__qodly_users.json",
}
ENTITY = {
    17: "entity__ios_v17_event12.json",
    18: "entity__docs_v18_employees2_projected.json",
    20: "entity__qodly_users2.json",
}


class TestReads:
    @pytest.mark.parametrize("version", VERSIONS)
    def test_collection_envelope(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """A page has exactly the envelope keys of a real page of that version."""
        body = http.get(f"{rest(servers, version)}/{TABLE}", params={"$top": 3}, timeout=5).json()
        real = load(COLLECTION[version])
        assert envelope(real) == envelope(body)
        for record in body["__ENTITIES"]:
            assert system(real["__ENTITIES"][0]) == system(record)

    @pytest.mark.parametrize("version", VERSIONS)
    def test_entity_envelope(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """One entity has the system keys of a real entity answer of that version."""
        base = rest(servers, version)
        key = http.get(f"{base}/{TABLE}", params={"$top": 1}, timeout=5).json()["__ENTITIES"][0]
        body = http.get(f"{base}/{TABLE}({key['__KEY']})", timeout=5).json()
        assert system(load(ENTITY[version])) == system(body)

    def test_relation_shapes(
        self, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """Deferred N->1 and 1->N relations nest like a real server's."""
        base = rest(servers, 18)
        record = http.get(f"{base}/{TABLE}", params={"$top": 1}, timeout=5).json()["__ENTITIES"][0]
        real = load("collection__ios_v17_invoices.json")["__ENTITIES"][0]
        assert kind(real["Link_4"]) == kind(record["ArtikelFamilie"])
        assert kind(real["Link_5_return"]) == kind(record["Teile"])

    def test_variant_fields_match_pyerps_sample(
        self, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """Artikel_Variante has the real sample's fields, in its order, with its value types."""
        base = rest(servers, 18)
        rows = http.get(f"{base}/{TABLE}", params={"$top": 40}, timeout=5).json()["__ENTITIES"]
        sample = load_sample()
        assert list(sample[0]) == list(rows[0])
        for name in sample[0]:
            real = {_outline(s[name]) for s in sample}
            seeded = {_outline(r[name]) for r in rows}
            # A field the sample has only as null may be null or anything in the emulator.
            if real != {'"null"'}:
                assert seeded - {'"null"'} <= real | {'"null"'}, name


def _outline(value: Any) -> str:
    """``kind`` with every list just "list": five sample rows cannot show every item type."""

    def collapse(shape: Any) -> Any:
        if isinstance(shape, dict):
            return {k: collapse(v) for k, v in shape.items()}
        return "list" if isinstance(shape, list) else shape

    return json.dumps(collapse(kind(value)), sort_keys=True)


def load_sample() -> list[dict[str, Any]]:
    """pyERP's five real Artikel_Variante entities."""
    path = Path(__file__).parents[1] / "recorded" / "fixtures" / "artikel_variante_sample.json"
    entities: list[dict[str, Any]] = json.loads(path.read_text("utf-8"))["__ENTITIES"]
    return entities


class TestEntitySets:
    CREATED: ClassVar[dict[int, str]] = {
        17: "entityset_created__docs_v17_subentityset_employee.json",
        20: "entityset_created__requestlog_v19_table1.json",
    }

    @pytest.mark.parametrize("version", VERSIONS)
    def test_created(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """The answer creating a set names it and has the envelope of that version."""
        base = rest(servers, version)
        body = http.get(
            f"{base}/{TABLE}", params={"$method": "entityset", "$top": 2}, timeout=5
        ).json()
        real = envelope(load(self.CREATED[20 if version == 20 else 17]))
        if version == 18:
            # No v18 capture: v17's envelope plus the __GlobalStamp every v18 page has.
            real = {**real, "__GlobalStamp": "number"}
        assert real == envelope(body)
        assert re.fullmatch(rf"/rest/{TABLE}/\$entityset/[0-9A-F]{{32}}", body["__ENTITYSET"])

    @pytest.mark.parametrize("version", VERSIONS)
    def test_page_of_a_set(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """A later page of a set does not repeat ``__ENTITYSET`` (v20: like the Qodly capture)."""
        base = rest(servers, version)
        root = servers[version].base_url
        uri = http.get(
            f"{base}/{TABLE}", params={"$method": "entityset", "$top": 1}, timeout=5
        ).json()["__ENTITYSET"]
        page = http.get(root + uri, params={"$skip": 1, "$top": 2}, timeout=5).json()
        assert "__ENTITYSET" not in page
        if version == 20:
            real = envelope(load("entityset_page__qodly_people_page.json"))
            assert {**real, "__SENT": "number"} == envelope(page)  # the doc trimmed __SENT

    @pytest.mark.parametrize(
        "name", ["release_reply__docs_ok.json", "release_reply__qodly_ok.json"]
    )
    def test_release(
        self, name: str, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """Releasing a set answers what 4D answers."""
        base = rest(servers, 18)
        uri = http.get(
            f"{base}/{TABLE}", params={"$method": "entityset", "$top": 1}, timeout=5
        ).json()["__ENTITYSET"]
        answer = http.get(servers[18].base_url + uri, params={"$method": "release"}, timeout=5)
        assert load(name) == answer.json()


class TestCatalog:
    LIST: ClassVar[dict[int, str]] = {
        17: "catalog__ios_v17_catalog.json",
        18: "catalog__docs_v18_gettingstarted.json",
    }
    TABLE_CATALOG: ClassVar[dict[int, list[str]]] = {
        17: [
            "catalog_table__ios_v17_event.json",
            "catalog_table__ios_clients.json",
            "catalog_table__ios_v17_cat.json",
        ],
        18: ["catalog_table__android_v18_employee.json", "catalog_all__android_v18_all.json"],
    }

    @pytest.mark.parametrize("version", VERSIONS)
    def test_list(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """``$catalog`` has the keys of a real one (v20 compared with v18: see ADR 0019)."""
        body = http.get(f"{rest(servers, version)}/$catalog", timeout=5).json()
        real = load(self.LIST[min(version, 18)])
        assert set(real) == set(body)
        assert set(real["dataClasses"][0]) == set(body["dataClasses"][0])

    @pytest.mark.parametrize("version", VERSIONS)
    def test_table(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """``$catalog/{Table}``: wrapped, the key naming an attribute, real attribute shapes."""
        body = http.get(f"{rest(servers, version)}/$catalog/{TABLE}", timeout=5).json()
        reals = [load(n) for n in self.TABLE_CATALOG[min(version, 18)]]
        assert set(reals[0]) == set(body)
        (dataclass,) = body["dataClasses"]
        assert set(reals[0]["dataClasses"][0]) == set(dataclass)
        by_kind: dict[str, set[frozenset[str]]] = {}
        for real in reals:
            for dc in real["dataClasses"]:
                for a in dc["attributes"]:
                    by_kind.setdefault(a["kind"], set()).add(frozenset(a) - {"simpleDate"})
        storage_keys = frozenset().union(*by_kind["storage"]) | {"simpleDate"}
        for a in dataclass["attributes"]:
            if a["kind"] == "storage":
                assert set(a) <= storage_keys, a
                assert a.get("indexed", True) is True, a  # "indexed" only when true
            else:
                assert frozenset(a) in by_kind[a["kind"]], a
        (key,) = dataclass["key"]
        named = {a["name"]: a for a in dataclass["attributes"]}
        assert named[key["name"]]["identifying"] is True

    def test_all(self, servers: dict[int, EmulatorServer], http: requests.Session) -> None:
        """``$catalog/$all`` lists every dataclass with a real v18 dataclass's keys."""
        body = http.get(f"{rest(servers, 18)}/$catalog/$all", timeout=5).json()
        real = load("catalog_all__android_v18_all.json")
        assert set(real) == set(body)
        expected = set(real["dataClasses"][0])
        assert all(expected == set(dc) for dc in body["dataClasses"])


class TestInfo:
    @pytest.mark.parametrize("version", VERSIONS)
    def test_without_sets(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """``$info`` without entity sets has the keys of a real v17 server's."""
        base = rest(servers, version)
        http.get(f"{base}/$info", timeout=5)
        body = http.get(f"{base}/$info", timeout=5).json()
        real = load("info__ios_v17_info.json")
        assert kind(real).keys() == kind(body).keys()
        assert kind(real)["sessionInfo"] == kind(body)["sessionInfo"]
        assert kind(real)["ProgressInfo"] == kind(body)["ProgressInfo"]

    def test_with_sets(self, servers: dict[int, EmulatorServer], http: requests.Session) -> None:
        """With a live set, ``entitySet`` lists it like the real answer (``tableName``)."""
        base = rest(servers, 18)
        http.get(f"{base}/{TABLE}", params={"$method": "entityset", "$top": 1}, timeout=5)
        body = http.get(f"{base}/$info", timeout=5).json()
        real = load("info__ios_v17_restinfo_stub.json")
        assert set(real) == set(body)
        assert kind(real)["entitySet"] == kind(body)["entitySet"]


class TestErrors:
    def codes(self, body: dict[str, Any]) -> list[int]:
        return [e["errCode"] for e in body["__ERROR"]]

    def test_unknown_attribute(
        self, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """An unknown attribute answers v20's 1500 + 1804 with real entry keys."""
        r = http.get(f"{rest(servers, 18)}/{TABLE}", params={"$attributes": "Farbe"}, timeout=5)
        real = load("error__qodly_not_exposed_1500_1804.json")
        assert self.codes(real) == self.codes(r.json())
        assert kind(real) == kind(r.json())

    def test_unknown_set(self, servers: dict[int, EmulatorServer], http: requests.Session) -> None:
        """Releasing an unknown set answers 1802 like 4D."""
        r = http.get(
            f"{rest(servers, 18)}/{TABLE}/$entityset/4C51204DD8184B65AC7D79F09A077F24",
            params={"$method": "release"},
            timeout=5,
        )
        real = load("error__docs_release_unknown_set_1802.json")
        assert (self.codes(real), kind(real)) == (self.codes(r.json()), kind(r.json()))

    def test_update_of_a_missing_key(
        self, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """Updating a deleted key answers 1542 (the read's 1800 would be wrong)."""
        r = http.post(
            f"{rest(servers, 18)}/{TABLE}",
            params={"$method": "update"},
            json={"__KEY": "F" * 32, "__STAMP": 1, "neu": True},
            timeout=5,
        )
        real = load("error__qodly_update_unknown_key_1542.json")
        assert self.codes(real) == self.codes(r.json())
        assert kind(real["__ERROR"]) == kind(r.json()["__ERROR"])


class TestWrites:
    REPLY: ClassVar[dict[int, str]] = {
        17: "update_reply__docs_v18_create.json",
        18: "update_reply__docs_v18_create.json",
        20: "update_reply__qodly_v20_create.json",
    }

    def first(self, base: str, http: requests.Session) -> dict[str, Any]:
        rows = http.get(f"{base}/{TABLE}", params={"$top": 2}, timeout=5).json()["__ENTITIES"]
        record: dict[str, Any] = rows[0]
        return record

    @pytest.mark.parametrize("version", VERSIONS)
    def test_update_reply(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """A save answers the entity with ``uri`` and ``!!YYYY-MM-DD!!`` (v20: ``__STATUS``)."""
        base = rest(servers, version)
        e = self.first(base, http)
        saved = http.post(
            f"{base}/{TABLE}",
            params={"$method": "update"},
            json={"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "neu": True},
            timeout=5,
        ).json()
        real = load(self.REPLY[version])
        assert system(real) == system(saved)
        assert {"uri"} == {k for k in real if not k.startswith("__")} & set(saved) - set(e)
        assert re.fullmatch(r"!!\d{4}-\d{2}-\d{2}!!", saved["__TIMESTAMP"])
        assert f"/rest/{TABLE}({e['__KEY']})" == saved["uri"]

    def test_stamp_conflict(
        self, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """A stale stamp answers like 4D: failed ``__STATUS``, current values, 1263/1046/1517."""
        base = rest(servers, 18)
        e = self.first(base, http)
        body = http.post(
            f"{base}/{TABLE}",
            params={"$method": "update"},
            json={"__KEY": e["__KEY"], "__STAMP": e["__STAMP"] + 5, "neu": True},
            timeout=5,
        ).json()
        real = load("stamp_conflict__docs_v18_persons.json")
        assert system(real) == system(body)
        assert [x["errCode"] for x in real["__ERROR"]] == [x["errCode"] for x in body["__ERROR"]]

    @pytest.mark.parametrize("version", VERSIONS)
    def test_atomic_failure(
        self, version: int, servers: dict[int, EmulatorServer], http: requests.Session
    ) -> None:
        """A failed atomic batch: v17/v18 per-entity errors, v20 one object with 1542."""
        base = rest(servers, version)
        e = self.first(base, http)
        body = http.post(
            f"{base}/{TABLE}",
            params={"$method": "update", "$atomic": "true"},
            json=[
                {"__KEY": e["__KEY"], "__STAMP": e["__STAMP"], "neu": True},
                {"__KEY": "F" * 32, "__STAMP": 1, "neu": True},
            ],
            timeout=5,
        ).json()
        if version < 20:
            real = load("atomic_failure__docs_v17_entities_validation.json")
            assert set(real) == set(body)
            good, bad = body["__ENTITIES"]
            assert "__ERROR" not in good
            assert {"__KEY", "__ERROR"} <= set(bad)
            assert kind(real["__ENTITIES"][1]["__ERROR"]) == kind(bad["__ERROR"])
        else:
            real = load("atomic_failure__docs_v20_es_missing_key.json")
            assert system(real) == system(body)
            assert [1542] == [x["errCode"] for x in body["__ERROR"]]
            assert e["__KEY"] == body["__KEY"]


class TestSessions:
    def test_login_replies(self) -> None:
        """``$directory/login`` answers ``{"result": true|false}`` like 4D."""
        with serve(EmulatorConfig(rows=10, require_login=True, users={"u": "p"})) as server:
            url = f"{server.base_url}/rest/$directory/login"
            ok = requests.post(url, headers={"username-4D": "u", "password-4D": "p"}, timeout=5)
            bad = requests.post(url, headers={"username-4D": "u", "password-4D": "x"}, timeout=5)
        assert load("login_reply__docs_true.json") == ok.json()
        assert load("login_reply__docs_false.json") == bad.json()

    def test_set_cookie(self, servers: dict[int, EmulatorServer], http: requests.Session) -> None:
        """The session cookie has a real server's attributes, in its order."""
        answer = http.get(f"{rest(servers, 18)}/$info", timeout=5)
        real = load("headers__android_test_headers.json")["Set-Cookie"]
        shape = re.compile(r"WASID4D=[0-9A-F]{32}(; .*)")
        own, theirs = shape.fullmatch(answer.headers["Set-Cookie"]), shape.fullmatch(real)
        assert own is not None
        assert theirs is not None
        assert theirs.group(1) == own.group(1)


class TestAdapterOnEveryVersion:
    """The adapter reads and writes through every version's shapes (real HTTP, real threads)."""

    @pytest.fixture
    def backend(
        self, request: pytest.FixtureRequest, servers: dict[int, EmulatorServer]
    ) -> Iterator[FourDBackend]:
        """A FourDBackend on the emulator of the parametrized version."""
        server = servers[request.param]
        server.reset()
        transport = RequestsTransport(pool_size=2)
        login = FourDLogin(transport)
        provider = SharedSessionProvider(MemorySessionStore(), login, logout=login.logout)
        env = Environment("live", server.base_url, connect_timeout=2.0, read_timeout=10.0)
        yield FourDBackend({"live": env}, provider, transport)
        transport.close()

    @pytest.mark.parametrize("backend", VERSIONS, indirect=True)
    def test_reads(self, backend: FourDBackend) -> None:
        """Typed pages, snapshots with later pages, schemas and release work on each version."""
        first = backend.open_snapshot(Query("live", TABLE, top=10, typed=True), timeout=60)
        assert first.entity_set is not None
        later = backend.read_page(
            Query("live", TABLE, entity_set=first.entity_set, skip=10, top=10)
        )
        assert (40, first.entity_set) == (later.count, later.entity_set)
        assert {r["__KEY"] for r in first.records}.isdisjoint(r["__KEY"] for r in later.records)
        assert "relatedEntity" == backend.schema("live", TABLE)["ArtikelFamilie"]
        assert isinstance(first.records[0]["ArtikelFamilie"], str)
        backend.release_snapshot("live", TABLE, first.entity_set)

    @pytest.mark.parametrize("backend", VERSIONS, indirect=True)
    def test_writes(self, backend: FourDBackend) -> None:
        """Saves, stale stamps and failed atomic batches map the same on each version."""
        rows = backend.read_page(Query("live", TABLE, top=2)).records
        a, b = rows[0], rows[1]
        (saved,) = backend.write([FieldUpdate(TABLE, a["__KEY"], {"neu": True}, a["__STAMP"])])
        assert (a["__KEY"], a["__STAMP"] + 1) == (saved.key, saved.stamp)
        with pytest.raises(StampConflict) as info:
            backend.write([FieldUpdate(TABLE, b["__KEY"], {"neu": True}, b["__STAMP"] + 3)])
        assert b["__STAMP"] == info.value.current_stamp
        missing = FieldUpdate(TABLE, "F" * 32, {"neu": True}, 1)
        good = FieldUpdate(TABLE, b["__KEY"], {"neu": False}, b["__STAMP"])
        with pytest.raises(RecordNotFound) as lost:
            backend.write([good, missing], atomic=True)
        assert (1542,) == lost.value.codes
        assert b["__STAMP"] == backend.get_record("live", TABLE, b["__KEY"])["__STAMP"]
        created = backend.create("live", "Personal", {"Name": "Neu"})
        assert 1 == created.stamp
