"""Tests of Recorder, Replayer and use_cassette against a scripted 4D stand-in."""

from __future__ import annotations

import json
import threading

import pytest
from recorded_support import COOKIE, ScriptedTransport, json_response, make_request

from legacy_adapters.recorded import (
    Cassette,
    CassetteMiss,
    Faults,
    Recorder,
    RecordMode,
    Replayer,
    fake_value,
    use_cassette,
)
from legacy_core.errors import ConfigurationError, LegacyError, ServerUnavailable, Timeout


def record(scripted, *requests):
    """A cassette holding the answers of ``scripted`` to ``requests``."""
    recorder = Recorder(scripted, Cassette())
    for request in requests:
        recorder.send(request)
    return recorder.cassette


class TestRecorder:
    def test_interaction_is_readable(self, tmp_path, scripted: ScriptedTransport):
        """A recorded request keeps decoded path, query, filter and JSON body; no base URL."""
        recorder = Recorder(scripted, Cassette())
        recorder.send(make_request("/rest/$info"))
        recorder.send(
            make_request(
                "/rest/Kunde",
                (("$filter", 'Name = "Ada Lovelace"'), ("$top", "10")),
                headers={"Cookie": f"WASID4D={COOKIE}"},
            )
        )
        recorder.send(
            make_request(
                "/rest/Kunde",
                (("$method", "update"),),
                method="POST",
                body={"__KEY": "1", "__STAMP": 1, "Name": "Grace"},
                headers={"Cookie": f"WASID4D={COOKIE}"},
            )
        )
        doc = json.loads(recorder.save(tmp_path / "c.json").read_text())
        assert ("legacy-api-cassette", 1) == (doc["format"], doc["version"])
        read, write = doc["interactions"][1], doc["interactions"][2]
        assert {
            "environment": "live",
            "method": "GET",
            "path": "/rest/Kunde",
            "query": {"$filter": 'Name = "Ada Lovelace"', "$top": "10"},
            "headers": {"Cookie": "WASID4D=<<COOKIE:WASID4D:1>>"},
        } == read["request"]
        assert {"__KEY": "1", "__STAMP": 1, "Name": "Grace"} == write["request"]["json"]
        assert 200 == read["response"]["status"]
        assert "Ada" == read["response"]["json"]["__ENTITIES"][0]["Name"]
        assert COOKIE not in (tmp_path / "c.json").read_text()

    def test_set_cookie_scrubbed_both_places(self, tmp_path, scripted: ScriptedTransport):
        """The cookie a login sets is a placeholder in set_cookies, headers and body."""
        recorder = Recorder(scripted, Cassette())
        recorder.send(make_request("/rest/$info"))
        response = json.loads(recorder.save(tmp_path / "c.json").read_text())["interactions"][0][
            "response"
        ]
        assert [["WASID4D", "<<COOKIE:WASID4D:1>>"]] == response["set_cookies"]
        assert response["headers"]["set-cookie"].startswith("WASID4D=<<COOKIE:WASID4D:1>>;")
        assert "<<COOKIE:WASID4D:1>>" == response["json"]["sessionInfo"][0]["sessionID"]

    def test_transport_errors_are_recorded(self, tmp_path):
        """A connection failure while recording is recorded and raised again on replay."""

        def handler(request):
            msg = "live did not answer within 60s"
            raise Timeout(msg, environment="live", not_applied=False)

        recorder = Recorder(ScriptedTransport(handler), Cassette())
        with pytest.raises(Timeout):
            recorder.send(make_request("/rest/Kunde"))
        replayer = Replayer(Cassette.load(recorder.save(tmp_path / "c.json")))
        with pytest.raises(Timeout) as info:
            replayer.send(make_request("/rest/Kunde"))
        assert (False, "live") == (info.value.not_applied, info.value.environment)

    def test_threads_are_all_recorded(self, scripted: ScriptedTransport):
        """Requests sent from eight threads at once are all recorded."""
        recorder = Recorder(scripted, Cassette())
        barrier = threading.Barrier(8)

        def fetch(skip):
            barrier.wait()
            for page in range(10):
                recorder.send(make_request("/rest/Kunde", (("$skip", str(skip * 10 + page)),)))

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        skips = sorted(int(x.request.query[0][1]) for x in recorder.cassette.interactions)
        assert list(range(80)) == skips


