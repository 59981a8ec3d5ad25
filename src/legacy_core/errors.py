"""The error hierarchy of legacy-api: one root, categories that also inherit a builtin.

Every error carries the context an operator needs (environment, table, HTTP status,
request id, method, path, a truncated body and the 4D error codes) and never a cookie
value or password: its message, entries and body pass through
:func:`legacy_core.secrets.redact` when it is built.
What lives here: exception classes only; the mapping from HTTP/4D to these classes lives
in the adapters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from legacy_core.secrets import redact

if TYPE_CHECKING:
    from legacy_core.model import WriteOutcome

__all__ = [
    "AuthenticationFailed",
    "BudgetExhausted",
    "CircuitOpen",
    "ConfigurationError",
    "EntitySetExpired",
    "ErrorContext",
    "FourDErrorEntry",
    "InvalidQuery",
    "InvalidRow",
    "LegacyError",
    "LicenceExhausted",
    "LockTimeout",
    "PartialWrite",
    "ProtocolError",
    "RecordNotFound",
    "ServerBusy",
    "ServerError",
    "ServerUnavailable",
    "SessionExpired",
    "SinkError",
    "StaleRun",
    "StampConflict",
    "Timeout",
    "UnknownField",
    "UnknownTable",
    "WhereSyntaxError",
    "WriteRejected",
]

BODY_LIMIT = 500


class FourDErrorEntry(tuple[int | None, str, str]):
    """One entry of a 4D ``__ERROR`` array: ``(errCode, message, componentSignature)``."""

    __slots__ = ()

    def __new__(cls, code: int | None, message: str, component: str = "") -> FourDErrorEntry:
        """Build an entry; ``code`` is None when the server sent none."""
        return super().__new__(cls, (code, message, component))

    def __getnewargs__(self) -> tuple[int | None, str, str]:
        # Pickle calls __new__ with these; tuple's default would pass one tuple instead.
        return (self[0], self[1], self[2])

    @property
    def code(self) -> int | None:
        """The 4D ``errCode``."""
        return self[0]

    @property
    def message(self) -> str:
        """The 4D message (may be a multi-line dump)."""
        return self[1]

    @property
    def component(self) -> str:
        """The 4D ``componentSignature`` (``dbmg``, ``dbrq``, …)."""
        return self[2]


@attrs.frozen
class ErrorContext:
    """Where an error happened; frozen: an error's context never changes after it is built."""

    environment: str | None = None
    table: str | None = None
    status: int | None = None
    request_id: str | None = None
    method: str | None = None
    path: str | None = None


class LegacyError(Exception):
    """Root of every error legacy-api raises.

    ``str(error)`` starts with one line naming what went wrong and where (environment,
    table, HTTP status, request id); the truncated body follows on later lines.
    """

    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        environment: str | None = None,
        table: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        body: str | bytes | None = None,
        errors: Sequence[FourDErrorEntry] = (),
        transient: bool | None = None,
        retry_after: float | None = None,
        not_applied: bool = False,
    ) -> None:
        # A server may echo the request (cookie, password) into any of these: every
        # registered secret is scrubbed here, so str/repr/pickles/logs never carry one.
        self.message = redact(message)
        self.ctx = ErrorContext(
            environment=environment,
            table=table,
            status=status,
            request_id=request_id,
            method=method,
            path=redact(path) if path else path,
        )
        self.body = _truncate(redact(body) if isinstance(body, str) else body)
        self.errors = tuple(
            FourDErrorEntry(e.code, redact(e.message), redact(e.component)) for e in errors
        )
        self._retry_after = retry_after
        # True when the server certainly did not apply the request (refused before
        # sending, 503, 402, 401): the only case where a write may be retried.
        self.not_applied = not_applied
        if transient is not None:
            # Instance override: e.g. a truncated body on a GET is worth retrying.
            self.transient = transient  # type: ignore[misc]
        super().__init__(self._render())

    @property
    def environment(self) -> str | None:
        """The environment (``live``, ``test``) the error happened in."""
        return self.ctx.environment

    @property
    def table(self) -> str | None:
        """The 4D table (dataclass) concerned, if any."""
        return self.ctx.table

    @property
    def status(self) -> int | None:
        """The HTTP status of the answer, if there was one."""
        return self.ctx.status

    @property
    def request_id(self) -> str | None:
        """The ``X-Request-ID`` the request carried."""
        return self.ctx.request_id

    @property
    def method(self) -> str | None:
        """The HTTP method of the request."""
        return self.ctx.method

    @property
    def path(self) -> str | None:
        """The URL path of the request (never the query or a cookie)."""
        return self.ctx.path

    @property
    def retry_after(self) -> float | None:
        """Seconds after which a retry may succeed (Retry-After, a shared backoff)."""
        return self._retry_after

    def evolve(self, **changes: Any) -> LegacyError:
        """A copy of this error with some context or state changed (errors are frozen).

        The copy keeps the cause, the notes and the traceback: ``raise err.evolve(...)``.
        """
        state = {**self._state(), **changes}
        new = _rebuild(type(self), self.message, state)
        new.__cause__ = self.__cause__
        new.__traceback__ = self.__traceback__
        for note in getattr(self, "__notes__", ()):
            new.add_note(note)
        return new

    @property
    def codes(self) -> tuple[int, ...]:
        """The 4D error codes of the body, innermost first."""
        return tuple(e.code for e in self.errors if e.code is not None)

    def context(self) -> dict[str, Any]:
        """The context fields as a flat mapping, for structured logs."""
        return {
            k: v
            for k, v in {
                "environment": self.environment,
                "table": self.table,
                "status": self.status,
                "request_id": self.request_id,
                "method": self.method,
                "path": self.path,
                "codes": list(self.codes) or None,
            }.items()
            if v is not None
        }

    def _render(self) -> str:
        parts = [f"{k}={v}" for k, v in self.context().items() if k not in {"codes"}]
        if self.codes:
            parts.append("4D errors=" + ",".join(str(c) for c in self.codes))
        first = self.message.splitlines()[0] if self.message else type(self).__name__
        head = f"{first} ({', '.join(parts)})" if parts else first
        extra = self.message.splitlines()[1:]
        if self.errors:
            extra += [
                f"  4D {e.code} [{e.component}]: {(e.message.splitlines() or [''])[0]}"
                for e in self.errors
            ]
        if self.body:
            extra.append(f"  body: {self.body}")
        return "\n".join([head, *extra])

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep context across pickling (errors cross process pools).
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "table": self.table,
            "status": self.status,
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "errors": self.errors,
            "transient": self.transient,
            "retry_after": self.retry_after,
            "not_applied": self.not_applied,
        }


