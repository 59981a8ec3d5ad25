"""Mutated, truncated and wrongly-typed 4D answers through the whole adapter, over loopback.

A raw HTTP server answers every request with a body drawn from real 4D shapes (pages,
entities, catalogs, write answers, ``__ERROR``/``__STATUS`` bodies) after random
mutations: values replaced by other JSON ("²" as errCode, "¹²" as __STAMP, 1e308,
nested objects), keys dropped, bytes cut off mid-body, odd statuses and headers
(``Retry-After: nan``). Each example logs in afresh through ``FourDLogin`` and reads or
writes through ``FourDBackend`` or ``LegacyClient``: only LegacyError may escape, and an
unmutated answer must be read.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from tests.fourd.rawserver import RawRequest, RawServer, http_response
from tests.fuzz._profile import budget, count

from legacy_adapters.fourd import FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import MemorySessionStore
from legacy_core.errors import LegacyError
from legacy_core.model import Environment, FieldUpdate, Query
from legacy_core.resilience import RetryPolicy
from legacy_core.service import LegacyClient
from legacy_core.sessions import SharedSessionProvider

pytestmark = pytest.mark.integration

ENTITY = {
    "__KEY": "1",
    "__TIMESTAMP": "2025-01-27T19:35:41.801Z",
    "__STAMP": 3,
    "Datum": "4!3!2025",
    "Zeit": 3600000,
    "N": 5,
    "Name": "Engel",
    "Rel": {"__deferred": {"uri": "/rest/U(7)", "__KEY": "7"}},
}
PAGE = {"__DATACLASS": "T", "__COUNT": 2, "__FIRST": 0, "__SENT": 2, "__ENTITIES": [ENTITY, ENTITY]}
SCHEMA = {
    "name": "T",
    "attributes": [
        {"name": "Datum", "kind": "storage", "type": "date", "simpleDate": True},
        {"name": "Zeit", "kind": "storage", "type": "duration"},
        {"name": "N", "kind": "storage", "type": "long"},
        {"name": "Name", "kind": "storage", "type": "string"},
        {"name": "Rel", "kind": "relatedEntity", "type": "U"},
    ],
}
LOGIN = {"sessionInfo": [{"sessionID": "S1", "lifeTime": 60, "expiration": "2099-01-01T00:00:00Z"}]}
ERROR = {"__ERROR": [{"errCode": 1800, "message": "no entity", "componentSignature": "dbmg"}]}
STALE = {"__STATUS": {"success": False, "status": 2, "statusText": "Stamp has changed"}, **ENTITY}

BASES: dict[str, Any] = {
    "page": PAGE,
    "snapshot": {**PAGE, "__ENTITYSET": "/rest/T/$entityset/ABCDEF"},
    "entity": ENTITY,
    "catalog": {"dataClasses": [{"name": "T", "uri": "/rest/$catalog/T", "dataURI": "/rest/T"}]},
    "schema": SCHEMA,
    "write": {"__ENTITIES": [{**ENTITY, "__STAMP": 4}]},
    "info": {"cacheSize": 1, "sessionInfo": []},
    "error": ERROR,
    "stale": STALE,
}
OPERATIONS = {
    "read": "page",
    "read_typed": "page",
    "snapshot": "snapshot",
    "get": "entity",
    "get_typed": "entity",
    "tables": "catalog",
    "schema": "schema",
    "write": "write",
    "release": "info",
    "info": "info",
    "client_read": "page",
    "client_get": "entity",
    "client_push": "write",
    "client_count": "page",
}

# Values that broke a parser before: Unicode digits ("²".isdigit() is True), numbers
# as text, 4D's empty and impossible dates, huge numbers, cookie-shaped text.
POISON = [
    "²",
    "¹²",
    "-٣",
    "٣",
    "1279",
    " 1800 ",
    "-1",
    "99999999999",
    "1" * 30,
    "1e999",
    "NaN",
    "",
    "0!0!0",
    "31!2!2025",
    "2025-13-01",
    "!!2025-01-01!!",
    "4!3!2025\n",
    "²!1!2020",
    "/rest/T/$entityset/",
    "WASID4D=x",
    1e308,
    -1e308,
    2**64,
    -(2**63) - 1,
    1.5,
    True,
    [],
    {},
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(POISON),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
poison = st.integers(0, 1).flatmap(lambda i: st.sampled_from(POISON) if i else json_values)
KEYS = {
    "errCode",
    "message",
    "__STAMP",
    "__KEY",
    "__COUNT",
    "__SENT",
    "__FIRST",
    "__ENTITYSET",
    "__TIMESTAMP",
    "__ENTITIES",
    "statusText",
    "status",
    "success",
    "Datum",
    "Zeit",
    "N",
    "Rel",
    "lifeTime",
    "expiration",
    "sessionID",
    "sessionInfo",
    "dataClasses",
    "attributes",
    "name",
    "type",
    "kind",
    "simpleDate",
    "__deferred",
    "uri",
}
STATUSES = [200] * 8 + [201, 204, 302, 400, 401, 402, 404, 409, 413, 500, 502, 503, 504]
ODD_HEADERS = [
    ("Retry-After", "nan"),
    ("Retry-After", "inf"),
    ("Retry-After", "-5"),
    ("Retry-After", "1e999"),
    ("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
    ("Retry-After", "soon"),
    ("Set-Cookie", "WASID4D=; path=/"),
    ("Set-Cookie", "WASID4D=OTHER; path=/"),
    ("Set-Cookie", "4DSID_WSZ=NEW"),
    ("Content-Type", "text/html"),
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys and list indices)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def replaced(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    """A copy of ``value`` with the item at ``path`` replaced (or deleted)."""
    if not path:
        return new
    out = copy.deepcopy(value)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return out


@st.composite
def answers(draw: st.DrawFn, base_name: str) -> tuple[bytes, bool]:
    """One HTTP answer for ``base_name``: (raw bytes, True when left exactly as 4D sends it)."""
    body = BASES[draw(st.sampled_from([base_name] * 6 + sorted(BASES)))]
    pristine = body is BASES[base_name]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["path", "key", "key", "key", "error", "error", "status"]))
        if kind == "path":
            path = draw(st.sampled_from(list(paths(body))))
            delete = bool(path) and draw(st.booleans())
            body = replaced(body, path, draw(json_values), delete=delete)
        elif kind == "key":
            # A field 4D documents (errCode, __STAMP, __COUNT…), wherever it occurs.
            keyed = [p for p in paths(body) if p and p[-1] in KEYS]
            if keyed:
                body = replaced(body, draw(st.sampled_from(keyed)), draw(poison), delete=False)
        elif kind == "error" and isinstance(body, dict):
            entry = {"errCode": draw(poison), "message": draw(json_values)}
            body = {**body, "__ERROR": [entry, {"componentSignature": draw(json_values)}]}
        elif isinstance(body, dict):
            envelope = {"success": draw(poison), "status": draw(poison)}
            body = {**body, "__STATUS": {**envelope, "statusText": draw(json_values)}}
        pristine = False
    raw = json.dumps(body).encode()  # stdlib: writes 2**70 too, as a server may
    status = draw(st.sampled_from(STATUSES))
    headers = draw(st.lists(st.sampled_from(ODD_HEADERS), max_size=2))
    pristine = pristine and status == 200 and not headers
    cut = draw(st.one_of(st.none(), st.integers(0, max(len(raw) - 1, 0))))
    if cut is not None:
        # Declared full length, then the connection closes early: a truncated answer.
        answer = http_response(status, raw[:cut], headers, close=True, content_length=len(raw))
        return answer, False  # the server closes after sending (see Stage)
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.binary(max_size=40))  # not JSON at all
        pristine = False
    return http_response(status, raw, headers, close=True), pristine


class Stage:
    """The raw server's script: the login, the schema and the answer under test."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.login = http_response(
            body=orjson.dumps(LOGIN), headers=[("Set-Cookie", "WASID4D=S1; path=/")], close=True
        )
        self.schema = http_response(body=orjson.dumps(SCHEMA), close=True)
        self.answer = http_response(body=b"{}")

    def __call__(self, request: RawRequest, _n: int) -> Any:
        with self.lock:
            if request.target.startswith("/rest/$info") and not request.header_values("Cookie"):
                chosen = self.login
            elif request.target.startswith("/rest/$catalog/T"):
                chosen = self.schema
            else:
                chosen = self.answer
        # Send and close (every answer says "Connection: close", so no pooled connection
        # goes stale): a truncated body then ends at once instead of at the read timeout.
        return ("bytes", chosen, "close")


