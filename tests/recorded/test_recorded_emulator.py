"""Record real traffic from the emulator through the 4D adapter, then replay it stopped."""

from __future__ import annotations

import threading

import attrs
import pytest
from recorded_support import DEAD_URL, PASSWORD, USER, CookieSpy, build_backend

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.fourd import RequestsTransport
from legacy_adapters.recorded import (
    Cassette,
    CassetteMiss,
    Faults,
    RecordedTables,
    Recorder,
    Replayer,
)
from legacy_core.clock import ManualClock
from legacy_core.model import Environment, FieldUpdate, Query
from legacy_core.query import field
from legacy_core.service import LegacyClient

pytestmark = pytest.mark.integration

ARTIKEL = "Artikel_Variante"


class TestFullSession:
    @pytest.mark.parametrize("require_login", [True, False], ids=["401-relogin", "adopt"])
    def test_no_secret_in_cassette_and_replay_matches(self, tmp_path, require_login):
        """A session with login, write, expiry and re-login leaves no secret and replays.

        With ``require_login`` the expired cookie gets a 401 and the client logs in again;
        without it the server silently opens a new session whose cookie the client adopts,
        and the test forces the re-login through the provider.
        """
        config = EmulatorConfig(
            rows=200, seed=0, users={USER: PASSWORD}, require_login=require_login
        )

        def script(backend, expire):
            results = [backend.tables("live")]
            query = Query("live", ARTIKEL, filter=field("Nummer") > 5, order_by="Nummer", top=3)
            page = backend.read_page(query)
            first = page.records[0]
            (saved,) = backend.write(
                [FieldUpdate(ARTIKEL, first["__KEY"], {"Bezeichnung": "Neu"}, first["__STAMP"])]
            )
            expire()  # the server forgets every session
            results.append(backend.get_record("live", ARTIKEL, first["__KEY"]))
            if not require_login:
                provider = backend.sessions
                provider.invalidate(provider.acquire(backend.environments["live"]))
            results += [page.records, saved.stamp, backend.read_page(query).records]
            return results

        spy = CookieSpy(RequestsTransport())
        recorder = Recorder(spy, Cassette())
        with serve(config, port=0) as server:
            recorded = script(
                build_backend(recorder, server.base_url, credentials=True), server.expire_sessions
            )
        path = recorder.save(tmp_path / "session.json")
        data = path.read_bytes()

        assert len(spy.seen) >= 2  # the first login's cookie and the one after expiry
        for secret in [*spy.seen, PASSWORD, USER]:
            assert secret.encode() not in data
        interactions = Cassette.load(path).interactions
        logins = [x for x in interactions if x.request.path == "/rest/$directory/login"]
        assert 2 == len(logins)
        assert {"<<COOKIE:WASID4D:1>>", "<<COOKIE:WASID4D:2>>"} <= {
            value for x in interactions if x.response for _, value in x.response.set_cookies
        }

        # The server is stopped: the same script runs on the cassette alone.
        replayer = Replayer(Cassette.load(path))
        replayed = script(build_backend(replayer, DEAD_URL, credentials=True), lambda: None)
        assert recorded == replayed
        assert [] == replayer.unplayed()

    def test_replay_with_faults_recovers(self, emulator, tmp_path):
        """Injected 503s and resets on replay are absorbed by the facade's retries."""
        recorder = Recorder(RequestsTransport(), Cassette())
        client = LegacyClient(
            build_backend(recorder, emulator.base_url),
            build_backend(recorder, emulator.base_url),
            environments={"live": Environment("live", emulator.base_url)},
        )
        frame = client.fetch_frame(ARTIKEL, limit=50, page_size=25)
        recorder.save(tmp_path / "c.json")
        emulator.shutdown()
        replayer = Replayer(
            Cassette.load(tmp_path / "c.json"),
            faults=Faults(busy=0.2, reset=0.1, seed=3),
            sleep=lambda s: None,
        )
        backend = build_backend(replayer, DEAD_URL)
        replay_client = LegacyClient(
            backend, backend, environments={"live": Environment("live", DEAD_URL)}
        )
        # Retries wait on a manual clock: the test does not really sleep.
        replay_client.retry = attrs.evolve(replay_client.retry, clock=ManualClock())
        assert frame.equals(replay_client.fetch_frame(ARTIKEL, limit=50, page_size=25))
        assert sum(replayer.injected.values()) > 0