def _rebuild(cls: type[LegacyError], message: str, state: dict[str, Any]) -> LegacyError:
    err = cls.__new__(cls)
    cls.__init__(err, message, **state)
    return err


def _truncate(body: str | bytes | None) -> str | None:
    if body is None or body in ("", b""):
        return None
    text = redact(body.decode("utf-8", "replace")) if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "…"


class ConfigurationError(LegacyError, ValueError):
    """The configuration is missing, contradictory or names an unknown adapter."""


class InvalidQuery(LegacyError, ValueError):
    """A query, filter, identifier or value was rejected (by us before I/O, or by 4D)."""


class UnknownField(InvalidQuery):
    """A field name the table's schema lacks, refused before any request.

    ``field`` is the name given, ``suggestions`` the closest names of the table (best
    first, maybe none): ``unknown field 'Bezeichung' of Artikel_Variante; did you mean
    'Bezeichnung'?``.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        suggestions: Sequence[str] = (),
        **context: Any,
    ) -> None:
        self.field = field
        self.suggestions: tuple[str, ...] = tuple(suggestions)
        context.setdefault("not_applied", True)  # refused before anything was sent
        super().__init__(message, **context)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "field": self.field, "suggestions": self.suggestions}


class WhereSyntaxError(InvalidQuery):
    """A ``where`` text of the mini-language does not parse; ``position`` is 1-based."""

    def __init__(self, message: str, *, text: str = "", position: int = 0, **context: Any) -> None:
        self.text = text
        self.position = position
        super().__init__(message, **context)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "text": self.text, "position": self.position}


class InvalidRow(InvalidQuery):
    """A row's value has the wrong type for its field: refused before a write, or read.

    ``field`` names the 4D attribute, ``key`` the entity (None for one to be created);
    ``problems`` lists every ``(field, message)`` found. Before a write nothing is sent
    (``not_applied``); on a read the server's row does not fit the row model.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        key: str | None = None,
        problems: Sequence[tuple[str, str]] = (),
        **context: Any,
    ) -> None:
        self.field = field
        self.key = key
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        context.setdefault("not_applied", True)
        super().__init__(message, **context)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "field": self.field, "key": self.key, "problems": self.problems}


class RecordNotFound(LegacyError, LookupError):
    """The entity with this key does not exist (4D 404 / 1800)."""


class UnknownTable(LegacyError, LookupError):
    """The table (4D dataclass) does not exist in this environment."""


class EntitySetExpired(LegacyError, LookupError):
    """The entity set (snapshot) is unknown or expired (4D 404 / 1802); rebuild it."""

    transient = True


class ServerUnavailable(LegacyError, ConnectionError):
    """The server could not be reached: connection refused, reset or closed."""

    transient = True


class Timeout(ServerUnavailable, TimeoutError):
    """The server did not answer in time (connect or read timeout)."""


class ServerBusy(LegacyError):
    """The server answered 503: too many concurrent requests."""

    transient = True


