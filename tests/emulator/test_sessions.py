"""Conformance: sessions, cookies, licences, $info and $directory/login (issue 3, item 3)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import fourd_emulator._app
from fourd_emulator import EmulatorConfig, EmulatorServer, serve

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
        """$info has a real v17 server's keys (no entitySet while there is none), one
        sessionInfo entry per session."""
        requests.get(f"{base}/$info", timeout=5)
        body = requests.get(f"{base}/$info", timeout=5).json()
        assert {
            "cacheSize",
            "usedCache",
            "entitySetCount",
            "ProgressInfo",
            "sessionInfo",
            "HTTPConnections",
        } == set(body)
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


def _login(
    url: str,
    cookie: str | None = None,
    *,
    user: str = "admin",
    password: str = "secret",
    length: str = "60",
    name: str = "WASID4D",
) -> requests.Response:
    """POST $directory/login to the emulator at ``url`` (with ``cookie`` as its session)."""
    headers = {"username-4D": user, "password-4D": password, "session-4D-length": length}
    if cookie is not None:
        headers["Cookie"] = f"{name}={cookie}"
    return requests.post(f"{url}/rest/$directory/login", headers=headers, timeout=5)


def _get(url: str, path: str, cookie: str | None = None) -> requests.Response:
    """GET /rest/``path`` with ``cookie`` as the WASID4D session (None: no cookie)."""
    headers = {"Cookie": f"WASID4D={cookie}"} if cookie is not None else {}
    return requests.get(f"{url}/rest/{path}", headers=headers, timeout=5)


class TestLogout:
    def test_logout_frees_the_licence(self, base: str, server: EmulatorServer) -> None:
        """With one licence, logging out lets the next client open a session."""
        server.set_faults(licences=1)
        cookie = _get(server.base_url, "$info").cookies["WASID4D"]
        assert 402 == _get(server.base_url, "$info").status_code
        r = _get(server.base_url, "$directory/logout", cookie)
        assert 200 == r.status_code
        assert {"result": True} == r.json()
        assert "Set-Cookie" not in r.headers
        assert 200 == _get(server.base_url, "$info").status_code
        stats = server.stats()
        assert (1, 2) == (stats["sessions_logged_out"], stats["sessions_created"])

    def test_logout_by_post(self, base: str, server: EmulatorServer) -> None:
        """POST $directory/logout ends the session like GET."""
        cookie = _get(server.base_url, "$info").cookies["WASID4D"]
        r = requests.post(
            f"{base}/$directory/logout", headers={"Cookie": f"WASID4D={cookie}"}, timeout=5
        )
        assert {"result": True} == r.json()
        assert 0 == server.stats()["active_sessions"]

    def test_logged_out_cookie_is_dead(self, base: str, server: EmulatorServer) -> None:
        """After logout the old cookie no longer names a session: a new one is opened."""
        cookie = _get(server.base_url, "$info").cookies["WASID4D"]
        _get(server.base_url, "$directory/logout", cookie)
        r = _get(server.base_url, "Personal", cookie)
        assert cookie != r.cookies["WASID4D"]
        assert 2 == server.stats()["sessions_created"]

    def test_logout_without_cookie_opens_no_session(
        self, base: str, server: EmulatorServer
    ) -> None:
        """A cookieless logout closes nothing, answers {"result": false} and takes no licence."""
        r = _get(server.base_url, "$directory/logout")
        assert (200, {"result": False}) == (r.status_code, r.json())
        assert "Set-Cookie" not in r.headers
        stats = server.stats()
        assert (0, 0, 0) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["sessions_logged_out"],
        )

    def test_logout_with_dead_cookie_opens_no_session(
        self, base: str, server: EmulatorServer
    ) -> None:
        """A logout with an expired or unknown cookie answers {"result": false} and sets none."""
        cookie = _get(server.base_url, "$info").cookies["WASID4D"]
        server.advance_clock(3601)
        for value in (cookie, "B" * 32):
            r = _get(server.base_url, "$directory/logout", value)
            assert (200, {"result": False}) == (r.status_code, r.json())
            assert "Set-Cookie" not in r.headers
        stats = server.stats()
        assert (1, 0, 0) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["sessions_logged_out"],
        )

    def test_logout_at_the_cap_needs_no_licence(self, base: str, server: EmulatorServer) -> None:
        """A logout is answered even when no licence is free (it never asks for one)."""
        server.set_faults(licences=0)
        r = _get(server.base_url, "$directory/logout")
        assert (200, {"result": False}) == (r.status_code, r.json())
        assert 0 == server.stats()["licences_refused"]

    def test_logout_is_independent_of_quirks(
        self, server: EmulatorServer, plain_server: EmulatorServer
    ) -> None:
        """Logout works with quirks on (default) and off: only ``logout`` switches it."""
        assert server.emulator.config.quirks
        assert not plain_server.emulator.config.quirks
        for srv in (server, plain_server):
            cookie = _get(srv.base_url, "$info").cookies["WASID4D"]
            assert {"result": True} == _get(srv.base_url, "$directory/logout", cookie).json()
            assert 0 == srv.stats()["active_sessions"]

    def test_logout_waits_for_the_running_request(self) -> None:
        """With serialize_sessions a logout and a request of its session never overlap."""
        ends: dict[str, float] = {}

        def slow_request(url: str, cookie: str) -> None:
            assert 200 == _get(url, "$info", cookie).status_code
            ends["request"] = time.monotonic()

        with serve(EmulatorConfig(rows=50, serialize_sessions=True)) as srv:
            cookie = _get(srv.base_url, "$info").cookies["WASID4D"]
            srv.set_faults(latency_ms=500)
            thread = threading.Thread(target=slow_request, args=(srv.base_url, cookie))
            thread.start()
            time.sleep(0.1)
            r = _get(srv.base_url, "$directory/logout", cookie)
            ends["logout"] = time.monotonic()
            thread.join(timeout=5)
        assert {"result": True} == r.json()
        # Each holds the session for its 500 ms latency: whichever ran second ended 500 ms
        # after the first (overlapping, they would end about 100 ms apart).
        assert abs(ends["logout"] - ends["request"]) >= 0.4


class TestNoLogout:
    def test_logout_is_404(self, no_logout_server: EmulatorServer) -> None:
        """With logout=False, $directory/logout answers 404 and opens no session."""
        for method in ("GET", "POST"):
            r = requests.request(
                method, f"{no_logout_server.base_url}/rest/$directory/logout", timeout=5
            )
            assert 404 == r.status_code
            assert "__ERROR" in r.json()
            assert "Set-Cookie" not in r.headers
        assert 0 == no_logout_server.stats()["sessions_created"]

    def test_session_survives_the_refused_logout(self, no_logout_server: EmulatorServer) -> None:
        """A 404 logout leaves the caller's session and licence in place."""
        url = no_logout_server.base_url
        cookie = _get(url, "$info").cookies["WASID4D"]
        assert 404 == _get(url, "$directory/logout", cookie).status_code
        r = _get(url, "Personal", cookie)
        assert 200 == r.status_code
        assert "Set-Cookie" not in r.headers
        stats = no_logout_server.stats()
        assert (1, 1, 0) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["sessions_logged_out"],
        )


