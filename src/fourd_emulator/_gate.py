"""The session side of a REST request: cookie, session (licence), login and logout.

A request's session is found, or opened, or refused here: 401 for a bad cookie or, under
``force_login``, without a login; 402 beyond the licences. The table of live sessions is
``_sessions.py``.
"""

from __future__ import annotations

import time

import attrs

from fourd_emulator._errors import NO_LICENCE, entry
from fourd_emulator._http import (
    Request,
    Response,
    cookie_parts,
    error,
    json_answer,
    unauthorized,
    utf8_header,
)
from fourd_emulator._log import get_logger
from fourd_emulator._sessions import Session
from fourd_emulator._state import State

__all__ = ["SessionGate"]

log = get_logger()


class SessionGate:
    """Finds, opens, authenticates and closes the sessions of requests, under the state's lock."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._config = state.config

    def cookie(self, req: Request) -> tuple[str | None, Response | None]:
        """Return the session cookie's value (None: no cookie) or the 401 it deserves."""
        name = self._config.cookie_name
        values = [
            v.strip()
            for n, _, v in (part.strip().partition("=") for part in cookie_parts(req.environ))
            if n == name
        ]
        if len(values) > 1 or any("=" in v for v in values):
            # pyERP's two-cookie and "WASID4D=WASID4D=..." requests failed authentication.
            what = "several session cookies" if len(values) > 1 else "a malformed session cookie"
            return None, error(401, [entry(None, f"Authentication failed: {what}", "http")])
        return (values[0] if values else None), None

    def admit(
        self, req: Request, value: str | None
    ) -> tuple[Session | None, str | None, Response | None]:
        """Return the request's session, the cookie to set (new session) or a refusal."""
        force = self._config.force_login
        login = req.path.rstrip("/") == "$directory/login"
        with self._state.lock:
            s = self._state.sessions.find(value)
            if s is not None:
                if force and not s.authenticated and not login:
                    return None, None, unauthorized()
                self._state.sessions.touch(s)
                return s, None, None
            refused = self._before_login(req, login=login) if force else None
            if refused is not None:
                return None, None, refused
            cap = self._state.licence_cap()
            self._state.purge(full=cap is not None)
            if cap is not None and len(self._state.sessions) >= cap:
                self._state.stats.add("licences_refused")
                return (
                    None,
                    None,
                    error(
                        402,
                        [entry(NO_LICENCE, "Maximum number of sessions has been reached", "dbmg")],
                    ),
                )
            sid = self._state.new_id()
            s = self._state.sessions.open(sid, self._config.session_lifetime)
            self._state.stats.add("sessions_created")
        log.debug("legacy_api.emulator.session_opened", session=s.number)
        return s, sid, None

    def set_cookie(self, resp: Response, session: Session, cookie: str) -> Response:
        """``resp`` with the ``Set-Cookie`` of the new ``session`` (value ``cookie``)."""
        # Called after dispatch: a login's session-4D-length changes the lifetime.
        attrs_ = f"Path=/; Max-Age={int(session.lifetime)}; HttpOnly; Version=1"
        header = ("Set-Cookie", f"{self._config.cookie_name}={cookie}; {attrs_}")
        return attrs.evolve(resp, headers=(*resp.headers, header))

    def directory(self, req: Request, what: str) -> Response:
        """``$directory/{what}`` on the request's session: ``login`` (else 404)."""
        s = req.session
        assert s is not None
        if what == "login":
            if req.method != "POST":
                return error(405, [entry(None, "$directory/login needs POST", "http")])
            user = self._credentials(req)
            length_raw = str(req.environ.get("HTTP_SESSION_4D_LENGTH", "") or "")
            ok = user is not None
            with self._state.lock:
                if user is None:
                    self._state.stats.add("login_failures")
                else:
                    self._state.stats.add("logins")
                    s.user = user
                    s.authenticated = True
                    if length_raw.strip():
                        try:
                            minutes = float(length_raw)
                        except ValueError:
                            minutes = 60.0
                        s.lifetime = max(minutes, 60.0) * 60.0
            log.info("legacy_api.emulator.login", session=s.number, ok=ok)
            return json_answer(200 if ok else 401, {"result": ok})
        return error(404, [entry(None, f"Unknown resource $directory/{what}", "http")])

    def logout(self, req: Request, value: str | None, delay: float) -> Response:
        """End the caller's live session: ``{"result": true}`` only if one was closed."""
        with self._state.lock:
            s = self._state.sessions.find(value)
        if s is not None and self._config.serialize_sessions:
            # A logout is a request of the session: it waits for the one running.
            with s.lock:
                time.sleep(delay)
                return self._logout_now(req, s)
        time.sleep(delay)
        return self._logout_now(req, s)

    def _logout_now(self, req: Request, s: Session | None) -> Response:
        if not self._config.logout:
            return error(404, [entry(None, "Unknown resource $directory/logout", "http")])
        if req.method not in {"GET", "POST"}:
            return error(405, [entry(None, "$directory/logout needs GET or POST", "http")])
        if s is None:
            return json_answer(200, {"result": False})
        closed = self._close(s)
        log.info("legacy_api.emulator.logout", session=s.number, closed=closed)
        return json_answer(200, {"result": closed})

    def _close(self, s: Session) -> bool:
        """Drop ``s``; return whether it was still alive (a logout, not an expiry)."""
        with self._state.lock:
            alive = self._state.sessions.close(s)
            if alive:
                self._state.stats.add("sessions_logged_out")
            return alive

    def _before_login(self, req: Request, *, login: bool) -> Response | None:
        """With ``force_login`` only a good login may open a session: else its refusal."""
        if not login:
            return unauthorized()
        if req.method != "POST":
            return error(405, [entry(None, "$directory/login needs POST", "http")])
        if self._credentials(req) is None:
            self._state.stats.add("login_failures")
            return json_answer(401, {"result": False})
        return None

    def _credentials(self, req: Request) -> str | None:
        """Return the user of good ``$directory/login`` headers (None: bad credentials)."""
        user = utf8_header(req.environ.get("HTTP_USERNAME_4D", ""))
        password = utf8_header(req.environ.get("HTTP_PASSWORD_4D", ""))
        return user if user and self._config.users.get(user) == password else None