@pytest.fixture(scope="module")
def stage() -> Iterator[tuple[Stage, RawServer, RequestsTransport]]:
    """One raw server and one pooled transport for every example of the module."""
    script = Stage()
    server = RawServer(script)
    transport = RequestsTransport(pool_size=2)
    yield script, server, transport
    transport.close()
    server.close()


def run(operation: str, backend: FourDBackend, env: Environment) -> object:
    """Perform ``operation`` through the backend or a fresh LegacyClient over it."""
    client = LegacyClient(
        backend,
        backend,
        {"live": env},
        retry=RetryPolicy(attempts=2, base=0.001, cap=0.002, max_retry_after=0.002),
    )
    actions: dict[str, Any] = {
        "read": lambda: backend.read_page(Query("live", "T", top=2)),
        "read_typed": lambda: backend.read_page(Query("live", "T", top=2, typed=True)),
        "snapshot": lambda: backend.open_snapshot(Query("live", "T", top=2), 60.0),
        "get": lambda: backend.get_record("live", "T", "1"),
        "get_typed": lambda: backend.get_record("live", "T", "1", typed=True),
        "tables": lambda: backend.tables("live"),
        "schema": lambda: backend.schema("live", "T"),
        "write": lambda: backend.write([FieldUpdate("T", "1", {"Name": "x"}, 3)]),
        "release": lambda: backend.release_snapshot("live", "T", "ABCDEF"),
        "info": lambda: backend.info("live"),
        "client_read": lambda: client.fetch_frame("T", limit=2, raw=False),
        "client_get": lambda: client.get_record("T", "1"),
        "client_push": lambda: client.push_field("T", "1", "Name", "x", expected_stamp=3),
        "client_count": lambda: client.count("T", {"Name": "Engel"}),
    }
    return actions[operation]()