class TestForceLogin:
    def test_requests_before_login_are_401_without_session(
        self, force_server: EmulatorServer
    ) -> None:
        """Without a logged-in session every request, $info too, is 401 and opens none."""
        for path in ("Personal", "$info", "$catalog"):
            r = _get(force_server.base_url, path)
            assert 401 == r.status_code
            messages = [e["message"] for e in r.json()["__ERROR"]]
            assert ["Unauthorized: log in with $directory/login first"] == messages
            assert "Set-Cookie" not in r.headers
        stats = force_server.stats()
        assert (0, 0) == (stats["sessions_created"], stats["active_sessions"])

    def test_login_opens_the_session(self, force_server: EmulatorServer) -> None:
        """A good login opens the session, sets its cookie, and that cookie reads data."""
        r = _login(force_server.base_url)
        assert (200, {"result": True}) == (r.status_code, r.json())
        cookie = r.cookies["WASID4D"]
        data = _get(force_server.base_url, "Personal", cookie)
        assert 200 == data.status_code
        assert "Set-Cookie" not in data.headers
        assert 1 == force_server.stats()["sessions_created"]

    def test_bad_credentials_open_no_session(self, force_server: EmulatorServer) -> None:
        """A failed login answers 401 {"result": false} and opens no session."""
        r = _login(force_server.base_url, password="wrong")
        assert (401, {"result": False}) == (r.status_code, r.json())
        assert "Set-Cookie" not in r.headers
        stats = force_server.stats()
        assert (0, 1) == (stats["sessions_created"], stats["login_failures"])

    def test_login_by_get_opens_no_session(self, force_server: EmulatorServer) -> None:
        """$directory/login by GET is 405 and takes no licence, even with good credentials."""
        r = requests.get(
            f"{force_server.base_url}/rest/$directory/login",
            headers={"username-4D": "admin", "password-4D": "secret"},
            timeout=5,
        )
        assert 405 == r.status_code
        assert 0 == force_server.stats()["sessions_created"]

    def test_dead_cookie_is_401_without_new_session(self, force_server: EmulatorServer) -> None:
        """An expired or unknown cookie answers 401 and no new session is opened."""
        cookie = _login(force_server.base_url).cookies["WASID4D"]
        force_server.advance_clock(3601)
        for value in (cookie, "C" * 32):
            r = _get(force_server.base_url, "Personal", value)
            assert 401 == r.status_code
            assert "Set-Cookie" not in r.headers
        stats = force_server.stats()
        assert (1, 0) == (stats["sessions_created"], stats["active_sessions"])

    def test_login_with_live_cookie_reuses_the_session(self, force_server: EmulatorServer) -> None:
        """A login sent with a live session's cookie authenticates that session again."""
        cookie = _login(force_server.base_url).cookies["WASID4D"]
        r = _login(force_server.base_url, cookie)
        assert {"result": True} == r.json()
        assert "Set-Cookie" not in r.headers
        stats = force_server.stats()
        assert (1, 2) == (stats["sessions_created"], stats["logins"])

    def test_login_with_dead_cookie_opens_a_new_session(self, force_server: EmulatorServer) -> None:
        """A good login with an expired cookie opens a fresh session with a new cookie."""
        cookie = _login(force_server.base_url).cookies["WASID4D"]
        force_server.advance_clock(3601)
        r = _login(force_server.base_url, cookie)
        assert {"result": True} == r.json()
        assert cookie != r.cookies["WASID4D"]
        assert 1 == force_server.stats()["active_sessions"]

    def test_licence_cap_applies_at_login(self, force_server: EmulatorServer) -> None:
        """At the cap a good login gets 402 / 1823, a bad one 401; the holder keeps working."""
        force_server.set_faults(licences=1)
        cookie = _login(force_server.base_url).cookies["WASID4D"]
        r = _login(force_server.base_url)
        assert 402 == r.status_code
        assert [1823] == [e["errCode"] for e in r.json()["__ERROR"]]
        assert "Set-Cookie" not in r.headers
        assert 401 == _login(force_server.base_url, password="wrong").status_code
        assert 200 == _get(force_server.base_url, "Personal", cookie).status_code
        assert 1 == force_server.stats()["licences_refused"]

    def test_logout_frees_the_licence_for_a_login(self, force_server: EmulatorServer) -> None:
        """With one licence, a logout lets the next login in."""
        force_server.set_faults(licences=1)
        cookie = _login(force_server.base_url).cookies["WASID4D"]
        assert 402 == _login(force_server.base_url).status_code
        assert {"result": True} == _get(force_server.base_url, "$directory/logout", cookie).json()
        assert 200 == _login(force_server.base_url).status_code

    def test_concurrent_logins_at_the_cap(self, force_server: EmulatorServer) -> None:
        """Eight threads logging in at once with three licences: three get in, five get 402."""
        force_server.set_faults(licences=3)
        barrier = threading.Barrier(8)

        def attempt() -> int:
            barrier.wait(timeout=5)
            return _login(force_server.base_url).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(lambda _: attempt(), range(8)))
        assert [200] * 3 + [402] * 5 == codes
        stats = force_server.stats()
        assert (3, 3, 3) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["active_sessions_peak"],
        )