class TestReplayer:
    def test_replays_with_fake_cookie(self, scripted: ScriptedTransport):
        """A replayed login sets the fake value of the recorded cookie placeholder."""
        replayer = Replayer(record(scripted, make_request("/rest/$info")))
        response = replayer.send(make_request("/rest/$info", base_url="http://127.0.0.1:1"))
        fake = fake_value("<<COOKIE:WASID4D:1>>")
        assert (("WASID4D", fake),) == response.set_cookies
        assert fake == json.loads(response.body)["sessionInfo"][0]["sessionID"]
        assert COOKIE.encode() not in response.body

    def test_miss_is_a_typed_error_with_diff(self, scripted: ScriptedTransport):
        """A request without a recording raises CassetteMiss naming the nearest one."""
        replayer = Replayer(record(scripted, make_request("/rest/Kunde", (("$top", "10"),))))
        with pytest.raises(CassetteMiss) as info:
            replayer.send(make_request("/rest/Kunde", (("$top", "20"),)))
        assert isinstance(info.value, LegacyError)
        assert "query $top: recorded '10', sent '20'" in str(info.value)
        assert ("live", "/rest/Kunde", "req-1") == (
            info.value.environment,
            info.value.path,
            info.value.request_id,
        )

    def test_repeated_requests_play_in_order(self):
        """Identical requests get their recorded answers in the order they were recorded."""
        counter = iter(range(1, 100))
        scripted = ScriptedTransport(lambda r: json_response({"n": next(counter)}))
        cassette = record(scripted, *[make_request("/rest/$info")] * 3)
        replayer = Replayer(cassette)
        answers = [json.loads(replayer.send(make_request("/rest/$info")).body)["n"] for _ in "abc"]
        assert [1, 2, 3] == answers
        with pytest.raises(CassetteMiss) as info:
            replayer.send(make_request("/rest/$info"))
        assert "all 3 recorded answer(s) to this request were already played" in str(info.value)

    def test_allow_repeats(self, scripted: ScriptedTransport):
        """With allow_repeats the last answer is played again once the others are used."""
        replayer = Replayer(record(scripted, make_request("/rest/Kunde")), allow_repeats=True)
        for _ in range(3):
            assert 200 == replayer.send(make_request("/rest/Kunde")).status
        assert [] == replayer.unplayed()

    def test_content_not_arrival_order(self, scripted: ScriptedTransport):
        """Distinct requests match by content, whatever order they arrive in."""
        requests = [make_request("/rest/Kunde", (("$skip", str(i)),)) for i in range(5)]
        replayer = Replayer(record(scripted, *requests))
        for request in reversed(requests):
            replayer.send(request)
        assert [] == replayer.unplayed()

    def test_mode_new_records_misses(self, tmp_path, scripted: ScriptedTransport):
        """In mode new a hit is replayed and a miss is forwarded, recorded and saved."""
        path = tmp_path / "c.json"
        record(scripted, make_request("/rest/Kunde")).save(path)
        replayer = Replayer(Cassette.load(path), mode="new", inner=scripted)
        scripted.sent.clear()
        replayer.send(make_request("/rest/Kunde"))
        replayer.send(make_request("/rest/Kunde", (("$top", "5"),)))
        replayer.save()
        assert (1, 2) == (len(scripted.sent), len(Cassette.load(path)))

    def test_replayer_refuses_record_modes(self):
        """A Replayer only replays (none) or replays and records misses (new)."""
        with pytest.raises(ConfigurationError):
            Replayer(Cassette(), mode="all")
        with pytest.raises(ConfigurationError):
            Replayer(Cassette(), mode="new")


class TestFaults:
    def test_busy_and_reset_are_seeded(self, scripted: ScriptedTransport):
        """The same seed injects the same faults; a faulted request keeps its recording."""
        cassette = record(scripted, make_request("/rest/Kunde"))

        def run():
            replayer = Replayer(
                cassette, faults=Faults(busy=0.3, reset=0.3, seed=7), allow_repeats=True
            )
            outcomes = []
            for _ in range(30):
                try:
                    outcomes.append(replayer.send(make_request("/rest/Kunde")).status)
                except ServerUnavailable:
                    outcomes.append("reset")
            return outcomes

        first = run()
        assert first == run()
        assert {200, 503, "reset"} == set(first)

    def test_latency(self, scripted: ScriptedTransport):
        """Latency is waited through the injected sleeper and added to ``elapsed``."""
        waits: list[float] = []
        replayer = Replayer(
            record(scripted, make_request("/rest/Kunde")),
            faults=Faults(latency=0.25),
            sleep=waits.append,
        )
        response = replayer.send(make_request("/rest/Kunde"))
        assert [0.25] == waits
        assert response.elapsed >= 0.25

    def test_invalid_probability(self):
        """A probability outside [0, 1] is a configuration error."""
        with pytest.raises(ConfigurationError):
            Faults(busy=1.5)


class TestUseCassette:
    def test_none_needs_the_file(self, tmp_path):
        """Mode none without a cassette file fails up front, saying how to record it."""
        with pytest.raises(ConfigurationError, match="--legacy-record=once"):
            with use_cassette(tmp_path / "missing.json"):
                pass

    def test_once_records_then_replays(self, tmp_path, scripted: ScriptedTransport):
        """Mode once records a missing cassette and replays an existing one."""
        path = tmp_path / "c.json"
        with use_cassette(path, mode="once", transport=scripted) as first:
            first.send(make_request("/rest/Kunde"))
        with use_cassette(path, mode="once", transport=scripted) as second:
            second.send(make_request("/rest/Kunde"))
        assert isinstance(first, Recorder)
        assert isinstance(second, Replayer)
        assert 1 == len(scripted.sent)

    def test_all_records_again(self, tmp_path, scripted: ScriptedTransport):
        """Mode all overwrites the cassette with a fresh recording."""
        path = tmp_path / "c.json"
        with use_cassette(path, mode=RecordMode.ALL, transport=scripted) as t:
            t.send(make_request("/rest/Kunde"))
            t.send(make_request("/rest/Kunde"))
        with use_cassette(path, mode="all", transport=scripted) as t:
            t.send(make_request("/rest/Kunde"))
        assert 1 == len(Cassette.load(path))

    def test_recording_needs_a_transport(self, tmp_path):
        """Recording without a real transport is a configuration error."""
        with pytest.raises(ConfigurationError):
            with use_cassette(tmp_path / "c.json", mode="all"):
                pass

    def test_unknown_mode(self, tmp_path):
        """An unknown mode name is refused with the valid ones listed."""
        with pytest.raises(ConfigurationError, match="none, once, new, all"):
            with use_cassette(tmp_path / "c.json", mode="sometimes"):
                pass
