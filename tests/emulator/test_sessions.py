"""Conformance: sessions, cookies, licences, $info and $directory/login (issue 3, item 3)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests

from fourd_emulator import EmulatorServer

pytestmark = pytest.mark.integration

HEX32 = re.compile(r"^[0-9A-F]{32}$")


class TestSessionCookie:
    def test_first_request_sets_wasid4d_cookie(self, base: str) -> None:
        """A request without a cookie gets a WASID4D cookie of 32 uppercase hex characters."""
        r = requests.get(f"{base}/$info", timeout=5)
        assert 200 == r.status_code
        assert HEX32.match(r.cookies["WASID4D"])

    def test_cookie_is_reused_without_new_session(self, base: str, server: EmulatorServer) -> None:
        """Requests that send the cookie back stay in the same session and set no new cookie."""
        first = requests.get(f"{base}/$info", timeout=5)
        cookie = first.cookies["WASID4D"]
        for _ in range(3):
            r = requests.get(f"{base}/Personal", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5)
            assert 200 == r.status_code
            assert "Set-Cookie" not in r.headers
        assert 1 == server.stats()["sessions_created"]

    def test_every_cookieless_request_opens_a_session(
        self, base: str, server: EmulatorServer
    ) -> None:
        """Each request without a cookie opens a new session (pyERP's licence leak)."""
        for _ in range(4):
            requests.get(f"{base}/$info", timeout=5)
        stats = server.stats()
        assert 4 == stats["sessions_created"]
        assert 4 == stats["active_sessions"]

    def test_unknown_cookie_value_opens_new_session(self, base: str) -> None:
        """An unknown session id is silently replaced by a new cookie."""
        r = requests.get(f"{base}/$info", headers={"Cookie": "WASID4D=" + "A" * 32}, timeout=5)
        assert 200 == r.status_code
        assert "A" * 32 != r.cookies["WASID4D"]

    def test_two_session_cookies_fail_authentication(self, base: str) -> None:
        """Two WASID4D cookies in one request answer 401, as pyERP observed."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        r = requests.get(
            f"{base}/Personal",
            headers={"Cookie": f"WASID4D={cookie}; WASID4D={cookie}"},
            timeout=5,
        )
        assert 401 == r.status_code
        assert "__ERROR" in r.json()

    def test_doubled_cookie_name_fails_authentication(self, base: str) -> None:
        """``WASID4D=WASID4D=…`` is refused with 401 instead of opening a session."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        r = requests.get(
            f"{base}/Personal", headers={"Cookie": f"WASID4D=WASID4D={cookie}"}, timeout=5
        )
        assert 401 == r.status_code

    def test_other_cookies_are_ignored(self, base: str, server: EmulatorServer) -> None:
        """Unrelated cookies next to the session cookie do not matter."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        r = requests.get(
            f"{base}/Personal", headers={"Cookie": f"csrftoken=x; WASID4D={cookie}"}, timeout=5
        )
        assert 200 == r.status_code
        assert 1 == server.stats()["sessions_created"]

    def test_scalable_session_cookie_name(self, sid_server: EmulatorServer) -> None:
        """With cookie=4DSID the cookie is named 4DSID_<app name> and WASID4D is not set."""
        r = requests.get(f"{sid_server.base_url}/rest/$info", timeout=5)
        assert HEX32.match(r.cookies["4DSID_WSZ-DB"])
        assert "WASID4D" not in r.cookies

    def test_value_under_the_other_name_is_not_a_session(self, sid_server: EmulatorServer) -> None:
        """A 4DSID value sent as WASID4D does not identify the session: a new one opens."""
        value = requests.get(f"{sid_server.base_url}/rest/$info", timeout=5).cookies["4DSID_WSZ-DB"]
        r = requests.get(
            f"{sid_server.base_url}/rest/$info", headers={"Cookie": f"WASID4D={value}"}, timeout=5
        )
        assert value != r.cookies["4DSID_WSZ-DB"]
        assert 2 == sid_server.stats()["sessions_created"]


class TestSessionLifetime:
    def test_session_survives_59_idle_minutes(self, base: str, server: EmulatorServer) -> None:
        """A session idle for less than its 60 minutes is still valid."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        server.advance_clock(59 * 60)
        r = requests.get(f"{base}/Personal", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5)
        assert "Set-Cookie" not in r.headers

    def test_session_expires_after_60_idle_minutes(self, base: str, server: EmulatorServer) -> None:
        """After 60 idle minutes the old cookie is replaced by a new session's cookie."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        server.advance_clock(60 * 60 + 1)
        r = requests.get(f"{base}/Personal", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5)
        assert 200 == r.status_code
        assert cookie != r.cookies["WASID4D"]
        assert 1 == server.stats()["active_sessions"]

    def test_use_extends_the_lifetime(self, base: str, server: EmulatorServer) -> None:
        """Each request restarts the idle timer."""
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        for _ in range(3):
            server.advance_clock(40 * 60)
            r = requests.get(f"{base}/$info", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5)
            assert "Set-Cookie" not in r.headers

    def test_expire_one_session(self, base: str, server: EmulatorServer) -> None:
        """expire_sessions(id) ends exactly that session."""
        a = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        b = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        assert 1 == server.expire_sessions(a)
        r = requests.get(f"{base}/$info", headers={"Cookie": f"WASID4D={b}"}, timeout=5)
        assert "Set-Cookie" not in r.headers
        r = requests.get(f"{base}/$info", headers={"Cookie": f"WASID4D={a}"}, timeout=5)
        assert a != r.cookies["WASID4D"]

    def test_expire_all_sessions_over_http(self, base: str, server: EmulatorServer) -> None:
        """POST /_emulator/sessions/expire with an empty body ends every session."""
        for _ in range(3):
            requests.get(f"{base}/$info", timeout=5)
        r = requests.post(f"{server.base_url}/_emulator/sessions/expire", json={}, timeout=5)
        assert {"expired": 3} == r.json()
        assert 0 == server.stats()["active_sessions"]


class TestLicences:
    def test_cap_answers_402_with_1823(self, base: str, server: EmulatorServer) -> None:
        """Beyond the licence cap a new session is refused with HTTP 402 and errCode 1823."""
        server.set_faults(licences=2)
        for _ in range(2):
            assert 200 == requests.get(f"{base}/$info", timeout=5).status_code
        r = requests.get(f"{base}/$info", timeout=5)
        assert 402 == r.status_code
        assert [1823] == [e["errCode"] for e in r.json()["__ERROR"]]
        assert "WASID4D" not in r.cookies

    def test_existing_sessions_keep_working_at_the_cap(
        self, base: str, server: EmulatorServer
    ) -> None:
        """Sessions that hold a licence are served while new ones are refused."""
        server.set_faults(licences=1)
        cookie = requests.get(f"{base}/$info", timeout=5).cookies["WASID4D"]
        assert 402 == requests.get(f"{base}/Personal", timeout=5).status_code
        r = requests.get(f"{base}/Personal", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5)
        assert 200 == r.status_code

    def test_expired_sessions_free_their_licence(self, base: str, server: EmulatorServer) -> None:
        """When sessions expire their licences become free again."""
        server.set_faults(licences=1)
        requests.get(f"{base}/$info", timeout=5)
        assert 402 == requests.get(f"{base}/$info", timeout=5).status_code
        server.advance_clock(3601)
        assert 200 == requests.get(f"{base}/$info", timeout=5).status_code

    def test_refusals_are_counted(self, base: str, server: EmulatorServer) -> None:
        """Stats count 402 refusals."""
        server.set_faults(licences=0)
        requests.get(f"{base}/$info", timeout=5)
        assert 1 == server.stats()["licences_refused"]


class TestInfo:
    def test_info_lists_every_session(self, base: str) -> None:
        """$info has the documented keys and one sessionInfo entry per session."""
        requests.get(f"{base}/$info", timeout=5)
        body = requests.get(f"{base}/$info", timeout=5).json()
        assert {
            "cacheSize",
            "usedCache",
            "entitySetCount",
            "entitySet",
            "ProgressInfo",
            "sessionInfo",
        } <= set(body)
        assert 2 == len(body["sessionInfo"])

    def test_session_info_fields(self, base: str, server: EmulatorServer) -> None:
        """sessionInfo has lifeTime in minutes and an ISO expiration one hour ahead."""
        r = requests.get(f"{base}/$info", timeout=5)
        (info,) = r.json()["sessionInfo"]
        assert r.cookies["WASID4D"] == info["sessionID"]
        assert 60 == info["lifeTime"]
        assert "" == info["userName"]
        expires = dt.datetime.fromisoformat(info["expiration"].replace("Z", "+00:00"))
        ahead = expires - dt.datetime.now(dt.UTC)
        assert dt.timedelta(minutes=59) < ahead <= dt.timedelta(minutes=60, seconds=1)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", info["expiration"])


class TestDirectoryLogin:
    def login(
        self, url: str, http: requests.Session, user: str, password: str, length: str = "60"
    ) -> requests.Response:
        return http.post(
            f"{url}/rest/$directory/login",
            headers={"username-4D": user, "password-4D": password, "session-4D-length": length},
            timeout=5,
        )

    def test_login_with_good_credentials(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """A correct login answers {"result": true}, sets the cookie and counts a login."""
        r = self.login(server.base_url, http, "admin", "secret")
        assert {"result": True} == r.json()
        assert "WASID4D" in r.cookies
        assert 1 == server.stats()["logins"]

    def test_login_with_bad_password(self, server: EmulatorServer, http: requests.Session) -> None:
        """A wrong password answers 401 with {"result": false}."""
        r = self.login(server.base_url, http, "admin", "wrong")
        assert 401 == r.status_code
        assert {"result": False} == r.json()
        assert 1 == server.stats()["login_failures"]

    def test_session_length_sets_lifetime(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """session-4D-length (minutes) becomes the session's lifeTime; below 60 counts as 60."""
        self.login(server.base_url, http, "admin", "secret", "120")
        (info,) = http.get(f"{server.base_url}/rest/$info", timeout=5).json()["sessionInfo"]
        assert 120 == info["lifeTime"]
        assert "admin" == info["userName"]
        with requests.Session() as other:
            self.login(server.base_url, other, "admin", "secret", "5")
            infos = other.get(f"{server.base_url}/rest/$info", timeout=5).json()["sessionInfo"]
        assert [60, 120] == sorted(i["lifeTime"] for i in infos)

    def test_credentials_never_in_the_url(
        self, server: EmulatorServer, http: requests.Session
    ) -> None:
        """Credentials in the query string are not accepted: only the headers count."""
        r = http.post(
            f"{server.base_url}/rest/$directory/login",
            params={"username-4D": "admin", "password-4D": "secret"},
            timeout=5,
        )
        assert {"result": False} == r.json()

    def test_logout_is_not_offered(self, base: str) -> None:
        """pyERP's server does not offer $directory/logout (404 with quirks)."""
        assert 404 == requests.get(f"{base}/$directory/logout", timeout=5).status_code

    def test_logout_without_quirks(
        self, plain_server: EmulatorServer, http: requests.Session
    ) -> None:
        """Without quirks, logout ends the session as 4D documents."""
        http.get(f"{plain_server.base_url}/rest/$info", timeout=5)
        r = http.get(f"{plain_server.base_url}/rest/$directory/logout", timeout=5)
        assert {"result": True} == r.json()
        assert 0 == plain_server.stats()["active_sessions"]