class TestRequireLoginSession:
    def test_login_with_the_cookie_of_a_401_authenticates_it(
        self, login_server: EmulatorServer
    ) -> None:
        """The session a 401 opened is the one a login with its cookie authenticates."""
        url = login_server.base_url
        refused = _get(url, "Personal")
        assert 401 == refused.status_code
        cookie = refused.cookies["WASID4D"]
        r = _login(url, cookie)
        assert {"result": True} == r.json()
        assert "Set-Cookie" not in r.headers
        data = _get(url, "Personal", cookie)
        assert 200 == data.status_code
        assert "Set-Cookie" not in data.headers
        stats = login_server.stats()
        assert (1, 1, 1) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["authenticated_sessions"],
        )


class TestIdleTimeout:
    def test_used_session_outlives_idle_one(self, base: str, server: EmulatorServer) -> None:
        """A session used every 40 minutes lives 3 hours; an idle one dies after 60 minutes."""
        used = _get(server.base_url, "$info").cookies["WASID4D"]
        idle = _get(server.base_url, "$info").cookies["WASID4D"]
        for step in range(1, 6):
            server.advance_clock(40 * 60)
            r = _get(server.base_url, "Personal", used)
            assert "Set-Cookie" not in r.headers, f"used session died after {step * 40} min"
            if step == 2:
                # 80 minutes idle: the licence of the idle session is free again.
                assert 1 == server.stats()["active_sessions"]
        r = _get(server.base_url, "Personal", idle)
        assert idle != r.cookies["WASID4D"]
        assert 3 == server.stats()["sessions_created"]

    def test_unknown_cookie_at_the_cap_is_402(self, base: str, server: EmulatorServer) -> None:
        """An unknown cookie needs a new licence: at the cap it is refused with 402 / 1823."""
        server.set_faults(licences=1)
        _get(server.base_url, "$info")
        r = _get(server.base_url, "$info", "D" * 32)
        assert 402 == r.status_code
        assert [1823] == [e["errCode"] for e in r.json()["__ERROR"]]
        assert "Set-Cookie" not in r.headers

    def test_expired_cookie_at_the_cap_is_402(self, base: str, server: EmulatorServer) -> None:
        """An expired cookie whose licence was taken by another session gets 402 / 1823."""
        server.set_faults(licences=1)
        stale = _get(server.base_url, "$info").cookies["WASID4D"]
        server.advance_clock(3601)
        assert 200 == _get(server.base_url, "$info").status_code
        r = _get(server.base_url, "$info", stale)
        assert 402 == r.status_code
        assert [1823] == [e["errCode"] for e in r.json()["__ERROR"]]


