"""Opening and closing 4D REST sessions: ``$info``, ``$directory/login`` and ``/logout``.

A login is sent without a cookie (the cookie the server sets is the new session) or,
after a 401 that already opened a session, with that session's cookie so no second
one is opened. Credentials travel in the ``username-4D`` / ``password-4D`` headers only,
never in a URL, a log line or an error. ``logout`` closes a session the client will
not keep so it frees its licence.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import attrs

from legacy_adapters.wire._requests import INFO_PATH, LOGIN_PATH, LOGOUT_PATH, is_session_cookie
from legacy_core.errors import AuthenticationFailed, LegacyError, ProtocolError
from legacy_core.model import Environment
from legacy_core.ports import LoginResult, LogoutOutcome
from legacy_core.secrets import register_secret

from ._errors import checked_json, error_context, raise_for_response
from ._exchange import build_request, log_http
from ._transport import HttpRequest, HttpResponse, Transport

__all__ = ["Credentials", "FourDLogin"]

_DEFAULT_LIFETIME = 3600.0
# A logout is best-effort housekeeping: it must never hold a request up for long.
_LOGOUT_TIMEOUT = (2.0, 2.0)


@attrs.frozen(repr=False)
class Credentials:
    """A 4D REST user for ``$directory/login``; the password never prints."""

    username: str
    password: str = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        # Scrubbed from every log event and error body from now on (legacy_core.secrets).
        register_secret(self.password)

    def __repr__(self) -> str:
        return f"<Credentials {self.username} password=***>"


@attrs.define
class FourDLogin:
    """The :class:`~legacy_core.ports.SessionLogin` of the 4D adapter.

    Without credentials for an environment it opens a session the way pyERP's server
    does, with ``GET /rest/$info``; with credentials it posts ``$directory/login``.
    """

    transport: Transport
    credentials: Mapping[str, Credentials] | None = None
    session_length_minutes: int = 60

    def __call__(
        self, environment: Environment, *, cookie: tuple[str, str] | None = None
    ) -> LoginResult:
        """Log in once to ``environment`` and return the cookie the server set."""
        return self.login(environment, cookie=cookie)

    def login(
        self, environment: Environment, *, cookie: tuple[str, str] | None = None
    ) -> LoginResult:
        """Log in once to ``environment`` (on the session ``cookie`` names, if given)."""
        creds = (self.credentials or {}).get(environment.name)
        headers: dict[str, str] = {}
        if cookie is not None:
            headers["Cookie"] = f"{cookie[0]}={cookie[1]}"
        if creds is None:
            request = build_request(environment, "GET", INFO_PATH, headers=headers, body=None)
        else:
            headers |= {
                "username-4D": creds.username,
                "password-4D": creds.password,
                "session-4D-length": str(max(int(self.session_length_minutes), 60)),
            }
            path = LOGIN_PATH
            request = build_request(environment, "POST", path, headers=headers, body=b"")
        secrets = (creds.password,) if creds is not None else ()
        try:
            response = self.transport.send(request)
            raise_for_response(
                request, response, table=None, context="login", sent_cookie=False, secrets=secrets
            )
            body = checked_json(response, request, table=None, context="login", secrets=secrets)
            if creds is not None and not (isinstance(body, Mapping) and body.get("result") is True):
                msg = (
                    f"{environment.name}: the server rejected the login of user {creds.username!r}"
                )
                ctx = error_context(request, response, None)
                raise AuthenticationFailed(msg, not_applied=True, **ctx)
            result = self._result(environment, request, response, body, cookie)
        except LegacyError as err:
            log_http(
                "warning",
                request,
                status=err.status,
                table=None,
                login=True,
                error=type(err).__name__,
            )
            raise
        # The provider logs legacy_api.session.login when it stores the session.
        log_http(
            "debug",
            request,
            status=response.status,
            table=None,
            elapsed=response.elapsed,
            login=True,
            cookie_name=result.cookie_name,
            lifetime=result.lifetime,
        )
        return result

    def logout(
        self, environment: Environment, cookie_name: str, cookie_value: str
    ) -> LogoutOutcome:
        """Close one session with ``$directory/logout``: ``closed``, ``unsupported`` or ``failed``.

        A 404 means the server has no logout (pyERP's); the caller remembers that. Any
        other failure (connection, timeout, 5xx) is ``failed``: the session idles out.
        """
        request = attrs.evolve(
            build_request(
                environment,
                "GET",
                LOGOUT_PATH,
                headers={"Cookie": f"{cookie_name}={cookie_value}"},
                body=None,
            ),
            timeout=_LOGOUT_TIMEOUT,
        )
        try:
            response = self.transport.send(request)
        except LegacyError as err:
            log_http(
                "info", request, status=None, table=None, logout=True, error=type(err).__name__
            )
            return "failed"
        outcome: LogoutOutcome
        if response.status == 404:
            outcome = "unsupported"
        elif 200 <= response.status < 300:
            outcome = "closed"
        else:
            outcome = "failed"
        log_http(
            "debug" if outcome == "closed" else "info",
            request,
            status=response.status,
            table=None,
            elapsed=response.elapsed,
            logout=outcome,
        )
        return outcome

    def _result(
        self,
        environment: Environment,
        request: HttpRequest,
        response: HttpResponse,
        body: Any,
        cookie: tuple[str, str] | None,
    ) -> LoginResult:
        sessions = _session_info(body)
        candidates = [(n, v) for n, v in response.set_cookies if v and is_session_cookie(n)]
        if not candidates and len(response.set_cookies) == 1 and response.set_cookies[0][1]:
            candidates = list(response.set_cookies)  # an unfamiliar name, but the only cookie
        if not candidates and cookie is not None:
            candidates = [cookie]  # logged in on the session we sent: it stays the session
        if not candidates:
            msg = f"{environment.name}: the login answer set no session cookie"
            raise ProtocolError(msg, **error_context(request, response, None))
        # Several cookies (WASID4D and 4DSID_<App>): the one $info lists is the REST session.
        listed = [c for c in candidates if c[1].upper() in sessions]
        name, value = listed[-1] if listed else candidates[-1]
        lifetime = _lifetime(sessions.get(value.upper()))
        if lifetime is None:
            lifetime = (
                float(self.session_length_minutes) * 60.0
                if request.method == "POST"
                else _DEFAULT_LIFETIME
            )
        return LoginResult(cookie_name=name, cookie_value=value, lifetime=lifetime)


def _session_info(body: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(body, Mapping) or not isinstance(body.get("sessionInfo"), list):
        return {}
    return {
        str(item["sessionID"]).upper(): item
        for item in body["sessionInfo"]
        if isinstance(item, Mapping) and item.get("sessionID")
    }


def _lifetime(info: Mapping[str, Any] | None) -> float | None:
    if info is None:
        return None
    minutes = info.get("lifeTime")
    # A week bounds any real 4D lifetime; beyond it (1e308, inf) the answer is not believed.
    if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 < minutes <= 10080:
        return float(minutes) * 60.0
    expiration = info.get("expiration")
    if isinstance(expiration, str):
        try:
            when = dt.datetime.fromisoformat(expiration)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        remaining = when.timestamp() - time.time()
        return remaining if 0 < remaining <= 7 * 24 * 3600 else None
    return None