class TestRequireLogin:
    def test_data_without_login_is_401(self, login_server: EmulatorServer) -> None:
        """With --require-login, a data request in an unauthenticated session gets 401."""
        r = requests.get(f"{login_server.base_url}/rest/Personal", timeout=5)
        assert 401 == r.status_code
        assert "__ERROR" in r.json()

    def test_info_stays_open(self, login_server: EmulatorServer) -> None:
        """$info answers without login (it is the health probe)."""
        assert 200 == requests.get(f"{login_server.base_url}/rest/$info", timeout=5).status_code

    def test_data_after_login(self, login_server: EmulatorServer, http: requests.Session) -> None:
        """After $directory/login the same session reads data."""
        r = http.post(
            f"{login_server.base_url}/rest/$directory/login",
            headers={"username-4D": "admin", "password-4D": "secret"},
            timeout=5,
        )
        assert {"result": True} == r.json()
        r = http.get(f"{login_server.base_url}/rest/Personal", timeout=5)
        assert 200 == r.status_code
        assert 40 == r.json()["__COUNT"]

    def test_failed_login_stays_unauthorised(
        self, login_server: EmulatorServer, http: requests.Session
    ) -> None:
        """A failed login leaves the session unauthenticated."""
        http.post(
            f"{login_server.base_url}/rest/$directory/login",
            headers={"username-4D": "admin", "password-4D": "nope"},
            timeout=5,
        )
        assert 401 == http.get(f"{login_server.base_url}/rest/Personal", timeout=5).status_code