class TestParallelRecording:
    def test_four_workers_replay(self, emulator, tmp_path):
        """A frame fetched by 4 workers is fully recorded and replays with 4 workers."""
        recorder = Recorder(RequestsTransport(pool_size=4), Cassette())
        backend = build_backend(recorder, emulator.base_url)
        envs = {"live": Environment("live", emulator.base_url)}
        frame = LegacyClient(backend, backend, environments=envs).fetch_frame(
            ARTIKEL, page_size=20, workers=4
        )
        recorder.save(tmp_path / "parallel.json")
        emulator.shutdown()
        pages = [
            x
            for x in Cassette.load(tmp_path / "parallel.json").interactions
            if "$entityset" in x.request.path or x.request.path == f"/rest/{ARTIKEL}"
        ]
        assert 200 == len(frame)
        assert len(pages) >= 10

        replayer = Replayer(Cassette.load(tmp_path / "parallel.json"))
        backend = build_backend(replayer, DEAD_URL)
        envs = {"live": Environment("live", DEAD_URL)}
        replayed = LegacyClient(backend, backend, environments=envs).fetch_frame(
            ARTIKEL, page_size=20, workers=4
        )
        assert frame.equals(replayed)
        assert [] == replayer.unplayed()

    def test_threads_reading_directly(self, emulator, tmp_path):
        """Four threads reading pages through FourDBackend are recorded and replayed."""

        def read_all(backend, results):
            def worker(skip):
                page = backend.read_page(
                    Query("live", ARTIKEL, order_by="Nummer", top=25, skip=skip)
                )
                results[skip] = [r["Nummer"] for r in page.records]

            threads = [threading.Thread(target=worker, args=(s,)) for s in range(0, 200, 25)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        recorded: dict[int, list[int]] = {}
        recorder = Recorder(RequestsTransport(pool_size=4), Cassette())
        read_all(build_backend(recorder, emulator.base_url), recorded)
        recorder.save(tmp_path / "threads.json")
        emulator.shutdown()
        replayed: dict[int, list[int]] = {}
        replayer = Replayer(Cassette.load(tmp_path / "threads.json"))
        read_all(build_backend(replayer, DEAD_URL), replayed)
        assert recorded == replayed
        assert 8 == len(recorded)

    def test_miss_after_stop_is_loud(self, emulator, tmp_path):
        """A query the recording never saw fails with CassetteMiss, not a network error."""
        recorder = Recorder(RequestsTransport(), Cassette())
        build_backend(recorder, emulator.base_url).read_page(Query("live", ARTIKEL, top=5))
        recorder.save(tmp_path / "c.json")
        emulator.shutdown()
        backend = build_backend(Replayer(Cassette.load(tmp_path / "c.json")), DEAD_URL)
        with pytest.raises(CassetteMiss) as info:
            backend.read_page(Query("live", ARTIKEL, top=6))
        assert "query $top: recorded '5', sent '6'" in str(info.value)


class TestRecordedTablesFromEmulator:
    @pytest.mark.parametrize(
        "flt",
        [
            field("Bezeichnung").begins("engel"),
            field("Aktiv") == False,  # noqa: E712 - builds a filter
            field("created_date") >= "2020-01-01",
            field("Typ").in_([1, 2]) & (field("Nummer") > 130000),
        ],
        ids=repr,
    )
    def test_unseen_query_matches_the_server(self, emulator, flt):
        """A query never recorded, evaluated on recorded rows, agrees with the emulator."""
        recorder = Recorder(RequestsTransport(), Cassette())
        backend = build_backend(recorder, emulator.base_url)
        backend.schema("live", ARTIKEL)  # records $catalog: real attribute types
        seen = backend.read_page(Query("live", ARTIKEL, order_by="Nummer", top=80)).records
        last = seen[-1]["Nummer"]
        tables = RecordedTables.from_cassette(recorder.cassette)

        def nummern(reader):
            query = Query("live", ARTIKEL, filter=flt & (field("Nummer") <= last), top=1000)
            return sorted(r["Nummer"] for r in reader.read_page(query).records)

        expected = nummern(backend)
        assert expected == nummern(tables)
        assert expected  # the filter selects something among the recorded rows