SET_COOKIE = re.compile(
    r"^WASID4D=(?P<id>[0-9A-F]{32}); Path=/; Max-Age=(?P<age>\d+); HttpOnly; Version=1$"
)


class TestSetCookieAttributes:
    def test_set_cookie_header(self, base: str) -> None:
        """A new session's Set-Cookie carries Path, Max-Age (the lifetime), HttpOnly, Version."""
        r = _get(base.removesuffix("/rest"), "$info")
        m = SET_COOKIE.match(r.headers["Set-Cookie"])
        assert m is not None, r.headers["Set-Cookie"]
        assert "3600" == m["age"]
        assert m["id"] == r.cookies["WASID4D"]

    def test_max_age_follows_login_length(self, server: EmulatorServer) -> None:
        """A login opening a session with session-4D-length 120 sets Max-Age=7200."""
        m = SET_COOKIE.match(_login(server.base_url, length="120").headers["Set-Cookie"])
        assert m is not None
        assert "7200" == m["age"]

    def test_max_age_follows_session_lifetime(self) -> None:
        """With session_lifetime=90.5 Max-Age is 90 and the session dies 90.5 idle s later."""
        with serve(EmulatorConfig(rows=50, session_lifetime=90.5)) as srv:
            r = _get(srv.base_url, "$info")
            m = SET_COOKIE.match(r.headers["Set-Cookie"])
            assert m is not None
            assert "90" == m["age"]
            srv.advance_clock(91)
            assert m["id"] != _get(srv.base_url, "$info", m["id"]).cookies["WASID4D"]

    def test_cookie_jar_sends_it_back(self, base: str, server: EmulatorServer) -> None:
        """A cookie-jar client (requests) stores the Version=1 cookie and sends it back."""
        with requests.Session() as http:
            http.get(f"{base}/$info", timeout=5)
            r = http.get(f"{base}/Personal", timeout=5)
        assert "Set-Cookie" not in r.headers
        assert 1 == server.stats()["sessions_created"]


