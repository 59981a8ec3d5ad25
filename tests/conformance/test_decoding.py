"""Every real 4D capture through the adapter's real path: socket, exchange, mapping, decoding.

Each test serves one capture unchanged from a loopback server and asks the backend for it
the way an application would. The expected results are written by hand from reading the
capture (and 4D's docs), never computed by the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from tests._columnar import same

from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.fourd._exchange import Exchange
from legacy_adapters.wire import decode_record, parse_schema
from legacy_core.errors import (
    AuthenticationFailed,
    EntitySetExpired,
    InvalidQuery,
    LegacyError,
    RecordNotFound,
    ServerError,
    SessionExpired,
    StampConflict,
    UnknownTable,
    WriteRejected,
)
from legacy_core.model import Environment, FieldUpdate, Query

from .captures_support import (
    BY_FILE,
    CAPTURES,
    INDEX,
    CaptureServer,
    body_route,
    catalog_route,
    load,
    of_kind,
    raw,
)

pytestmark = pytest.mark.integration

UTC = dt.UTC
KINDS = {
    "atomic_failure",
    "catalog",
    "catalog_all",
    "catalog_table",
    "collection",
    "entity",
    "entityset_created",
    "entityset_page",
    "error",
    "headers",
    "info",
    "lock_reply",
    "login_reply",
    "release_reply",
    "stamp_conflict",
    "update_reply",
}


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _schema_body(entry: dict[str, Any]) -> bytes:
    """The catalog the index names for a capture (unchanged), or one built from its notes."""
    if "schema" in entry:
        return raw(entry["schema"])
    attributes = [{"name": name, **spec} for name, spec in entry.get("schema_inline", {}).items()]
    return orjson.dumps({"dataClasses": [{"name": entry["table"], "attributes": attributes}]})


def _serve_data(served: CaptureServer, name: str, status: int = 200) -> dict[str, Any]:
    entry = BY_FILE[name]
    if entry.get("table"):
        served.routes.append(catalog_route(entry["table"], _schema_body(entry)))
    served.routes.append(body_route(status, raw(name)))
    return entry


class TestInventory:
    def test_every_capture_is_indexed_and_unchanged(self) -> None:
        """The copied captures are the shared ones, byte for byte, and each one is indexed."""
        shared = Path("/work/shared/fourd_captures")
        files = {p.name for p in CAPTURES.glob("*.json")} - {"index.json"}
        assert files == {e["file"] for e in INDEX}
        assert 68 == len(files)
        if shared.is_dir():
            for name in [*files, "index.json", "SOURCES.md"]:
                assert (shared / name).read_bytes() == (CAPTURES / name).read_bytes(), name

    def test_every_kind_has_a_test(self) -> None:
        """No capture kind is left without a decoding test below."""
        assert {e["kind"] for e in INDEX} == KINDS


# --- collections -----------------------------------------------------------------------
# file -> (count, keys in order, {row: {attribute: typed value}})
COLLECTIONS: dict[str, tuple[int, list[str], dict[int, dict[str, Any]]]] = {
    "collection__ios_v17_events.json": (
        3,
        ["12", "14", "15"],
        {
            0: {
                "timeStamp": dt.date(2017, 3, 6),
                "__TIMESTAMP": _ts("2017-03-06T14:47:38.001"),
                "count": 605,
            },
            2: {"timeStamp": None, "title": "asdasdwerwer"},
        },
    ),
    "collection__ios_v17_invoices.json": (
        2142,
        ["1", "2", "3"],
        {
            0: {
                "Date": dt.date(2014, 4, 12),
                "PayementDate": dt.date(2014, 3, 26),
                "Link_4": "1",
                "PayementDelay": 30,
                "Paid": True,
                "Link_5_return": {
                    "__deferred": {
                        "uri": "/mobileapp/INVOICES(1)/Link_5_return?$expand=Link_5_return"
                    }
                },
            }
        },
    ),
    "collection__ios_v17_clients.json": (
        200,
        ["1", "2", "3"],
        {0: {"Lat": 5.2, "__STAMP": 10, "DiscountRate": 0}},
    ),
    "collection__ios_v17_products.json": (
        240,
        ["1", "2", "3"],
        {0: {"TaxRate": 19.6, "UnitPrice": 10, "Picture": None}},
    ),
    "collection__ios_v18_table_link_expanded.json": (2, ["1", "3"], {0: {"Link_1": "1"}}),
    "collection__ios_v18_table_linked_nested.json": (1, ["1"], {}),
    "collection__android_v18_service_extended.json": (1, ["16"], {0: {"manager": "2"}}),
    "collection__android_events_filtered_relations.json": (
        2,
        ["14", "15"],
        {0: {"__TIMESTAMP": _ts("2017-03-06T14:48:26.526"), "id": 14}},
    ),
    "collection__android_v17_deletedrecords.json": (
        1,
        ["9"],
        {0: {"__PrimaryKey": "24", "__Stamp": 9, "__TableName": "Entity"}},
    ),
    "collection__datasync_v18_deletedrecords.json": (
        1,
        ["1"],
        {0: {"__PrimaryKey": "19", "__TableNumber": 1, "ID": 1}},
    ),
    "collection__docs_v18_company.json": (
        250,
        ["1", "2", "3", "4"],
        {
            0: {
                "staff": {
                    "__deferred": {
                        "uri": "http://127.0.0.1:8081/rest/Company(1)/staff?$expand=staff"
                    }
                }
            }
        },
    ),
    "collection__docs_v18_company_asarray_default.json": (
        52,
        ["15", "34", "47"],
        {0: {"creationDate": "0!0!0", "__STAMP": 0}},
    ),
    "collection__docs_v18_employees.json": (3, ["1", "2", "3"], {2: {"Salary": 41000}}),
    "collection__docs_v19_friends.json": (4, ["1", "2", "3", "4"], {3: {"lastName": "Dupont"}}),
    "collection__qodly_users.json": (
        2,
        ["2", "1"],
        {
            0: {
                "ID": 2,
                "Orders": {"__deferred": {"uri": "/rest/Users[2]/Orders?$expand=Orders"}},
            }
        },
    ),
}


class TestCollections:
    def test_all_collections_have_expectations(self) -> None:
        """Each collection capture has a hand-written expectation."""
        assert set(of_kind("collection")) == set(COLLECTIONS)

    @pytest.mark.parametrize("name", of_kind("collection"))
    def test_raw_page(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """Raw mode hands the entities on exactly as 4D sent them, with the envelope's counts."""
        entry = _serve_data(served, name)
        count, keys, _typed = COLLECTIONS[name]
        page = backend.read_page(Query("live", entry["table"]))
        assert (count, keys, 0) == (page.count, [r["__KEY"] for r in page.records], page.first)
        assert load(name)["__ENTITIES"] == list(page.records)
        assert len(keys) == page.sent

    @pytest.mark.parametrize("name", of_kind("collection"))
    def test_typed_page(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """Typed mode decodes dates, timestamps, keys and relations as the catalog says."""
        entry = _serve_data(served, name)
        count, keys, typed = COLLECTIONS[name]
        page = backend.read_page(Query("live", entry["table"], typed=True))
        assert (count, keys) == (page.count, [r["__KEY"] for r in page.records])
        for record in page.records:
            assert isinstance(record["__STAMP"], int)
            assert isinstance(record["__TIMESTAMP"], dt.datetime)
            assert record["__TIMESTAMP"].tzinfo is not None
        for row, values in typed.items():
            for attribute, value in values.items():
                got = page.records[row][attribute]
                assert value == got, f"{name} row {row} {attribute}"
                assert type(value) is type(got), f"{name} row {row} {attribute}"

    def test_expanded_relations_stay_nested(
        self, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """An expanded 1->N relation without a catalog entry keeps its inner entities."""
        _serve_data(served, "collection__ios_v18_table_linked_nested.json")
        record = backend.read_page(Query("live", "Table_Linked", typed=True)).records[0]
        assert 2 == record["Link_1_return"]["__COUNT"]
        assert ["1", "3"] == [e["__KEY"] for e in record["Link_1_return"]["__ENTITIES"]]


# --- entities --------------------------------------------------------------------------
ENTITIES: dict[str, dict[str, Any]] = {
    "entity__ios_v17_event12.json": {
        "timeStamp": dt.date(2017, 3, 9),
        "__TIMESTAMP": _ts("2017-03-13T08:27:17.298"),
        "__KEY": "12",
        "__STAMP": 22,
        "cancellable": True,
        "picture": None,
        "json": None,
        "Link_1_return": {
            "__deferred": {"uri": "/mobileapp/Event(12)/Link_1_return?$expand=Link_1_return"}
        },
    },
    "entity__ios_v17_clients2.json": {"id": 2, "TotalSales": 0, "City": "LANNEMAIGNAN"},
    "entity__datasync_v18_clients2.json": {"__GlobalStamp": 94, "id": 2},
    "entity__android_event12_related.json": {"__STAMP": 22},
    "entity__docs_v18_employees2_projected.json": {"Lastname": "Jones", "__STAMP": 2},
    "entity__docs_v20_students56_function.json": {"school": "2", "schoolID": 2},
    "entity__qodly_customer123_function.json": {
        "orders": {"__deferred": {"uri": "/rest/Order?$filter=customerID=123", "__COUNT": 5}},
        "profilePicture": None,
    },
    "entity__qodly_orders1_purchaser_expanded.json": {"Purchaser": "1"},
    "entity__qodly_payments1_bangdate.json": {"PaymentDate": dt.date(2024, 1, 1), "Amount": 124},
    "entity__qodly_users2.json": {
        "Orders": {"__deferred": {"uri": "/rest/Users[2]/Orders?$expand=Orders"}}
    },
}


class TestEntities:
    def test_all_entities_have_expectations(self) -> None:
        """Each entity capture has a hand-written expectation."""
        assert set(of_kind("entity")) == set(ENTITIES)

    @pytest.mark.parametrize("name", of_kind("entity"))
    def test_typed_entity(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """One entity by key, typed: the hand-written values, in their Python types."""
        entry = _serve_data(served, name)
        key = load(name)["__KEY"]
        record = backend.get_record("live", entry["table"], key, typed=True)
        assert key == record["__KEY"]
        assert isinstance(record["__TIMESTAMP"], dt.datetime)
        for attribute, value in ENTITIES[name].items():
            assert value == record[attribute], f"{name} {attribute}"
            assert type(value) is type(record[attribute]), f"{name} {attribute}"
        assert f"/rest/{entry['table']}({key})" == served.data_requests()[0].path

    @pytest.mark.parametrize("name", of_kind("entity"))
    def test_raw_entity(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """Raw mode returns the entity as sent."""
        entry = _serve_data(served, name)
        body = load(name)
        assert body == backend.get_record("live", entry["table"], body["__KEY"])

    def test_bang_date_is_a_date_like_dmy(self) -> None:
        """``!!YYYY-MM-DD!!`` and ``D!M!YYYY`` give the same date on the same attribute."""
        schema = parse_schema(
            {"attributes": [{"name": "d", "kind": "storage", "type": "date"}]}, "T"
        )
        bang = decode_record({"d": "!!2024-01-01!!"}, schema)["d"]
        dmy = decode_record({"d": "1!1!2024"}, schema)["d"]
        assert dt.date(2024, 1, 1) == bang == dmy
        assert type(bang) is dt.date


# --- entity sets -----------------------------------------------------------------------
ENTITY_SETS: dict[str, tuple[str, int, list[str], dict[int, dict[str, Any]]]] = {
    "entityset_created__docs_v17_subentityset_employee.json": (
        "FF625844008E430B9862E5FD41C741AB",
        2,
        ["4", "1"],
        {0: {"employer": "1", "birthday": "1970-10-05T14:23:00Z"}},
    ),
    "entityset_created__qodly_people_saved.json": (
        "FC0EB10EBC4A485DAF52267E30708724",
        19,
        ["1", "2"],
        {1: {"salary": 60000}},
    ),
    "entityset_created__qodly_subentityset_orders.json": (
        "6F245BB22D294281B9D394B876D4A6EE",
        1,
        ["10"],
        {
            0: {
                "Purchaser": "4",
                "OrderedProduct": "1",
                "paymentsSelection": {
                    "__deferred": {
                        "uri": "/rest/Orders[10]/paymentsSelection?$expand=paymentsSelection"
                    }
                },
            }
        },
    ),
    "entityset_created__requestlog_v19_table1.json": (
        "AED1A1EFB4F445EF9EA8A4D8A884F4B3",
        100000,
        ["1"],
        {0: {"Field_2": "alpha"}},
    ),
}


class TestEntitySets:
    def test_all_entity_sets_have_expectations(self) -> None:
        """Each entity-set capture has a hand-written expectation."""
        assert set(of_kind("entityset_created")) == set(ENTITY_SETS)

    @pytest.mark.parametrize("name", of_kind("entityset_created"))
    def test_open_snapshot(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """Opening a snapshot reads the set id out of ``__ENTITYSET`` and decodes page one."""
        entry = _serve_data(served, name)
        set_id, count, keys, typed = ENTITY_SETS[name]
        page = backend.open_snapshot(Query("live", entry["table"], typed=True), timeout=600)
        assert (set_id, count) == (page.entity_set, page.count)
        assert keys == [r["__KEY"] for r in page.records]
        for row, values in typed.items():
            for attribute, value in values.items():
                assert value == page.records[row][attribute], f"{name} {attribute}"
        sent = served.data_requests()[0]
        assert ("entityset", "600") == (sent.params["$method"], sent.params["$timeout"])

    @pytest.mark.parametrize("name", of_kind("entityset_page"))
    def test_page_of_a_set(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """A later page of a set has no ``__ENTITYSET``: the set id stays the one asked for."""
        entry = _serve_data(served, name)
        set_id = "FC0EB10EBC4A485DAF52267E30708724"
        page = backend.read_page(Query("live", entry["table"], entity_set=set_id, top=2))
        assert (set_id, 19, ["1", "2"]) == (
            page.entity_set,
            page.count,
            [r["__KEY"] for r in page.records],
        )
        assert f"/rest/People/$entityset/{set_id}" == served.data_requests()[0].path

    @pytest.mark.parametrize("name", of_kind("release_reply"))
    def test_release(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """Releasing a set accepts 4D's ``{"ok": true}``."""
        served.routes.append(body_route(200, raw(name)))
        backend.release_snapshot("live", "Employee", "207BE8235EC24623B982CAA84CCB7C")
        sent = served.data_requests()[0]
        assert ("/rest/Employee/$entityset/207BE8235EC24623B982CAA84CCB7C", "release") == (
            sent.path,
            sent.params["$method"],
        )


# --- catalogs --------------------------------------------------------------------------
CATALOGS: dict[str, list[str]] = {
    "catalog__ios_v17_catalog.json": ["cat", "page", "sous_cat", "user"],
    "catalog__android_v18_catalog.json": ["__DeletedRecords", "Employee", "Office", "Service"],
    "catalog__docs_v18_gettingstarted.json": ["Employees"],
    "catalog__docs_v19_friends.json": ["Friends"],
    "catalog__qodly.json": ["Users"],
}
# file -> table -> {attribute: type the schema reports} (a sample of each, by hand)
SCHEMAS: dict[str, dict[str, dict[str, str]]] = {
    "catalog_table__ios_v17_cat.json": {
        "cat": {"ID": "long", "meta_key": "blob", "date_cree": "date", "Link_1": "relatedEntity"}
    },
    "catalog_table__ios_v17_event.json": {
        "Event": {"id": "long", "count": "long", "timeStamp": "date", "title": "string"}
    },
    "catalog_table__ios_clients.json": {
        "CLIENTS": {"Logo": "image", "Lat": "number", "Link_4_return": "relatedEntities"}
    },
    "catalog_table__ios_invoices.json": {
        "INVOICES": {"PayementDelay": "word", "Paid": "bool", "Link_4": "relatedEntity"}
    },
    "catalog_table__ios_products.json": {
        "PRODUCTS": {"Picture": "image", "Link_8_return": "relatedEntities"}
    },
    "catalog_table__android_v18_employee.json": {
        "Employee": {
            "__GlobalStamp": "long64",
            "service": "relatedEntity",
            "serviceManaged": "relatedEntities",
        }
    },
    "catalog_table__qodly_users.json": {"Users": {"ID": "long", "Name": "string"}},
    "catalog_all__ios_v17_event_all.json": {
        "Event": {"cancellable": "bool", "picture": "image", "json": "object"}
    },
    "catalog_all__android_v18_all.json": {
        "__DeletedRecords": {"__Stamp": "long64", "__PrimaryKey": "string"},
        "Employee": {"Photo": "image", "serviceID": "long"},
        "Office": {"deskTaken": "long"},
        "Service": {"manager": "relatedEntity", "employees": "relatedEntities"},
    },
    "catalog_all__qodly_all.json": {"Users": {"ID": "long", "Name": "string"}},
}


class TestCatalogs:
    @pytest.mark.parametrize("name", of_kind("catalog"))
    def test_tables(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """``$catalog`` lists the dataclass names."""

        def route(request: Any) -> Any:
            return (200, [], raw(name)) if request.path == "/rest/$catalog" else None

        served.routes.append(route)
        assert CATALOGS[name] == backend.tables("live")

    def test_all_catalogs_have_expectations(self) -> None:
        """Each catalog capture has a hand-written expectation."""
        assert set(of_kind("catalog")) == set(CATALOGS)
        assert set(of_kind("catalog_table") + of_kind("catalog_all")) == set(SCHEMAS)

    @pytest.mark.parametrize("name", of_kind("catalog_table") + of_kind("catalog_all"))
    def test_schema(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """``$catalog/{Table}`` (wrapped in ``dataClasses``) gives each attribute's type."""
        for table, expected in SCHEMAS[name].items():
            served.routes.append(catalog_route(table, raw(name)))
            types = backend.schema("live", table)
            assert expected == {a: types[a] for a in expected}, f"{name} {table}"
            if table == "Service":
                assert "relatedEntities" == types["employees"]  # the relation, listed last
            described = next(d for d in load(name)["dataClasses"] if d["name"] == table)
            # Service lists "employees" twice (a storage field and the relation): one entry.
            assert list(dict.fromkeys(a["name"] for a in described["attributes"])) == list(types)


# --- $info, login, headers -----------------------------------------------------------------
class TestSessions:
    @pytest.mark.parametrize("name", of_kind("info"))
    def test_info(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """``$info`` answers reach the caller whole (health checks read ``cacheSize``)."""
        served.routes.append(
            lambda r: (
                (200, [], raw(name))
                if r.path == "/rest/$info" and r.headers.get("cookie")
                else None
            )
        )
        assert 419430400 == backend.info("live")["cacheSize"]

    @pytest.mark.parametrize(
        "name", ["info__ios_v17_info.json", "info__ios_v17_restinfo_stub.json"]
    )
    def test_login_picks_the_listed_session(
        self,
        name: str,
        served: CaptureServer,
        environment: Environment,
        transport: RequestsTransport,
    ) -> None:
        """Of two cookies set with ``$info``, the login keeps the one ``sessionInfo`` lists."""
        listed = load(name)["sessionInfo"][0]["sessionID"]
        cookies = [
            ("Set-Cookie", f"4DSID_App={listed}; Path=/"),
            ("Set-Cookie", "WASID4D=FFFF; Path=/"),
        ]
        served.routes.append(
            lambda r: (200, cookies, raw(name)) if r.path == "/rest/$info" else None
        )
        result = FourDLogin(transport)(environment)
        assert ("4DSID_App", listed, 3600.0) == (
            result.cookie_name,
            result.cookie_value,
            result.lifetime,
        )

    def test_login_on_a_server_without_session_info(
        self, served: CaptureServer, environment: Environment, transport: RequestsTransport
    ) -> None:
        """A v18 ``$info`` without ``sessionInfo`` still yields the cookie it set."""
        cookie = [("Set-Cookie", "WASID4D=ABCDEF0123; Path=/; Max-Age=3600; HttpOnly; Version=1")]
        body = raw("info__android_v18_info.json")
        served.routes.append(lambda r: (200, cookie, body) if r.path == "/rest/$info" else None)
        result = FourDLogin(transport)(environment)
        assert ("WASID4D", "ABCDEF0123") == (result.cookie_name, result.cookie_value)

    @pytest.mark.parametrize("name", of_kind("headers"))
    def test_headers(
        self,
        name: str,
        served: CaptureServer,
        environment: Environment,
        transport: RequestsTransport,
    ) -> None:
        """The cookie of a real answer's headers is read out of its ``Set-Cookie``."""
        headers = [
            (k, v) for k, v in load(name).items() if k not in {"Server", "Date", "Connection"}
        ]
        served.routes.append(lambda r: (200, headers, b"{}") if r.path == "/rest/$info" else None)
        result = FourDLogin(transport)(environment)
        assert ("WASID4D", "962084CB4641435BA21FDB62E03AC2A1") == (
            result.cookie_name,
            result.cookie_value,
        )

    @pytest.mark.parametrize("status", [200, 401])
    def test_login_replies(
        self,
        status: int,
        served: CaptureServer,
        environment: Environment,
        transport: RequestsTransport,
    ) -> None:
        """``{"result": true}`` logs in on the cookie set; ``{"result": false}`` is refused."""
        ok = raw("login_reply__docs_true.json")
        refused = raw("login_reply__docs_false.json")
        cookie = [("Set-Cookie", "4DSID_WSZ-DB=0123ABCD; Path=/")]
        login = FourDLogin(transport, credentials={"live": Credentials("admin", "pw-9f3k")})
        served.routes.append(
            lambda r: (200, cookie, ok) if r.headers.get("password-4d") == "right" else None
        )
        served.routes.append(lambda r: (status, [], refused))
        with pytest.raises(AuthenticationFailed) as info:
            login(environment)
        assert "pw-9f3k" not in str(info.value)
        good = FourDLogin(transport, credentials={"live": Credentials("admin", "right")})
        result = good(environment)
        assert ("4DSID_WSZ-DB", "0123ABCD") == (result.cookie_name, result.cookie_value)
        assert "POST" == served.seen[-1].method


# --- errors ----------------------------------------------------------------------------
# file -> (what the client did, {HTTP status: error class}, 4D codes carried)
ERRORS: dict[str, tuple[str, dict[int, type[LegacyError]], tuple[int, ...]]] = {
    "error__ios_v17_unknown_attribute_1500_1804.json": (
        "read",
        {200: InvalidQuery, 404: InvalidQuery, 500: InvalidQuery},
        (1500, 1500, 1804),
    ),
    "error__qodly_not_exposed_1500_1804.json": (
        "read",
        {200: InvalidQuery, 404: InvalidQuery, 500: InvalidQuery},
        (1500, 1804),
    ),
    "error__ios_mobileapp_no_errcode.json": (
        "read",
        {200: ServerError, 500: ServerError, 404: UnknownTable},
        (),
    ),
    "error__docs_release_unknown_set_1802.json": (
        "page_of_set",
        {200: EntitySetExpired, 404: EntitySetExpired, 500: EntitySetExpired},
        (1802,),
    ),
    "error__qodly_release_unknown_set_1802.json": (
        "page_of_set",
        {200: EntitySetExpired, 404: EntitySetExpired, 500: EntitySetExpired},
        (1802,),
    ),
    "error__qodly_update_unknown_key_1542.json": (
        "write",
        {200: RecordNotFound, 404: RecordNotFound, 500: RecordNotFound},
        (1542,),
    ),
    "error__forcelogin_rest_login_failed_1822.json": (
        "read",
        {200: AuthenticationFailed, 401: SessionExpired, 403: AuthenticationFailed},
        (1822,),
    ),
}


def _act(backend: FourDBackend, action: str) -> None:
    if action == "read":
        backend.read_page(Query("live", "Client"))
    elif action == "page_of_set":
        backend.read_page(Query("live", "Employee", entity_set="4C51204DD8184B65AC7D79F09A077F24"))
    else:
        backend.write([FieldUpdate("Employee", "98712764", {"firstName": "x"}, expected_stamp=3)])


class TestErrors:
    def test_all_errors_have_expectations(self) -> None:
        """Each error capture has a hand-written expectation."""
        assert set(of_kind("error")) == set(ERRORS)

    @pytest.mark.parametrize(
        ("name", "status"),
        [(name, status) for name, (_a, by_status, _c) in ERRORS.items() for status in by_status],
    )
    def test_error(
        self, name: str, status: int, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """The 4D code decides the category whatever the status; the codes travel along."""
        action, by_status, codes = ERRORS[name]
        served.routes.append(body_route(status, raw(name)))
        with pytest.raises(LegacyError) as info:
            _act(backend, action)
        err = info.value
        assert by_status[status] is type(err), str(err)
        assert codes == err.codes
        assert (status, "live") == (err.status, err.environment)
        assert "\n" not in str(err).splitlines()[0]


# --- writes ----------------------------------------------------------------------------
class TestWrites:
    @pytest.mark.parametrize("name", of_kind("update_reply"))
    def test_create(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """A create's answer gives the new key and stamp; ``__STATUS.success`` is no failure."""
        served.routes.append(body_route(200, raw(name)))
        result = backend.create("live", "Employee", {"firstName": "Smith"})
        assert ("622", 1) == (result.key, result.stamp)
        stamp = decode_record(result.record, None)["__TIMESTAMP"]
        day = {"update_reply__docs_v18_create.json": 3, "update_reply__qodly_v20_create.json": 23}
        month = 4 if "docs" in name else 5
        year = 2020 if "docs" in name else 2024
        assert dt.datetime(year, month, day[name], tzinfo=UTC) == stamp
        sent = served.data_requests()[0]
        assert ("POST", "update", {"firstName": "Smith"}) == (
            sent.method,
            sent.params["$method"],
            json.loads(sent.body),
        )

    @pytest.mark.parametrize("status", [200, 409, 500])
    def test_stamp_conflict(
        self, status: int, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """A stale stamp is a StampConflict with the server's current values, at any status."""
        served.routes.append(body_route(status, raw("stamp_conflict__docs_v18_persons.json")))
        update = FieldUpdate("Persons", "1", {"firstname": "Dee"}, expected_stamp=11)
        with pytest.raises(StampConflict) as info:
            backend.write([update])
        err = info.value
        assert ("1", 12, "Denise") == (err.key, err.current_stamp, err.current["firstname"])
        assert (1263, 1046, 1517) == err.codes

    ATOMIC: ClassVar[dict[str, tuple[list[str], type[LegacyError], tuple[int, ...]]]] = {
        "atomic_failure__docs_v17_entities_validation.json": (
            ["1", "2"],
            WriteRejected,
            (1569, 1570, 1517),
        ),
        "atomic_failure__docs_v20_es_missing_key.json": (["200", "201"], RecordNotFound, (1542,)),
        "atomic_failure__qodly_missing_key_1542.json": (["1", "222"], RecordNotFound, (1542,)),
    }

    @pytest.mark.parametrize("status", [200, 404, 500])
    @pytest.mark.parametrize("name", of_kind("atomic_failure"))
    def test_atomic_failure(
        self, name: str, status: int, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """An atomic batch that failed raises the failing entity's cause, never a success."""
        keys, expected, codes = self.ATOMIC[name]
        served.routes.append(body_route(status, raw(name)))
        updates = [FieldUpdate(BY_FILE[name]["table"], k, {"ID": int(k)}) for k in keys]
        with pytest.raises(LegacyError) as info:
            backend.write(updates, atomic=True)
        assert expected is type(info.value), str(info.value)
        assert codes == info.value.codes
        sent = served.data_requests()[0]
        assert ("true", keys) == (
            sent.params["$atomic"],
            [e["__KEY"] for e in json.loads(sent.body)],
        )

    def test_all_atomic_failures_have_expectations(self) -> None:
        """Each atomic-failure capture has a hand-written expectation."""
        assert set(of_kind("atomic_failure")) == set(self.ATOMIC)


class TestLocks:
    @pytest.mark.parametrize(
        ("name", "locked"),
        [
            ("lock_reply__docs_locked_ok.json", True),
            ("lock_reply__docs_already_locked.json", False),
        ],
    )
    def test_lock_reply(
        self,
        name: str,
        locked: bool,
        served: CaptureServer,
        backend: FourDBackend,
        environment: Environment,
        transport: RequestsTransport,
    ) -> None:
        """A failed ``__STATUS`` without ``success`` (``status: 3``) is a failure, not a success."""
        served.routes.append(body_route(200, raw(name)))
        exchange = Exchange({"live": environment}, backend.sessions, transport)

        def lock() -> Any:
            return exchange.call(
                "live",
                "GET",
                "/rest/Customers(1)/",
                params=(("$lock", "true"),),
                table="Customers",
                context="entity",
            ).data

        if locked:
            assert {"result": True, "__STATUS": {"success": True}} == lock()
            return
        with pytest.raises(WriteRejected) as info:
            lock()
        assert "Already Locked" in str(info.value)


# --- collections as Arrow columns (ADR 0025) -------------------------------------------


class TestColumnarCollections:
    @pytest.mark.parametrize("name", of_kind("collection"))
    def test_typed_columns(self, name: str, served: CaptureServer, backend: FourDBackend) -> None:
        """A columnar page has the capture's keys, counts and the hand-written typed values."""
        pytest.importorskip("pyarrow")
        entry = _serve_data(served, name)
        count, keys, typed = COLLECTIONS[name]
        page = backend.read_page(Query("live", entry["table"], typed=True, columnar=True))
        rows = page.records.table.to_pylist()  # type: ignore[attr-defined]
        assert (count, keys) == (page.count, [r["__KEY"] for r in rows])
        for row, values in typed.items():
            for attribute, value in values.items():
                assert same(rows[row][attribute], value), f"{name} row {row} {attribute}"
        timestamps = page.records.table.schema.field("__TIMESTAMP").type  # type: ignore[attr-defined]
        assert "timestamp[ms, tz=UTC]" == str(timestamps)

    @pytest.mark.parametrize("name", of_kind("collection"))
    def test_columns_match_rows(
        self, name: str, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """Every value of a columnar page equals the row page's, typed and raw."""
        pytest.importorskip("pyarrow")
        entry = _serve_data(served, name)
        for typed in (True, False):
            rows = list(backend.read_page(Query("live", entry["table"], typed=typed)).records)
            query = Query("live", entry["table"], typed=typed, columnar=True)
            columns = backend.read_page(query).records.table.to_pylist()  # type: ignore[attr-defined]
            assert len(rows) == len(columns)
            for got, want in zip(columns, rows, strict=True):
                assert set(want) <= set(got)
                for attribute, value in want.items():
                    assert same(got[attribute], value), f"{name} {typed=} {attribute}"
