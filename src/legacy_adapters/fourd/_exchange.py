"""One 4D request/answer exchange: send, map to a core error or decode, log.

The reader and the writer describe *what* to ask; this module does the asking through
the :class:`~legacy_adapters.fourd.Transport` seam and turns every answer into data or
a core error. The session around it (cookie header, loss detection, adoption) is the
:class:`~legacy_adapters.fourd._session_auth.SessionAuth` flow. It owns the structlog
``legacy_api.http.request`` events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

import attrs

from legacy_adapters.wire import DecodeError
from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core._steps import Hold, Release, Send, Steps, run
from legacy_core.budget import RequestBudget
from legacy_core.clock import SystemClock
from legacy_core.errors import (
    ConfigurationError,
    LegacyError,
    ProtocolError,
)
from legacy_core.model import Environment, Session
from legacy_core.ports import SessionProvider

from ._async_transport import AsyncTransport
from ._errors import Context, checked_json, error_context, raise_for_response
from ._session_auth import SessionAuth, is_session_cookie, pick_session_cookie
from ._transport import HttpRequest, HttpResponse, Transport

__all__ = [
    "Answer",
    "Exchange",
    "build_request",
    "is_session_cookie",
    "log_http",
    "new_request_id",
    "pick_session_cookie",
]

_log = get_logger()
_CLOCK = SystemClock()  # the exchange never sleeps; the driver's Sleep needs a clock anyway
T = TypeVar("T")


def new_request_id() -> str:
    """Return a fresh ``X-Request-ID`` value."""
    return instrument.current_request_id() or uuid.uuid4().hex


def build_request(
    env: Environment,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    params: tuple[tuple[str, str], ...] = (),
) -> HttpRequest:
    """A request to ``env`` with its timeouts, asking for JSON, with a fresh request id."""
    return HttpRequest(
        method=method,
        url=env.base_url + path,
        params=params,
        headers={"Accept": "application/json", "X-Request-ID": new_request_id(), **headers},
        body=body,
        environment=env.name,
        timeout=(env.connect_timeout, env.read_timeout),
    )


def log_http(
    level: str,
    request: HttpRequest,
    *,
    status: int | None,
    table: str | None,
    elapsed: float | None = None,
    **extra: Any,
) -> None:
    """Log one ``legacy_api.http.request`` event at ``level`` (``elapsed``: seconds, if known)."""
    if elapsed is not None:
        extra["elapsed_ms"] = round(elapsed * 1000, 1)
    getattr(_log, level)(
        "legacy_api.http.request",
        method=request.method,
        path=request.path,
        status=status,
        request_id=request.request_id,
        environment=request.environment,
        table=table,
        **extra,
    )
    instrument.http(request, status=status, table=table, elapsed=elapsed, **extra)


class Answer(NamedTuple):
    """A decoded answer with the request and response that produced it."""

    data: Any
    request: HttpRequest
    response: HttpResponse
    secrets: tuple[str, ...]


@attrs.define(eq=False)  # identity: the request slots of the drivers are keyed by it
class Exchange:
    """Sends requests for the reader and the writer with the environment's shared session."""

    environments: Mapping[str, Environment]
    sessions: SessionProvider
    transport: Transport | AsyncTransport
    """A :class:`Transport`, or an async one (``send`` a coroutine) for the async client."""
    max_in_flight: int = 16
    """Requests of one environment on this transport at a time (its connection pool)."""
    budget: RequestBudget | None = None
    """The deployment's shared request budget (ADR 0028): a permit per request, taken
    after the local slot and given back in the same ``finally``; None: no limit."""

    def environment(self, name: str) -> Environment:
        """Return the configured environment ``name``; ConfigurationError if there is none."""
        env = self.environments.get(name)
        if env is None:
            known = ", ".join(sorted(self.environments)) or "none"
            msg = f"unknown environment {name!r} (configured: {known})"
            raise ConfigurationError(msg, environment=name)
        return env

    def call(
        self,
        environment: str,
        method: str,
        path: str,
        *,
        params: tuple[tuple[str, str], ...] = (),
        body: bytes | None = None,
        table: str | None = None,
        context: Context,
    ) -> Answer:
        """:meth:`call_steps` driven with blocking I/O (the sync client's way)."""
        steps = self.call_steps(
            environment, method, path, params=params, body=body, table=table, context=context
        )
        return run(steps, _CLOCK)

    def run(self, steps: Steps[T]) -> T:
        """Drive ``steps`` (of this exchange's reader or writer) with blocking I/O."""
        return run(steps, _CLOCK)

    def call_steps(
        self,
        environment: str,
        method: str,
        path: str,
        *,
        params: tuple[tuple[str, str], ...] = (),
        body: bytes | None = None,
        table: str | None = None,
        context: Context,
        decode: bool = True,
    ) -> Steps[Answer]:
        """Send one request and return the decoded JSON body with the request and response.

        With ``decode=False`` a 2xx answer's body is not parsed (``data`` is None): the
        caller reads ``response.body`` itself (the columnar decoder) and falls back to
        :meth:`checked` when it cannot.

        A response that shows the session gone hands it to the provider's single-flight
        ``recover`` (ADR 0012): a 401 (nothing was applied; the cookie it set, if any, is
        the session to log in on), a 402 on a request that carried a cookie (a stale or
        dead cookie the server could not replace; nothing applied), or a cookie set for
        another session (the server opened a new one and answered on it). After a 401 or
        402 the request is sent once more with the session ``recover`` returned.
        """
        env = self.environment(environment)
        auth = SessionAuth(self.sessions, env)
        session: Session | None = None
        for attempt in (1, 2):
            # The slot first, then the session, and the slot kept until the answer's
            # session news (loss, adoption) is handled: a request queued for a connection
            # must not go out with a cookie that is being replaced (4D would open a
            # session for it and take a licence).
            slot = yield Hold(self, env.session_key, self.max_in_flight)
            permit: str | None = None
            try:
                # The deployment's permit after the process's slot: a request waiting
                # for a local connection holds no permit other processes could use.
                # Logins do not take permits (they are not sent through here), so a
                # holder waiting for another process's login cannot deadlock it.
                if self.budget is not None:
                    permit = yield from self.budget.acquire_steps(env)
                if session is None:
                    session = yield from auth.session()
                request = build_request(
                    env,
                    method,
                    path,
                    headers=_headers(auth.headers(session), body),
                    body=body,
                    params=params,
                )
                response = yield from self._send(request, table)
                cookie = auth.new_cookie(session, response)
                secrets = (session.cookie_value, *((cookie[1],) if cookie else ()))
                try:
                    raise_for_response(
                        request,
                        response,
                        table=table,
                        context=context,
                        sent_cookie=True,
                        secrets=secrets,
                    )
                except LegacyError as err:
                    self._log_error(request, response, err, table)
                    if attempt == 1 and auth.is_loss(err):
                        session = yield from auth.recover(session, err, cookie)
                        continue
                    yield from auth.settle(session, cookie, err)
                    raise
                session = yield from auth.answered(session, cookie)
            finally:
                if self.budget is not None and permit is not None:
                    yield from self.budget.release_steps(env, permit)
                yield Release(slot)
            if not decode:
                _log_answered(request, response, table)
                return Answer(None, request, response, secrets)
            data = self._decode(request, response, table, context, secrets)
            return Answer(data, request, response, secrets)
        msg = "unreachable: the recovery loop always returns or raises"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover

    def checked(self, answer: Answer, table: str | None, context: Context) -> Any:
        """The JSON body of an answer read with ``decode=False``, its hidden errors raised."""
        try:
            return checked_json(
                answer.response,
                answer.request,
                table=table,
                context=context,
                secrets=answer.secrets,
            )
        except LegacyError as err:
            self._log_error(answer.request, answer.response, err, table)
            raise

    def _decode(
        self,
        request: HttpRequest,
        response: HttpResponse,
        table: str | None,
        context: Context,
        secrets: tuple[str, ...],
    ) -> Any:
        try:
            data = checked_json(response, request, table=table, context=context, secrets=secrets)
        except LegacyError as err:
            self._log_error(request, response, err, table)
            raise
        _log_answered(request, response, table)
        return data

    def protocol_error(
        self,
        exc: DecodeError,
        request: HttpRequest,
        *,
        table: str | None,
        status: int = 200,
        transient: bool | None = None,
    ) -> ProtocolError:
        """Build a ProtocolError with the request's context for a body of the wrong shape."""
        msg = f"unexpected answer from {request.environment}: {exc}"
        ctx = {**error_context(request, None, table), "status": status}
        retry = request.method == "GET" if transient is None else transient
        err = ProtocolError(msg, transient=retry, **ctx)
        log_http("warning", request, status=status, table=table, error="ProtocolError")
        return err

    def _send(self, request: HttpRequest, table: str | None) -> Steps[HttpResponse]:
        started = time.perf_counter()
        try:
            response: HttpResponse = yield Send(request, self.transport)
        except LegacyError as caught:
            # The transport does not know the table: add it (errors are frozen: a copy).
            err = caught.evolve(table=table) if caught.table is None else caught
            log_http(
                "warning",
                request,
                status=None,
                table=table,
                elapsed=time.perf_counter() - started,
                error=type(err).__name__,
                not_applied=err.not_applied,
            )
            if err is caught:
                raise
            raise err from caught.__cause__
        return response

    def _log_error(
        self, request: HttpRequest, response: HttpResponse, err: LegacyError, table: str | None
    ) -> None:
        # A 404 is an answer the caller receives as RecordNotFound/UnknownTable: a WARNING
        # line beside the raised error would only be noise (13 lines per table listing).
        log_http(
            "info" if response.status == 404 else "warning",
            request,
            status=response.status,
            table=table,
            elapsed=response.elapsed,
            error=type(err).__name__,
            codes=list(err.codes) or None,
        )


def _log_answered(request: HttpRequest, response: HttpResponse, table: str | None) -> None:
    log_http(
        "debug",
        request,
        status=response.status,
        table=table,
        elapsed=response.elapsed,
        response_bytes=len(response.body),
    )


def _headers(auth: dict[str, str], body: bytes | None) -> dict[str, str]:
    if body is not None:
        return {**auth, "Content-Type": "application/json; charset=utf-8"}
    return auth
