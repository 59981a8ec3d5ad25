"""The session flow around one 4D request: cookie header, loss detection, adoption.

httpx's idea of an auth flow: the exchange asks this object for the headers of a
request and hands it every answer; it alone decides whether the session is gone and
what to do about it (ADR 0012), through the provider's single-flight ``recover``:

- a 401: nothing was applied; the cookie it set (if any) is the session to log in on;
- a 402 on a request that carried a cookie: a stale or dead cookie the server could not
  replace; nothing was applied;
- a cookie set for another session on any answer: the server opened a new session
  (ours was gone) and answered on it — keep it, or log it out if another one won.

The provider logs out every session it will not keep; this module never drops a cookie.
"""

from __future__ import annotations

import contextlib

import attrs

from legacy_adapters.wire import HttpResponse
from legacy_adapters.wire._requests import is_session_cookie, pick_session_cookie
from legacy_core._steps import Acquire, Recover, Steps
from legacy_core.errors import LegacyError, LicenceExhausted, SessionExpired
from legacy_core.model import Environment, Session
from legacy_core.ports import RecoveryReason, SessionProvider

__all__ = ["SessionAuth", "is_session_cookie", "pick_session_cookie"]


@attrs.define
class SessionAuth:
    """Owns the session of the requests of one exchange: headers in, answers back.

    Its provider calls are steps (:mod:`legacy_core._steps`): the sync driver calls the
    provider, the async one moves its slow paths off the event loop.
    """

    sessions: SessionProvider
    environment: Environment

    def session(self) -> Steps[Session]:
        """The session to send the first attempt with."""
        session: Session = yield Acquire(self.sessions, self.environment)
        return session

    @staticmethod
    def headers(session: Session) -> dict[str, str]:
        """Exactly one cookie: this session's name and value, nothing else."""
        return {"Cookie": session.cookie_header()}

    @staticmethod
    def new_cookie(session: Session, response: HttpResponse) -> tuple[str, str] | None:
        """The session cookie ``response`` set, if it names another session than ours."""
        cookie = pick_session_cookie(response.set_cookies, prefer=session.cookie_name)
        if cookie is None or cookie == (session.cookie_name, session.cookie_value):
            return None
        return cookie

    @staticmethod
    def is_loss(error: LegacyError) -> bool:
        """Whether ``error`` says the session is gone (401, or 402 with our cookie)."""
        return isinstance(error, (SessionExpired, LicenceExhausted))

    def recover(
        self, session: Session, error: LegacyError, cookie: tuple[str, str] | None
    ) -> Steps[Session]:
        """After a loss: the session to resend with (single-flight, in the provider)."""
        reason: RecoveryReason = "401" if isinstance(error, SessionExpired) else "402"
        return (yield from self._recover(session, reason, cookie))

    def answered(self, session: Session, cookie: tuple[str, str] | None) -> Steps[Session]:
        """After a good answer: adopt the cookie it set (ours was gone), if any."""
        if cookie is None:
            return session
        return (yield from self._recover(session, "set-cookie", cookie))

    def settle(
        self, session: Session, cookie: tuple[str, str] | None, error: LegacyError
    ) -> Steps[None]:
        """After a failure that is raised: a cookie it set still took a licence."""
        if cookie is None:
            return
        reason: RecoveryReason = "set-cookie"
        if self.is_loss(error):
            reason = "401" if isinstance(error, SessionExpired) else "402"
        with contextlib.suppress(LegacyError):  # the original error is the one to raise
            yield from self._recover(session, reason, cookie)

    def _recover(
        self, session: Session, reason: RecoveryReason, cookie: tuple[str, str] | None
    ) -> Steps[Session]:
        recovered: Session = yield Recover(self.sessions, self.environment, session, reason, cookie)
        return recovered