@budget(1200)
@given(data=st.data(), operation=st.sampled_from(sorted(OPERATIONS)))
def test_mutated_answers(
    stage: tuple[Stage, RawServer, RequestsTransport], data: st.DataObject, operation: str
) -> None:
    """Whatever the server answers, only LegacyError escapes; a pristine answer is read."""
    count("mutated answers")
    script, server, transport = stage
    answer, pristine = data.draw(answers(OPERATIONS[operation]), label="answer")
    where = data.draw(st.sampled_from(["answer", "answer", "answer", "login", "schema"]))
    with script.lock:
        script.login = http_response(
            body=orjson.dumps(LOGIN), headers=[("Set-Cookie", "WASID4D=S1; path=/")], close=True
        )
        script.schema = http_response(body=orjson.dumps(SCHEMA), close=True)
        script.answer = http_response(body=orjson.dumps(BASES[OPERATIONS[operation]]), close=True)
        if where == "login":
            # Keep the cookie: the mutation is in the $info body the login reads.
            script.login = answer.replace(
                b"\r\n\r\n", b"\r\nSet-Cookie: WASID4D=S1; path=/\r\n\r\n", 1
            )
        else:
            setattr(script, where, answer)
    env = Environment("live", server.base_url, connect_timeout=2.0, read_timeout=2.0)
    login = FourDLogin(transport)
    provider = SharedSessionProvider(MemorySessionStore(), login, logout=login.logout, margin=0.0)
    backend = FourDBackend({"live": env}, provider, transport)
    try:
        run(operation, backend, env)
    except LegacyError:
        event("refused")
        assert not (pristine and where == "answer"), operation


KNOWN = [
    ("read", 200, {"__ERROR": [{"errCode": "²", "message": "x"}]}, []),
    ("read", 500, {"__ERROR": [{"errCode": "-٣", "message": "x"}]}, []),
    ("get", 404, {"__ERROR": [{"errCode": "1" * 5000, "message": "x"}]}, []),
    ("get_typed", 200, {**ENTITY, "__STAMP": "¹²"}, []),
    ("read_typed", 200, {**PAGE, "__ENTITIES": [{**ENTITY, "__STAMP": "²"}]}, []),
    ("read_typed", 200, {**PAGE, "__ENTITIES": [{**ENTITY, "Datum": "٣!3!2025"}]}, []),
    ("write", 200, {**STALE, "__STAMP": "²"}, []),
    ("client_read", 503, {}, [("Retry-After", "nan")]),
    ("client_read", 503, {}, [("Retry-After", "inf")]),
]


@pytest.mark.parametrize(("operation", "status", "body", "headers"), KNOWN)
def test_known_bad_answers(
    stage: tuple[Stage, RawServer, RequestsTransport],
    operation: str,
    status: int,
    body: Any,
    headers: list[tuple[str, str]],
) -> None:
    """The answers of the issue (errCode "²", __STAMP "¹²", Retry-After nan) are LegacyErrors."""
    script, server, transport = stage
    with script.lock:
        script.login = http_response(
            body=orjson.dumps(LOGIN), headers=[("Set-Cookie", "WASID4D=S1; path=/")], close=True
        )
        script.schema = http_response(body=orjson.dumps(SCHEMA), close=True)
        script.answer = http_response(status, json.dumps(body).encode(), headers, close=True)
    env = Environment("live", server.base_url, connect_timeout=2.0, read_timeout=2.0)
    login = FourDLogin(transport)
    provider = SharedSessionProvider(MemorySessionStore(), login, logout=login.logout, margin=0.0)
    with pytest.raises(LegacyError) as info:
        run(operation, FourDBackend({"live": env}, provider, transport), env)
    assert info.value.environment == "live"
    if status == 503:
        assert info.value.retry_after is None  # "nan"/"inf" are no delay to honour
