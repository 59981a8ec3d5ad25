"""Property tests through the facade: writes to the emulator, the wsz_api arguments, queries.

Writes go through ``LegacyClient.push_field`` → ``FourDBackend`` → HTTP → the emulator,
which is then read back raw: an accepted value must be stored as it was meant (never
NaN as null, never a truncated name). The old ``wsz_api`` functions get generated
arguments over an in-memory client; the filters a facade builds are captured byte for
byte by a raw server and parsed as the emulator parses them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import warnings
from collections.abc import Iterator
from typing import Any

import attrs
import orjson
import pytest
import requests
from hypothesis import event, given
from hypothesis import strategies as st
from tests.fourd.rawserver import RawRequest, RawServer, http_response
from tests.fuzz import _strategies as s
from tests.fuzz._oracle import comparisons, decoded, meant, same_value
from tests.fuzz._profile import budget, count

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_adapters.stores import MemorySessionStore
from legacy_adapters.wire import encode_values
from legacy_core.errors import CircuitOpen, InvalidQuery, LegacyError, ServerUnavailable
from legacy_core.model import Environment
from legacy_core.resilience import RetryPolicy
from legacy_core.service import LegacyClient
from legacy_core.sessions import SharedSessionProvider
from wsz_api import use_client
from wsz_api.getRecord import get_record
from wsz_api.getTable import fetch_data_from_api
from wsz_api.pushField import push_data

pytestmark = pytest.mark.integration

# Fields of the emulator's seed tables, one per 4D type the writer can send.
TARGETS = {
    ("Kunden", "Name"): "string",
    ("Kunden", "Rabatt"): "number",
    ("Kunden", "Kundennr"): "long",
    ("Kunden", "Gesperrt"): "bool",
    ("Kunden", "Geburtsdatum"): "date",
    ("Artikel_Variante", "Preise"): "object",
}


def _backend(server_url: str, transport: RequestsTransport) -> tuple[FourDBackend, Environment]:
    env = Environment("live", server_url, connect_timeout=2.0, read_timeout=5.0)
    login = FourDLogin(transport)
    provider = SharedSessionProvider(MemorySessionStore(), login, logout=login.logout, margin=0.0)
    return FourDBackend({"live": env}, provider, transport), env


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[EmulatorServer, LegacyClient, dict[str, str]]]:
    """An emulator, a LegacyClient over FourDBackend on it, and one key per target table."""
    with serve(EmulatorConfig(rows=20)) as server:
        transport = RequestsTransport(pool_size=2)
        backend, env = _backend(server.base_url, transport)
        client = LegacyClient(backend, backend, {"live": env}, retry=RetryPolicy(attempts=1))
        keys = {
            table: requests.get(
                f"{server.base_url}/rest/{table}", params={"$top": "1"}, timeout=10
            ).json()["__ENTITIES"][0]["__KEY"]
            for table, _ in TARGETS
        }
        yield server, client, keys
        transport.close()


def stored(server: EmulatorServer, table: str, key: str) -> dict[str, Any]:
    """The entity as the emulator holds it now (a plain GET, no client code)."""
    answer = requests.get(f"{server.base_url}/rest/{table}({key})", timeout=10)
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()
    return data


def as_meant(value: Any, got: Any, kind: str) -> bool:
    """Whether the stored value is what writing ``value`` meant."""
    sent = orjson.loads(orjson.dumps(encode_values({"v": value})))["v"]
    if kind == "date":
        return got is not None or sent is None
    if isinstance(sent, float) or (isinstance(sent, int) and not isinstance(sent, bool)):
        return isinstance(got, (int, float)) and math.isclose(got, sent, rel_tol=1e-12)
    return bool(got == sent)


@budget(400)
@given(target=st.sampled_from(sorted(TARGETS)), value=st.one_of(s.mostly_scalars, s.write_values))
def test_writes_reach_the_emulator_as_meant(
    world: tuple[EmulatorServer, LegacyClient, dict[str, str]], target: tuple[str, str], value: Any
) -> None:
    """A pushed value is refused with a LegacyError or stored exactly as meant."""
    count("writes to the emulator")
    server, client, keys = world
    table, name = target
    try:
        client.push_field(table, keys[table], name, value)
    except (CircuitOpen, ServerUnavailable) as err:
        # The emulator is healthy: a failure must be about the value, not the connection.
        pytest.fail(f"the healthy emulator failed: {err}")
    except LegacyError:
        event("refused")
        return
    assert as_meant(value, stored(server, table, keys[table])[name], TARGETS[target]), value


KUNDEN = {"Name": "string", "Nummer": "long", "Gesperrt": "bool"}
KUNDEN |= {"created_date": "date", "modified_date": "date"}


@pytest.fixture(scope="module")
def memory_wsz() -> Iterator[MemoryBackend]:
    """The wsz_api shim over an in-memory client with a small Kunden table."""
    backend = MemoryBackend()
    today = dt.date.today()
    rows = [
        {
            "__KEY": str(i),
            "__STAMP": 1,
            "Name": f"K{i}",
            "Nummer": i,
            "Gesperrt": i % 2 == 0,
            "created_date": f"{today.day}!{today.month}!{today.year}",
            "modified_date": None,
        }
        for i in range(1, 5)
    ]
    backend.add_table("live", MemoryTable("Kunden", KUNDEN, rows))
    use_client(LegacyClient(backend, backend, ("live",), "live", page_size=2))
    yield backend
    use_client(None)


wsz_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "top": s.counts,
        "skip": s.counts,
        "limit": s.counts,
        "offset": s.counts,
        "new_data_only": st.one_of(st.booleans(), st.none(), st.integers(-1, 2)),
        "date_created_start": st.one_of(st.none(), st.dates(), s.odd_text, st.integers()),
        "where": st.one_of(
            st.none(),
            s.odd_text,
            st.dictionaries(s.any_names, s.values, max_size=2),
            st.dictionaries(st.sampled_from(sorted(KUNDEN)), s.mostly_scalars, max_size=2),
            st.integers(),
        ),
        "fields": st.one_of(st.none(), st.lists(s.names, max_size=2), s.odd_text, st.integers()),
        "order_by": st.one_of(st.none(), s.names, st.integers()),
        "mode": s.mostly(st.just("live"), st.one_of(st.just("live\n"), s.odd_text, st.integers())),
    },
)


@budget(1500)
@given(table=s.mostly(st.just("Kunden"), st.one_of(s.any_names, s.ints)), kwargs=wsz_kwargs)
def test_wsz_fetch_arguments(memory_wsz: MemoryBackend, table: Any, kwargs: dict[str, Any]) -> None:
    """``fetch_data_from_api`` refuses odd arguments with a LegacyError, never a builtin."""
    count("wsz fetch arguments")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            frame = fetch_data_from_api(table, **kwargs)
        except LegacyError:
            event("refused")
            return
    top = kwargs.get("top", kwargs.get("limit"))
    if isinstance(top, int) and not isinstance(top, bool):
        assert len(frame) <= top


@budget(800)
@given(
    table=s.mostly(st.just("Kunden"), st.one_of(s.any_names, s.ints)),
    key=s.mostly(st.sampled_from(["1", "2", 3]), st.one_of(s.odd_text, s.ints, st.none())),
    column=s.mostly(st.just("Name"), s.any_names),
    value=s.mostly(st.text(), s.write_values),
)
def test_wsz_push_and_get_arguments(
    memory_wsz: MemoryBackend, table: Any, key: Any, column: Any, value: Any
) -> None:
    """``push_data`` and ``get_record`` refuse odd arguments with a LegacyError only."""
    count("wsz push/get arguments")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(LegacyError):
            get_record(table, key)
        try:
            push_data(table, column, key, value)
        except LegacyError:
            event("refused")
            return
        assert get_record(table, key)[column] == encode_values({"v": value})["v"]


def test_where_dict_with_new_data_only(
    emulator_client: tuple[EmulatorServer, LegacyClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``where={"Gesperrt": False}`` with ``new_data_only=True`` reads the new unlocked rows."""
    server, client = emulator_client
    since = dt.date(2024, 6, 1)
    monkeypatch.setenv("LEGACY_API_NEW_DATA_SINCE", since.isoformat())
    use_client(client)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Explicit: since ADR 0016 an omitted new_data_only reads every row.
            frame = fetch_data_from_api("Kunden", where={"Gesperrt": False}, new_data_only=True)
    finally:
        use_client(None)
    rows = requests.get(
        f"{server.base_url}/rest/Kunden", params={"$top": "100000"}, timeout=10
    ).json()["__ENTITIES"]

    def day(text: str | None) -> dt.date | None:
        if not text:
            return None
        d, m, y = (int(p) for p in text.split("!"))
        return dt.date(y, m, d)

    def new(row: dict[str, Any]) -> bool:
        days = [day(row["created_date"]), day(row["modified_date"])]
        return any(d is not None and d >= since for d in days)

    wanted = {r["__KEY"] for r in rows if r["Gesperrt"] is False and new(r)}
    assert wanted  # the seed has such rows, so the comparison below means something
    assert wanted == set(frame["__KEY"])