class BudgetExhausted(ServerBusy):
    """No permit of the shared request budget came within ``budget_wait`` (ADR 0028).

    Nothing was sent (``not_applied``); ``retry_after`` is the wait the budget suggested.
    A ServerBusy because that is what callers already back off on; the client itself
    neither retries it (the wait was the retry) nor counts it against the breaker (4D
    did not fail: the deployment's own limit said no).
    """

    def __init__(self, message: str, **context: Any) -> None:
        """Build it; ``not_applied`` is always true (the request never left)."""
        context["not_applied"] = True
        super().__init__(message, **context)


class ServerError(LegacyError):
    """The server failed with an error that is not one of the other categories."""


class ProtocolError(LegacyError, ValueError):
    """A body we cannot read: not JSON, truncated, or missing the expected envelope."""


class AuthenticationFailed(LegacyError, PermissionError):
    """The server rejected the credentials or the request is not authorised (401)."""


class SessionExpired(AuthenticationFailed):
    """The session cookie is no longer valid; one re-login fixes it."""

    transient = True


class LicenceExhausted(LegacyError):
    """4D answered 402 (error 1823): no client licence is free. Never log in again for this."""

    transient = True


class CircuitOpen(LegacyError):
    """The circuit breaker is open for this environment: failing fast without a request."""

    transient = True


class LockTimeout(LegacyError, TimeoutError):
    """A session-store lock could not be taken in time."""

    transient = True


class SinkError(LegacyError, OSError):
    """A sync sink (SQLite file, PostgreSQL database) cannot be reached or refused a batch.

    The batch's transaction was rolled back: the checkpoint did not move (ADR 0031).
    """


class StaleRun(SinkError):
    """A run's fencing token is older than the newest the sink has seen (ADR 0035).

    Its lock expired and a newer run of the mapping took over; the batch was rolled
    back, so the newer run's checkpoint stands. Never retried.
    """


class StampConflict(LegacyError):
    """The entity changed since it was read (stale ``__STAMP``); carries the current values."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        current: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> None:
        self.key = key
        self.current: Mapping[str, Any] = dict(current or {})
        super().__init__(message, **context)

    @property
    def current_stamp(self) -> int | None:
        """The server's current ``__STAMP`` of the entity, when known."""
        stamp = self.current.get("__STAMP")
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            return stamp
        # A server's text: ASCII digits only ("²".isdigit() is true, int("²") fails).
        text = stamp.strip() if isinstance(stamp, str) else ""
        if text.isascii() and text.isdigit() and len(text) <= 19:
            return int(text)
        return None

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "key": self.key, "current": self.current}


class WriteRejected(LegacyError):
    """The server refused a write (``__STATUS.success == false``) for another reason."""


class PartialWrite(LegacyError):
    """Some updates of a batch were saved and some were not: ``outcomes`` says which.

    One :class:`~legacy_core.model.WriteOutcome` per input update, in input order: resend
    only those that are not ``applied`` (and read back the ``unknown`` ones first).
    ``not_applied`` is true only when no update was saved.
    """

    def __init__(
        self, message: str, *, outcomes: Sequence[WriteOutcome] = (), **context: Any
    ) -> None:
        self.outcomes: tuple[WriteOutcome, ...] = tuple(outcomes)
        super().__init__(message, **context)

    @classmethod
    def of(cls, outcomes: Sequence[WriteOutcome], *, environment: str | None) -> PartialWrite:
        """Build the error for ``outcomes``, its first line counting them by status."""
        counts: Counter[str] = Counter(o.status for o in outcomes)
        tables = sorted({o.table for o in outcomes})
        failed = [o for o in outcomes if not o.applied]
        parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in _ORDER if counts[s] and s != "saved"]
        first = failed[0] if failed else None
        cause = ""
        if first is not None and first.error is not None:
            head = (str(first.error).splitlines() or [""])[0]
            cause = f"; first: #{first.index} {first.table}[{first.key}]: {head}"
        msg = (
            f"{environment or '?'}: {counts['saved']} of {len(outcomes)} updates of "
            f"{', '.join(tables)} saved, {', '.join(parts) or 'none failed'}{cause}"
        )
        return cls(
            msg,
            outcomes=outcomes,
            environment=environment,
            table=tables[0] if len(tables) == 1 else None,
            not_applied=counts["saved"] == 0 and counts["unknown"] == 0,
        )

    @property
    def saved(self) -> list[WriteOutcome]:
        """The outcomes that were applied."""
        return [o for o in self.outcomes if o.applied]

    @property
    def failed(self) -> list[WriteOutcome]:
        """The outcomes that were not (certainly) applied."""
        return [o for o in self.outcomes if not o.applied]

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "outcomes": self.outcomes}


_ORDER: tuple[str, ...] = ("saved", "conflict", "rejected", "not_sent", "unknown")
