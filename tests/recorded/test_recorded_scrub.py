"""Tests of the secret placeholders: learning, replacing, restoring and the leak scan."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from recorded_support import COOKIE, ScriptedTransport, json_response, make_request

from legacy_adapters.recorded import (
    Cassette,
    Recorder,
    Scrubber,
    SecretLeak,
    fake_value,
    find_leaks,
    restore_placeholders,
    scan_file,
)
from legacy_adapters.recorded._scrub import parse_set_cookie


class TestScrubber:
    def test_same_value_same_placeholder(self):
        """A cookie value always gets the same placeholder; a new value the next number."""
        scrubber = Scrubber()
        first = scrubber.register(COOKIE, "COOKIE", "WASID4D")
        again = scrubber.register(COOKIE, "COOKIE", "WASID4D")
        second = scrubber.register("F" * 32, "COOKIE", "WASID4D")
        assert ("<<COOKIE:WASID4D:1>>", "<<COOKIE:WASID4D:2>>") == (first, second)
        assert first == again

    @pytest.mark.parametrize("name", ["password-4D", "PASSWORD-4D", "Password-4d"])
    def test_secret_headers_any_case(self, name):
        """Credential headers are replaced whatever the case of their name."""
        scrubber = Scrubber()
        assert "<<HEADER:password-4d:1>>" == scrubber.header(name, "s3cret-Passw0rd")

    def test_configured_header(self):
        """A configured header name is a secret header too."""
        scrubber = Scrubber(secret_headers=frozenset({"X-Api-Key"}))
        assert "<<HEADER:x-api-key:1>>" == scrubber.header("x-api-key", "abcdef123456")

    def test_cookie_header_keeps_name(self):
        """Only the value of a Cookie header is replaced; the name stays readable."""
        scrubber = Scrubber()
        scrubber.learn_request_headers({"Cookie": f"WASID4D={COOKIE}"})
        assert "WASID4D=<<COOKIE:WASID4D:1>>" == scrubber.header("cookie", f"WASID4D={COOKIE}")

    def test_secret_inside_text_and_json(self):
        """A known value is replaced inside longer strings and in JSON keys and values."""
        scrubber = Scrubber()
        scrubber.learn_response({}, (("WASID4D", COOKIE),))
        body = {"sessionInfo": [{"sessionID": COOKIE}], COOKIE: f"x{COOKIE}y"}
        assert {
            "sessionInfo": [{"sessionID": "<<COOKIE:WASID4D:1>>"}],
            "<<COOKIE:WASID4D:1>>": "x<<COOKIE:WASID4D:1>>y",
        } == scrubber.value(body)

    def test_session_ids_in_info_are_secrets(self):
        """Session ids listed by ``$info`` (other clients' cookies) become placeholders."""
        scrubber = Scrubber()
        scrubber.learn_body({"sessionInfo": [{"sessionID": "A" * 32}]})
        assert "<<SESSIONID:1>>" == scrubber.text("A" * 32)

    def test_set_cookie_header_parsed(self):
        """Comma-joined Set-Cookie headers yield every cookie, not the Expires date."""
        header = (
            f"WASID4D={COOKIE}; Expires=Wed, 21 Oct 2026 07:28:00 GMT; path=/, "
            "4DSID_WSZ-DB=ABCDEF; HttpOnly"
        )
        assert [("WASID4D", COOKIE), ("4DSID_WSZ-DB", "ABCDEF")] == parse_set_cookie(header)

    def test_reserve_continues_numbering(self):
        """Placeholders already in a cassette are not handed out again."""
        scrubber = Scrubber()
        scrubber.reserve(["<<COOKIE:WASID4D:3>>"])
        assert "<<COOKIE:WASID4D:4>>" == scrubber.register(COOKIE, "COOKIE", "WASID4D")


class TestFakeValues:
    def test_cookie_placeholder_looks_like_a_cookie(self):
        """A restored cookie is 32 uppercase hex characters, stable across runs."""
        value = fake_value("<<COOKIE:WASID4D:1>>")
        assert 32 == len(value)
        assert value == value.upper()
        int(value, 16)
        assert value == fake_value("<<COOKIE:WASID4D:1>>")
        assert value != fake_value("<<COOKIE:WASID4D:2>>")

    def test_restore_in_text(self):
        """Every placeholder inside a text is replaced by its fake value."""
        text = restore_placeholders("WASID4D=<<COOKIE:WASID4D:1>>; path=/")
        assert f"WASID4D={fake_value('<<COOKIE:WASID4D:1>>')}; path=/" == text


class TestLeakScan:
    @pytest.mark.parametrize(
        "spelling",
        ["pa ss/wörd", "pa%20ss%2Fw%C3%B6rd", json.dumps("pa ss/wörd")[1:-1]],
        ids=["raw", "percent", "json"],
    )
    def test_finds_every_spelling(self, spelling):
        """A secret is found as is, percent-encoded or JSON-escaped."""
        assert [0] == find_leaks(f"prefix {spelling} suffix".encode(), ["pa ss/wörd"])

    def test_clean_data(self):
        """Data without the secret has no leak."""
        assert [] == find_leaks(b"<<HEADER:password-4d:1>>", ["pa ss/word"])

    def test_scan_file_removes_leaky_file(self, tmp_path):
        """A file holding a secret is removed and the error does not repeat the value."""
        path = tmp_path / "leak.json"
        path.write_text(f'{{"cookie": "{COOKIE}"}}')
        with pytest.raises(SecretLeak) as info:
            scan_file(path, [COOKIE])
        assert not path.exists()
        assert COOKIE not in str(info.value)

    def test_late_secret_is_scrubbed_at_save(self, tmp_path, scripted: ScriptedTransport):
        """A value learned after an interaction was recorded is still replaced when saving."""
        scrubber = Scrubber()
        recorder = Recorder(scripted, Cassette(), scrubber)
        recorder.send(make_request("/rest/Kunde"))
        scrubber.register("Ada", "SECRET")  # too short for text replacement: stays
        scrubber.register('"Name": "Ada"', "SECRET")  # not how JSON is saved: harmless
        scrubber.register("Kunde", "SECRET")
        path = recorder.save(tmp_path / "ok.json")
        assert b"Kunde" not in path.read_bytes()
        assert b"<<SECRET:" in path.read_bytes()

    def test_save_refuses_a_leak(self, tmp_path, scripted: ScriptedTransport):
        """A secret that was not scrubbed fails the save and no file is left behind."""
        recorder = Recorder(scripted, Cassette(), Scrubber())
        recorder.send(make_request("/rest/Kunde"))
        with pytest.raises(SecretLeak):
            recorder.cassette.save(tmp_path / "bad.json", secrets=["Kunde"])
        assert not (tmp_path / "bad.json").exists()


_SECRET = st.text(alphabet="0123456789ABCDEFabcdef-_.!$%&/()=?+ äöü", min_size=8, max_size=40)


class TestNoLeakProperty:
    @settings(max_examples=60, deadline=None)
    @given(
        cookie=_SECRET,
        renewed=_SECRET,
        password=_SECRET,
        header_case=st.sampled_from(["password-4D", "PASSWORD-4D", "Password-4d"]),
    )
    def test_recorded_session_never_holds_a_secret(self, cookie, renewed, password, header_case):
        """Whatever the values and header spelling, a saved cassette holds none of them."""
        assume(len({cookie, renewed, password}) == 3)
        assume(
            not any(
                a in b
                for a in (cookie, renewed, password)
                for b in (cookie, renewed, password)
                if a != b
            )
        )

        def handler(request):
            if request.path.endswith("/login"):
                return json_response({"result": True}, cookies=(("WASID4D", cookie),))
            return json_response(
                {"sessionInfo": [{"sessionID": renewed}], "echo": f"x{cookie}y"},
                cookies=(("4DSID_WSZ-DB", renewed),),
            )

        recorder = Recorder(ScriptedTransport(handler), Cassette())
        recorder.send(
            make_request(
                "/rest/$directory/login",
                method="POST",
                headers={"username-4D": "recorder-account", header_case: password},
            )
        )
        recorder.send(make_request("/rest/$info", headers={"Cookie": f"WASID4D={cookie}"}))
        data = recorder.cassette.dumps(recorder.scrubber.text)
        assert [] == find_leaks(data, [cookie, renewed, password, "recorder-account"])