@pytest.fixture(scope="module")
def emulator_client() -> Iterator[tuple[EmulatorServer, LegacyClient]]:
    """A fresh emulator whose rows were created today, with a LegacyClient on it."""
    with serve(EmulatorConfig(rows=30)) as server:
        transport = RequestsTransport(pool_size=2)
        backend, env = _backend(server.base_url, transport)
        yield server, LegacyClient(backend, backend, {"live": env})
        transport.close()


class Capture:
    """A raw server that answers every data request with an empty page and keeps its target.

    ``$catalog/T`` lists ``names`` (the example's fields), so the client's schema check
    lets every valid name through to the wire.
    """

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.names: list[str] = []

    def __call__(self, request: RawRequest, _n: int) -> Any:
        if request.target.startswith("/rest/$info"):
            return http_response(
                body=b'{"sessionInfo": []}', headers=[("Set-Cookie", "WASID4D=S1; path=/")]
            )
        if request.target.startswith("/rest/$catalog/"):
            attributes = [{"name": n, "kind": "storage", "type": "string"} for n in self.names]
            catalog = {"dataClasses": [{"name": "T", "attributes": attributes}]}
            return http_response(body=orjson.dumps(catalog))
        self.targets.append(request.target)
        return http_response(body=b'{"__COUNT": 0, "__FIRST": 0, "__SENT": 0, "__ENTITIES": []}')


