"""FourDBackend against the emulator over real loopback HTTP: reads, sessions, faults, writes."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import attrs
import pytest
import requests
from structlog.testing import capture_logs

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.testing import free_port
from legacy_core.errors import (
    AuthenticationFailed,
    EntitySetExpired,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerUnavailable,
    StampConflict,
    UnknownTable,
)
from legacy_core.model import Environment, FieldUpdate, Query
from legacy_core.query import Raw, field

from .conftest import ROWS, BackendFactory

pytestmark = pytest.mark.integration

ARTIKEL = "Artikel_Variante"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def requests_with(server: EmulatorServer, status: str) -> int:
    """How many requests the emulator answered with ``status``."""
    return sum(by.get(status, 0) for by in server.stats()["requests"].values())


def route_count(server: EmulatorServer, label: str) -> int:
    return sum(server.stats()["requests"].get(label, {}).values())


def first_artikel(backend: FourDBackend, n: int = 1) -> list[dict[str, Any]]:
    page = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=n))
    return [dict(r) for r in page.records]


class TestReads:
    def test_page_window(self, backend: FourDBackend) -> None:
        """A page carries __COUNT, __FIRST and __SENT of the window asked for."""
        page = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=50, skip=10))
        assert (ROWS, 10, 50, 50) == (page.count, page.first, page.sent, len(page.records))

    def test_default_page_is_100(self, backend: FourDBackend) -> None:
        """Without $top the server sends its default page of 100."""
        assert 100 == backend.read_page(Query("live", ARTIKEL)).sent

    def test_filter_and_projection(self, backend: FourDBackend) -> None:
        """$filter selects and $attributes projects (4D adds __KEY, __STAMP, __TIMESTAMP)."""
        (row,) = first_artikel(backend)
        page = backend.read_page(
            Query(
                "live", ARTIKEL, filter=field("Nummer") == row["Nummer"], attributes="Nummer,Aktiv"
            )
        )
        assert 1 == page.count
        assert {"__KEY", "__STAMP", "__TIMESTAMP", "Nummer", "Aktiv"} == set(page.records[0])

    def test_quoted_string_through_params(self, backend: FourDBackend) -> None:
        """A string with quotes and a backslash goes through $params and finds exactly its row."""
        (row,) = first_artikel(backend)
        tricky = 'Kerze "Rot" O\'Reilly \\ 100% & mehr'
        backend.write([FieldUpdate(ARTIKEL, row["__KEY"], {"Bezeichnung": tricky})])
        page = backend.read_page(Query("live", ARTIKEL, filter=field("Bezeichnung") == tricky))
        assert [row["__KEY"]] == [r["__KEY"] for r in page.records]

    def test_raw_values_exactly_as_sent(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """Raw mode returns the very JSON the server sent for each entity."""
        direct = requests.get(
            f"{emu.base_url}/rest/{ARTIKEL}", params={"$top": "5", "$orderby": "Nummer"}, timeout=5
        ).json()["__ENTITIES"]
        page = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=5))
        assert direct == [dict(r) for r in page.records]

    def test_typed_values(self, backend: FourDBackend) -> None:
        """Typed mode decodes dates, times, timestamps, stamps, keys and relations; rest as sent."""
        query = Query("live", ARTIKEL, order_by="Nummer", top=60)
        raw = backend.read_page(query).records
        typed = backend.read_page(attrs.evolve(query, typed=True)).records
        empty_dates = 0
        for r, t in zip(raw, typed, strict=True):
            assert r["__KEY"] == t["__KEY"]
            assert isinstance(t["__STAMP"], int)
            assert t["__TIMESTAMP"].tzinfo is not None
            for name in ("Auslaufdatum", "Release_Date", "created_date", "modified_date"):
                if r[name] in (None, "0!0!0"):
                    empty_dates += 1
                    assert None is t[name]
                else:
                    d, m, y = (int(x) for x in r[name].split("!"))
                    assert dt.date(y, m, d) == t[name]
            for name in ("created_time", "modified_time"):
                if r[name] is not None:
                    ms = r[name]
                    assert dt.time(ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60) == t[name]
            fam = r["ArtikelFamilie"]
            assert (fam["__deferred"]["__KEY"] if fam else None) == t["ArtikelFamilie"]
            assert (r["Preise"], r["Teile"], r["Nummer"]) == (t["Preise"], t["Teile"], t["Nummer"])
        assert empty_dates > 0  # the seed has empty dates: 0!0!0 really was exercised

    def test_schema_cached_per_environment(
        self, emu: EmulatorServer, backend: FourDBackend
    ) -> None:
        """The catalog of a table is fetched once, then served from the cache."""
        first = backend.schema("live", ARTIKEL)
        backend.read_page(Query("live", ARTIKEL, top=1, typed=True))
        assert first == backend.schema("live", ARTIKEL)
        assert ("date", "duration", "relatedEntity") == (
            first["Release_Date"],
            first["created_time"],
            first["ArtikelFamilie"],
        )
        assert 1 == route_count(emu, "GET /rest/$catalog/{table}")

    def test_snapshot_pages_and_release(self, backend: FourDBackend) -> None:
        """An entity set pages through the snapshot once each; after release it is gone."""
        query = Query("live", ARTIKEL, filter=field("Aktiv") == True, order_by="Nummer", top=40)  # noqa: E712
        first = backend.open_snapshot(query, timeout=120)
        assert first.entity_set is not None
        keys = [r["__KEY"] for r in first.records]
        for skip in range(40, first.count, 40):
            page = backend.read_page(attrs.evolve(query, skip=skip, entity_set=first.entity_set))
            keys += [r["__KEY"] for r in page.records]
        assert (first.count, first.count) == (len(keys), len(set(keys)))
        backend.release_snapshot("live", ARTIKEL, first.entity_set)
        with pytest.raises(EntitySetExpired) as info:
            backend.read_page(Query("live", ARTIKEL, entity_set=first.entity_set, top=1))
        assert (404, (1802,)) == (info.value.status, info.value.codes)
        backend.release_snapshot("live", ARTIKEL, first.entity_set)  # unknown: not an error

    def test_snapshot_expires(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """An entity set idle beyond its $timeout raises EntitySetExpired, never a session error."""
        first = backend.open_snapshot(Query("live", ARTIKEL, top=10), timeout=60)
        emu.advance_clock(61)
        with pytest.raises(EntitySetExpired):
            backend.read_page(Query("live", ARTIKEL, entity_set=first.entity_set, skip=10, top=10))

    def test_get_record(self, backend: FourDBackend) -> None:
        """One entity by UUID key and by numeric-string key."""
        (row,) = first_artikel(backend)
        # As sent: a single entity also names its dataclass.
        assert {**row, "__entityModel": ARTIKEL} == dict(
            backend.get_record("live", ARTIKEL, row["__KEY"])
        )
        assert 17000 == backend.get_record("live", "Artikel_Stamm", "17000")["ID"]

    def test_get_record_missing(self, backend: FourDBackend) -> None:
        """A missing key is RecordNotFound (4D 1800) with the context in the message."""
        with pytest.raises(RecordNotFound) as info:
            backend.get_record("live", ARTIKEL, "F" * 32)
        err = info.value
        assert ("live", ARTIKEL, 404, (1800,)) == (
            err.environment,
            err.table,
            err.status,
            err.codes,
        )
        assert HEX32.match(err.request_id or "")
        assert str(err.request_id) in str(err)

    def test_unknown_table(self, backend: FourDBackend) -> None:
        """An unknown table is UnknownTable (404 / 1801), not an expired session."""
        with pytest.raises(UnknownTable) as info:
            backend.read_page(Query("live", "Gibt_es_nicht", top=1))
        assert ("live", "Gibt_es_nicht", 404) == (
            info.value.environment,
            info.value.table,
            info.value.status,
        )
        for part in ("live", "Gibt_es_nicht", "404", info.value.request_id or "?"):
            assert part in str(info.value)

    def test_unknown_attribute(self, backend: FourDBackend) -> None:
        """Filtering on an attribute the table lacks is InvalidQuery (500 / 1500 + 1804)."""
        with pytest.raises(InvalidQuery) as info:
            backend.read_page(Query("live", ARTIKEL, filter=field("Farbe") == "rot"))
        assert (500, (1500, 1804)) == (info.value.status, info.value.codes)
        assert "Farbe" in str(info.value)

    def test_malformed_filter(self, backend: FourDBackend) -> None:
        """A malformed filter is InvalidQuery, never an empty result."""
        with pytest.raises(InvalidQuery):
            backend.read_page(Query("live", ARTIKEL, filter=Raw("Nummer ==== (")))

    def test_tables_and_info(self, backend: FourDBackend) -> None:
        """$catalog lists the tables; $info answers with the session list."""
        assert {ARTIKEL, "Artikel_Stamm", "Kunden"} <= set(backend.tables("live"))
        assert 1 == len(backend.info("live")["sessionInfo"])

    def test_page_size_limit(self, emu: EmulatorServer, make_backend: BackendFactory) -> None:
        """A page larger than the configured limit is refused before any request."""
        backend = make_backend(emu, page_size_limit=500)
        with pytest.raises(InvalidQuery):
            backend.read_page(Query("live", ARTIKEL, top=501))
        assert 0 == emu.stats()["requests_total"]


class TestSessions:
    def test_one_session_for_many_requests(
        self, emu: EmulatorServer, backend: FourDBackend
    ) -> None:
        """Thirty reads cost one session: the cookie is sent every time, never a second one."""
        for skip in range(30):
            backend.read_page(Query("live", ARTIKEL, top=1, skip=skip))
        assert (1, 0) == (emu.stats()["sessions_created"], requests_with(emu, "401"))

    def test_emulator_refuses_two_cookies(self, emu: EmulatorServer) -> None:
        """The emulator answers 401 to two session cookies, so "no 401" proves we send one."""
        info = requests.get(f"{emu.base_url}/rest/$info", timeout=5)
        value = info.cookies["WASID4D"]
        doubled = requests.get(
            f"{emu.base_url}/rest/$catalog",
            headers={"Cookie": f"WASID4D={value}; WASID4D={value}"},
            timeout=5,
        )
        assert 401 == doubled.status_code

    def test_concurrent_workers_share_one_session(
        self, emu: EmulatorServer, backend: FourDBackend
    ) -> None:
        """Four threads reading at once share one session and never send a bad cookie."""
        errors: list[BaseException] = []

        def work(offset: int) -> None:
            try:
                for i in range(15):
                    backend.read_page(Query("live", ARTIKEL, top=2, skip=offset * 15 + i))
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert [] == errors
        assert (1, 0) == (emu.stats()["sessions_created"], requests_with(emu, "401"))

    def test_new_cookie_is_adopted(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """When the server replaces an expired session, the new cookie is adopted and kept."""
        backend.read_page(Query("live", ARTIKEL, top=1))
        emu.expire_sessions()
        with capture_logs() as logs:
            for _ in range(5):
                backend.read_page(Query("live", ARTIKEL, top=1))
        # One replacement session, adopted once; no login, no 401 (never two cookies).
        assert (2, 0) == (emu.stats()["sessions_created"], requests_with(emu, "401"))
        adopts = [
            e for e in logs if e["event"] == "legacy_api.session.adopt" and e.get("cookie_name")
        ]
        assert 1 <= len(adopts)
        # The cookie we now send is the one live session the server lists.
        (listed,) = backend.info("live")["sessionInfo"]
        current = backend.sessions.acquire(backend.environments["live"])
        assert listed["sessionID"] == current.cookie_value

    def test_login_with_credentials(
        self, login_emulator: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """With credentials the session comes from $directory/login, under a 4DSID_ cookie."""
        login_emulator.reset()
        backend = make_backend(
            login_emulator, credentials={"live": Credentials("admin", "s3cret!")}
        )
        with capture_logs() as logs:
            for _ in range(3):
                backend.read_page(Query("live", ARTIKEL, top=1))
        assert 1 == login_emulator.stats()["logins"]
        (login,) = [e for e in logs if e.get("login")]
        assert ("4DSID_WSZ-DB", "/rest/$directory/login") == (login["cookie_name"], login["path"])

    def test_bad_credentials(
        self, login_emulator: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """Refused credentials raise AuthenticationFailed naming the env, never the password."""
        login_emulator.reset()
        backend = make_backend(
            login_emulator, credentials={"live": Credentials("admin", "wrong-pw")}
        )
        with pytest.raises(AuthenticationFailed) as info:
            backend.read_page(Query("live", ARTIKEL, top=1))
        assert "live" in str(info.value)
        assert "wrong-pw" not in str(info.value) + repr(info.value)
        assert "wrong-pw" not in repr(Credentials("admin", "wrong-pw"))

    def test_killed_session_mid_read_relogs_once(
        self, login_emulator: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """A session killed between pages costs exactly one re-login; the read goes on."""
        login_emulator.reset()
        backend = make_backend(
            login_emulator, credentials={"live": Credentials("admin", "s3cret!")}
        )
        first = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=10))
        login_emulator.expire_sessions()
        second = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=10, skip=10))
        third = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=10, skip=20))
        keys = [r["__KEY"] for p in (first, second, third) for r in p.records]
        assert (30, 2) == (len(set(keys)), login_emulator.stats()["logins"])

    def test_killed_session_write_applied_once(
        self, login_emulator: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """A write refused with 401 (not applied) is sent once more after one re-login."""
        login_emulator.reset()
        backend = make_backend(
            login_emulator, credentials={"live": Credentials("admin", "s3cret!")}
        )
        (row,) = backend.read_page(Query("live", ARTIKEL, top=1)).records
        login_emulator.expire_sessions()
        (result,) = backend.write([FieldUpdate(ARTIKEL, row["__KEY"], {"Bezeichnung": "Nach 401"})])
        assert (1, 2) == (len(login_emulator.audit()), login_emulator.stats()["logins"])
        assert row["__STAMP"] + 1 == result.stamp

    def test_licence_exhausted_no_login_storm(
        self, emu: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """402 at login raises LicenceExhausted; later calls back off without another login."""
        emu.set_faults(licences=1)
        requests.get(f"{emu.base_url}/rest/$info", timeout=5)  # someone else holds the licence
        backend = make_backend(emu)
        with pytest.raises(LicenceExhausted) as info:
            backend.read_page(Query("live", ARTIKEL, top=1))
        assert (True, 402) == (info.value.not_applied, info.value.status)
        for _ in range(5):
            with pytest.raises(LicenceExhausted):
                backend.read_page(Query("live", ARTIKEL, top=1))
        # The login and its three grace retries, then the shared backoff: no storm.
        assert 4 == emu.stats()["licences_refused"]


class TestFaults:
    def test_503_is_server_busy(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """A 503 burst raises ServerBusy (not applied, with request id); then reads work again."""
        backend.read_page(Query("live", ARTIKEL, top=1))
        emu.set_faults(error_503_rate=1.0)
        with pytest.raises(ServerBusy) as info:
            backend.read_page(Query("live", ARTIKEL, top=1))
        err = info.value
        assert (503, True, True, ARTIKEL) == (err.status, err.not_applied, err.transient, err.table)
        assert HEX32.match(err.request_id or "")
        emu.set_faults()
        assert 1 == backend.read_page(Query("live", ARTIKEL, top=1)).sent

    def test_reset_on_every_try(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """A connection reset on the resend too raises ServerUnavailable with the context."""
        backend.read_page(Query("live", ARTIKEL, top=1))
        emu.set_faults(reset_rate=1.0)
        with pytest.raises(ServerUnavailable) as info:
            backend.read_page(Query("live", ARTIKEL, top=1))
        assert ("live", ARTIKEL, "GET") == (
            info.value.environment,
            info.value.table,
            info.value.method,
        )
        assert 2 == emu.stats()["faults"]["reset"]  # the stale-connection resend, then give up

    def test_truncated_body(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """A truncated body is a transient ProtocolError on a read."""
        backend.read_page(Query("live", ARTIKEL, top=1))
        emu.set_faults(truncate_rate=1.0)
        with pytest.raises(ProtocolError) as info:
            backend.read_page(Query("live", ARTIKEL, top=100))
        assert (True, ARTIKEL) == (info.value.transient, info.value.table)

    def test_snapshot_read_under_faults_is_exact(
        self, emu: EmulatorServer, backend: FourDBackend
    ) -> None:
        """Paging a snapshot through 503s, resets and truncations yields each entity once."""
        query = Query("live", ARTIKEL, order_by="Nummer", top=25)
        first = backend.open_snapshot(query, timeout=600)
        emu.set_faults(error_503_rate=0.2, reset_rate=0.15, truncate_rate=0.15, seed=7)
        keys = [r["__KEY"] for r in first.records]
        transient = 0
        for skip in range(25, first.count, 25):
            for _ in range(50):
                try:
                    page = backend.read_page(
                        attrs.evolve(query, skip=skip, entity_set=first.entity_set)
                    )
                except LegacyError as err:
                    if not err.transient:
                        raise
                    transient += 1
                    continue
                keys += [r["__KEY"] for r in page.records]
                break
        emu.set_faults()
        assert transient > 0
        expected = [
            r["__KEY"]
            for r in backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=ROWS)).records
        ]
        assert expected == keys

    def test_keep_alive_closes_tolerated(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """The server closes each connection after 100 requests; 250 reads still all succeed."""
        for i in range(250):
            assert 1 == backend.read_page(Query("live", ARTIKEL, top=1, skip=i)).sent
        stats = emu.stats()
        assert (251, 1) == (stats["requests_total"], stats["sessions_created"])

    def test_connection_refused(self, make_backend: BackendFactory) -> None:
        """A server that is down raises ServerUnavailable, not applied."""
        port = free_port()  # nobody listens there any more

        class Down:
            base_url = f"http://127.0.0.1:{port}"

        backend = make_backend(Down())
        with pytest.raises(ServerUnavailable) as info:
            backend.read_page(Query("live", ARTIKEL, top=1))
        assert (True, "live") == (info.value.not_applied, info.value.environment)

    def test_read_timeout(self, emu: EmulatorServer, make_backend: BackendFactory) -> None:
        """A server slower than the read timeout raises Timeout (maybe applied)."""
        backend = make_backend(emu, read_timeout=0.2)
        backend.read_page(Query("live", ARTIKEL, top=1))
        emu.set_faults(latency_ms=600)
        with pytest.raises(LegacyError) as info:
            backend.read_page(Query("live", ARTIKEL, top=1))
        assert isinstance(info.value, TimeoutError)
        assert False is info.value.not_applied


class TestWrites:
    def test_update_reads_back(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """An update with the current stamp is saved and read back; dates go out as D!M!YYYY."""
        (row,) = first_artikel(backend)
        update = FieldUpdate(
            ARTIKEL,
            row["__KEY"],
            {"Release_Date": dt.date(2025, 3, 4), "Aktiv": False},
            row["__STAMP"],
        )
        (result,) = backend.write([update])
        again = backend.get_record("live", ARTIKEL, row["__KEY"])
        assert (row["__STAMP"] + 1, "4!3!2025", False) == (
            result.stamp,
            again["Release_Date"],
            again["Aktiv"],
        )
        assert result.record["__TIMESTAMP"].startswith("!!")  # the update-answer quirk, as sent

    def test_stale_stamp(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """A stale stamp raises StampConflict with the key and the server's current values."""
        (row,) = first_artikel(backend)
        backend.write(
            [FieldUpdate(ARTIKEL, row["__KEY"], {"Bezeichnung": "Erster"}, row["__STAMP"])]
        )
        with pytest.raises(StampConflict) as info:
            backend.write(
                [FieldUpdate(ARTIKEL, row["__KEY"], {"Bezeichnung": "Zweiter"}, row["__STAMP"])]
            )
        err = info.value
        assert (row["__KEY"], row["__STAMP"] + 1, "Erster") == (
            err.key,
            err.current_stamp,
            err.current["Bezeichnung"],
        )
        assert (1263, "live", ARTIKEL) == (err.codes[0], err.environment, err.table)

    def test_batches_under_max_request_size(
        self, emu: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """Updates are split into several POSTs under max_request_size, all applied in order."""
        backend = make_backend(emu, max_request_size=700)
        rows = first_artikel(backend, 12)
        updates = [
            FieldUpdate(ARTIKEL, r["__KEY"], {"Bezeichnung": f"Posten {i:03d}"})
            for i, r in enumerate(rows)
        ]
        results = backend.write(updates)
        posts = route_count(emu, "POST /rest/{table}?$method=update")
        assert [r["__KEY"] for r in rows] == [r.key for r in results]
        assert 12 == len(emu.audit())
        assert 2 <= posts < 12

    def test_single_entity_over_limit_refused(
        self, emu: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """One entity larger than max_request_size is refused before any POST."""
        backend = make_backend(emu, max_request_size=200)
        with pytest.raises(InvalidQuery, match="maximum"):
            backend.write([FieldUpdate(ARTIKEL, "K" * 32, {"Bezeichnung": "x" * 300})])
        assert 0 == route_count(emu, "POST /rest/{table}?$method=update")

    def test_atomic_must_fit_one_request(
        self, emu: EmulatorServer, make_backend: BackendFactory
    ) -> None:
        """An atomic batch that needs two requests is refused instead of being half-atomic."""
        backend = make_backend(emu, max_request_size=300)
        updates = [FieldUpdate(ARTIKEL, f"{i:032X}", {"Bezeichnung": "y" * 100}) for i in range(4)]
        with pytest.raises(InvalidQuery, match="atomic"):
            backend.write(updates, atomic=True)

    def test_atomic_conflict_applies_nothing(
        self, emu: EmulatorServer, backend: FourDBackend
    ) -> None:
        """In an atomic batch a stale stamp raises StampConflict and nothing is saved."""
        a, b = first_artikel(backend, 2)
        with pytest.raises(StampConflict) as info:
            backend.write(
                [
                    FieldUpdate(ARTIKEL, a["__KEY"], {"Bezeichnung": "A"}),
                    FieldUpdate(ARTIKEL, b["__KEY"], {"Bezeichnung": "B"}, b["__STAMP"] + 5),
                ],
                atomic=True,
            )
        assert (b["__KEY"], []) == (info.value.key, emu.audit())

    def test_unknown_key_and_field(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """An unknown key is RecordNotFound; an unknown field InvalidQuery naming it."""
        with pytest.raises(RecordNotFound):
            backend.write([FieldUpdate(ARTIKEL, "F" * 32, {"Bezeichnung": "x"})])
        (row,) = first_artikel(backend)
        with pytest.raises(InvalidQuery, match="Farbe"):
            backend.write([FieldUpdate(ARTIKEL, row["__KEY"], {"Farbe": "rot"})])

    def test_create(self, emu: EmulatorServer, backend: FourDBackend) -> None:
        """create posts without __KEY and returns the new entity with its key and stamp."""
        result = backend.create("live", "Artikel_Stamm", {"Bezeichnung": "Neu", "Bestand": 3})
        record = backend.get_record("live", "Artikel_Stamm", result.key)
        assert ("Neu", 3, result.stamp) == (
            record["Bezeichnung"],
            record["Bestand"],
            record["__STAMP"],
        )


class TestLogging:
    def test_request_events_without_cookie(self, backend: FourDBackend) -> None:
        """Each request logs legacy_api.http.request with its context; no cookie value anywhere."""
        with capture_logs() as logs:
            backend.read_page(Query("live", ARTIKEL, top=1))
            with pytest.raises(UnknownTable):
                backend.read_page(Query("live", "Nope", top=1))
        events = [e for e in logs if e["event"] == "legacy_api.http.request"]
        ok, failed = events[-2], events[-1]
        assert ("debug", 200, ARTIKEL, "GET", "/rest/Artikel_Variante") == (
            ok["log_level"],
            ok["status"],
            ok["table"],
            ok["method"],
            ok["path"],
        )
        # An expected 404 is raised, not also a WARNING line (the caller has the error).
        assert ("info", 404, "UnknownTable") == (
            failed["log_level"],
            failed["status"],
            failed["error"],
        )
        assert HEX32.match(ok["request_id"])
        session = backend.sessions.acquire(backend.environments["live"])
        assert session.cookie_value not in repr(logs)


class TestLogin:
    def test_info_login_reads_lifetime(self, transport: RequestsTransport) -> None:
        """GET /rest/$info logs in; the lifetime is our session's lifeTime from sessionInfo."""
        with serve(EmulatorConfig(rows=10, session_lifetime=5400)) as server:
            result = FourDLogin(transport)(Environment("live", server.base_url))
            (listed,) = requests.get(
                f"{server.base_url}/rest/$info",
                headers={"Cookie": f"WASID4D={result.cookie_value}"},
                timeout=5,
            ).json()["sessionInfo"]
        assert ("WASID4D", 5400.0) == (result.cookie_name, result.lifetime)
        assert listed["sessionID"] == result.cookie_value
        assert result.cookie_value not in repr(result)

    def test_directory_login_session_length(
        self, login_emulator: EmulatorServer, transport: RequestsTransport
    ) -> None:
        """$directory/login sends the credentials as headers and asks for the session length."""
        login_emulator.reset()
        login = FourDLogin(
            transport,
            credentials={"live": Credentials("admin", "s3cret!")},
            session_length_minutes=90,
        )
        result = login.login(Environment("live", login_emulator.base_url))
        assert ("4DSID_WSZ-DB", 5400.0) == (result.cookie_name, result.lifetime)
        assert 1 == login_emulator.stats()["logins"]

    def test_licence_exhausted_at_login(
        self, emu: EmulatorServer, transport: RequestsTransport
    ) -> None:
        """A 402 to the login is LicenceExhausted, not an authentication error."""
        emu.set_faults(licences=0)
        with pytest.raises(LicenceExhausted) as info:
            FourDLogin(transport)(Environment("live", emu.base_url))
        assert (402, (1823,), True) == (info.value.status, info.value.codes, info.value.not_applied)