class TestLicenceStats:
    def test_peak_and_logouts(self, base: str, server: EmulatorServer) -> None:
        """The peak keeps the highest count while logouts and expiries lower the active one."""
        cookies = [_get(server.base_url, "$info").cookies["WASID4D"] for _ in range(3)]
        _get(server.base_url, "$directory/logout", cookies[0])
        server.expire_sessions(cookies[1])
        stats = server.stats()
        assert (3, 1, 3, 1) == (
            stats["sessions_created"],
            stats["active_sessions"],
            stats["active_sessions_peak"],
            stats["sessions_logged_out"],
        )

    def test_reset_peak_over_http(self, base: str, server: EmulatorServer) -> None:
        """POST /_emulator/stats/reset-peak sets the peak to the live count, timeline anew."""
        cookies = [_get(server.base_url, "$info").cookies["WASID4D"] for _ in range(3)]
        server.expire_sessions(cookies[0])
        server.expire_sessions(cookies[1])
        r = requests.post(f"{server.base_url}/_emulator/stats/reset-peak", timeout=5)
        assert {"active_sessions_peak": 1} == r.json()
        assert 1 == server.stats()["active_sessions_peak"]
        timeline = requests.get(f"{server.base_url}/_emulator/sessions/timeline", timeout=5).json()
        assert [1] == [active for _, active in timeline]
        _get(server.base_url, "$info")
        assert 2 == server.stats()["active_sessions_peak"]

    def test_timeline_records_every_change(self, base: str, server: EmulatorServer) -> None:
        """Opening, logout, expire and idle purge each add ``[t, active]`` to the timeline."""
        a = _get(server.base_url, "$info").cookies["WASID4D"]
        _get(server.base_url, "$info")
        _get(server.base_url, "$directory/logout", a)
        requests.post(f"{server.base_url}/_emulator/sessions/expire", json={}, timeout=5)
        _get(server.base_url, "$info")
        server.advance_clock(3601)
        timeline = requests.get(f"{server.base_url}/_emulator/sessions/timeline", timeout=5).json()
        assert [0, 1, 2, 1, 0, 1, 0] == [active for _, active in timeline]
        times = [t for t, _ in timeline]
        assert all(isinstance(t, float) for t in times)
        assert times == sorted(times)
        # The purge happened on the emulator's clock, an hour ahead of real time.
        assert times[-1] - times[-2] >= 3600
        assert abs(times[-1] - server.emulator.now()) < 5

    def test_python_api_matches_http(self, base: str, server: EmulatorServer) -> None:
        """Emulator.licence_timeline() and reset_peak() are what the endpoints serve."""
        _get(server.base_url, "$info")
        over_http = requests.get(f"{server.base_url}/_emulator/sessions/timeline", timeout=5)
        assert [list(p) for p in server.licence_timeline()] == over_http.json()
        assert 1 == server.emulator.reset_peak()
        assert 1 == len(server.emulator.licence_timeline())

    def test_timeline_is_capped(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The timeline keeps the newest TIMELINE_CAP entries."""
        monkeypatch.setattr(fourd_emulator._app, "TIMELINE_CAP", 4)
        with serve(EmulatorConfig(rows=50)) as srv:
            for _ in range(6):
                _get(srv.base_url, "$info")
            timeline = srv.licence_timeline()
        assert [3, 4, 5, 6] == [active for _, active in timeline]

    def test_reset_forgets_peak_timeline_and_logouts(
        self, base: str, server: EmulatorServer
    ) -> None:
        """Emulator.reset() clears the peak, the logout count and the timeline."""
        cookie = _get(server.base_url, "$info").cookies["WASID4D"]
        _get(server.base_url, "$info")
        _get(server.base_url, "$directory/logout", cookie)
        requests.post(f"{server.base_url}/_emulator/reset", timeout=5)
        stats = server.stats()
        assert (0, 0, 0) == (
            stats["active_sessions"],
            stats["active_sessions_peak"],
            stats["sessions_logged_out"],
        )
        assert [0] == [active for _, active in server.licence_timeline()]

    def test_concurrent_sessions_timeline(self, base: str, server: EmulatorServer) -> None:
        """Threads opening and closing sessions at once: the timeline adds up, peak is its max."""
        barrier = threading.Barrier(10)

        def open_and_close(_: int) -> None:
            barrier.wait(timeout=5)
            cookie = _get(server.base_url, "$info").cookies["WASID4D"]
            assert {"result": True} == _get(server.base_url, "$directory/logout", cookie).json()

        with ThreadPoolExecutor(10) as pool:
            list(pool.map(open_and_close, range(10)))
        timeline = server.licence_timeline()
        actives = [active for _, active in timeline]
        steps = [b - a for a, b in itertools.pairwise(actives)]
        assert 21 == len(timeline)
        assert sorted(steps) == [-1] * 10 + [1] * 10
        stats = server.stats()
        assert (0, 10) == (stats["active_sessions"], stats["sessions_logged_out"])
        assert max(actives) == stats["active_sessions_peak"]