@pytest.fixture(scope="module")
def captured() -> Iterator[tuple[Capture, LegacyClient]]:
    """A LegacyClient over FourDBackend on a capturing raw server."""
    capture = Capture()
    server = RawServer(capture)
    transport = RequestsTransport(pool_size=2)
    backend, env = _backend(server.base_url, transport)
    backend = attrs.evolve(backend, schema_ttl=0)  # each example's catalog is fetched anew
    yield capture, LegacyClient(backend, backend, {"live": env})
    transport.close()
    server.close()


@budget(600)
@given(where=st.dictionaries(s.mostly_valid_names, s.mostly_scalars, min_size=1, max_size=3))
def test_where_on_the_wire(captured: tuple[Capture, LegacyClient], where: dict[Any, Any]) -> None:
    """A where dict the client accepts arrives at the server, byte for byte, as its equalities."""
    count("where on the wire")
    capture, client = captured
    capture.names = [n for n in where if isinstance(n, str)]
    before = len(capture.targets)
    try:
        client.count("T", where)
    except InvalidQuery:
        event("refused")
        assert len(capture.targets) == before  # refused before any request
        return
    target = capture.targets[-1]
    got = comparisons(decoded(target.partition("?")[2]))
    assert [n for n, *_ in got] == list(where)
    for (_, op, value), want in zip(got, where.values(), strict=True):
        want_op, want_const = meant(want)
        assert op == want_op
        assert same_value(value, want_const), (value, want_const)


facade_kwargs = st.fixed_dictionaries(
    {},
    optional={
        "where": st.one_of(
            st.none(),
            st.dictionaries(s.mostly_valid_names, s.mostly_scalars, max_size=2),
            s.odd_text,
            st.integers(),
        ),
        "fields": st.one_of(st.none(), st.lists(s.mostly_valid_names, max_size=2), st.integers()),
        "order_by": st.one_of(st.none(), s.names, st.lists(s.names, max_size=2), st.integers()),
        "limit": s.counts,
        "skip": s.counts,
        "page_size": s.counts,
        "workers": st.one_of(st.none(), st.integers(-1, 3), st.sampled_from(s.BIG_INTS)),
        "raw": st.booleans(),
        "environment": s.mostly(
            st.none(), st.one_of(st.just("live\n"), s.odd_text, st.integers(), st.just(["live"]))
        ),
    },
)


@budget(800)
@given(
    table=s.mostly(st.just("Kunden"), st.one_of(s.any_names, s.ints)),
    kwargs=facade_kwargs,
    key=s.mostly(st.just("1"), st.one_of(s.odd_text, s.ints, st.none(), st.floats())),
)
def test_facade_arguments(
    memory_wsz: MemoryBackend, table: Any, kwargs: dict[str, Any], key: Any
) -> None:
    """``LegacyClient`` reads refuse odd arguments with a LegacyError and honour ``limit``."""
    count("facade arguments")
    client = LegacyClient(memory_wsz, memory_wsz, ("live",), "live", page_size=2)
    environment = kwargs.get("environment")
    with contextlib.suppress(LegacyError):
        client.get_record(table, key, environment=environment)
    with contextlib.suppress(LegacyError):
        client.count(table, kwargs.get("where"), environment=environment)
    try:
        frame = client.fetch_frame(table, **kwargs)
    except LegacyError:
        event("refused")
        return
    limit = kwargs.get("limit")
    if isinstance(limit, int):
        assert len(frame) <= limit
