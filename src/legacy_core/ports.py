"""The ports: Protocols the core depends on and the adapters implement.

Nothing here does I/O; the adapters in ``legacy_adapters`` do. A port is kept to what
the facade needs, so a fake stays small and the contracts in ``contracts/`` can pin
every method down.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

import attrs

from legacy_core.model import Environment, FieldUpdate, Page, Query, Record, Session, WriteResult
from legacy_core.schema import TableSchema

__all__ = [
    "AsyncDriver",
    "Clock",
    "Codec",
    "FieldWriter",
    "HealthProbe",
    "LoginResult",
    "LogoutOutcome",
    "NonBlockingSessions",
    "RecoveryReason",
    "SchemaReader",
    "SessionLogin",
    "SessionLogout",
    "SessionProvider",
    "SessionStore",
    "SteppedHealthProbe",
    "SteppedReader",
    "SteppedSchemaReader",
    "SteppedWriter",
    "TableReader",
    "Versioned",
]


@runtime_checkable
class TableReader(Protocol):
    """Reads 4D tables page by page."""

    def read_page(self, query: Query) -> Page:
        """Return one page of ``query`` (``top``/``skip``/``entity_set`` select the window).

        Raises UnknownTable, InvalidQuery (unknown attribute, bad filter),
        EntitySetExpired, and the transport categories of ``legacy_core.errors``.
        """
        ...

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        """Return one entity by ``__KEY``; RecordNotFound if there is none.

        ``typed`` decodes the values like a typed page (``Query.typed``); the default
        keeps them as 4D sent them.
        """
        ...

    def tables(self, environment: str) -> list[str]:
        """The names of the tables (4D dataclasses) of the environment."""
        ...

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        """Evaluate the filter once into a snapshot (4D entity set) and return its first page.

        The page's ``entity_set`` names the snapshot; later ``read_page`` calls with
        ``query.entity_set`` set page through exactly those entities.
        """
        ...

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        """Release a snapshot; releasing an unknown one is not an error."""
        ...


@runtime_checkable
class FieldWriter(Protocol):
    """Writes fields of 4D entities."""

    def write(self, updates: Sequence[FieldUpdate], *, atomic: bool = False) -> list[WriteResult]:
        """Apply the updates (one table per call) in order and return the saved entities.

        A stale ``expected_stamp`` raises StampConflict carrying the current values; with
        ``atomic`` nothing is applied when any update fails.
        """
        ...

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        """Create one entity and return it as saved (with its new ``__KEY``)."""
        ...

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        """Create the entities of ``rows`` in order; one result (key, stamp) per row.

        As 4D saves the others of a batch when one fails, some failing raise
        :class:`~legacy_core.errors.PartialWrite` with one outcome per row; one row raises
        its own error.
        """
        ...

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        """Delete one entity; RecordNotFound if there is none.

        With ``expected_stamp`` only if its ``__STAMP`` is still that, else StampConflict
        carrying the current values (and nothing is deleted).
        """
        ...


@runtime_checkable
class SchemaReader(Protocol):
    """A reader that can describe a table (4D ``$catalog/{Table}``): the explicit capability.

    The client checks field names against it before any request; readers without it
    (a third party's) are not checked.
    """

    def describe(self, environment: str, table: str) -> TableSchema:
        """The schema of ``table``; UnknownTable if there is none. May be cached."""
        ...


@runtime_checkable
class SteppedSchemaReader(Protocol):
    """A SchemaReader whose ``describe`` is also sans-I/O steps."""

    def describe_steps(self, environment: str, table: str) -> _Steps[TableSchema]:
        """Steps of ``describe``."""
        ...


@runtime_checkable
class HealthProbe(Protocol):
    """A reader that can probe its server cheaply (4D ``$info``) for health checks."""

    def info(self, environment: str) -> object:
        """Ask the server of ``environment`` for its status; raise a LegacyError if it fails."""
        ...


_T = TypeVar("_T")
_Steps: TypeAlias = Generator[Any, Any, _T]
"""Sans-I/O steps (``legacy_core._steps.Steps``): yield effects, return the result."""


@runtime_checkable
class SteppedReader(Protocol):
    """A TableReader whose reads are also sans-I/O steps, so the async client runs them.

    Each ``*_steps`` method is the same read as the TableReader method of its name,
    written once (ADR 0024); readers without them run on a worker thread under the
    async client.
    """

    def read_page_steps(self, query: Query) -> _Steps[Page]:
        """Steps of ``read_page``."""
        ...

    def get_record_steps(
        self, environment: str, table: str, key: str, *, typed: bool = False
    ) -> _Steps[Record]:
        """Steps of ``get_record``."""
        ...

    def tables_steps(self, environment: str) -> _Steps[list[str]]:
        """Steps of ``tables``."""
        ...

    def open_snapshot_steps(self, query: Query, timeout: float) -> _Steps[Page]:
        """Steps of ``open_snapshot``."""
        ...

    def release_snapshot_steps(self, environment: str, table: str, entity_set: str) -> _Steps[None]:
        """Steps of ``release_snapshot``."""
        ...


@runtime_checkable
class SteppedWriter(Protocol):
    """A FieldWriter whose writes are also sans-I/O steps."""

    def write_steps(
        self, updates: Sequence[FieldUpdate], *, atomic: bool = False
    ) -> _Steps[list[WriteResult]]:
        """Steps of ``write``."""
        ...

    def create_steps(self, environment: str, table: str, values: Record) -> _Steps[WriteResult]:
        """Steps of ``create``."""
        ...

    def create_many_steps(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> _Steps[list[WriteResult]]:
        """Steps of ``create_many``."""
        ...

    def delete_steps(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> _Steps[None]:
        """Steps of ``delete``."""
        ...


@runtime_checkable
class SteppedHealthProbe(Protocol):
    """A HealthProbe whose probe is also sans-I/O steps."""

    def info_steps(self, environment: str) -> _Steps[object]:
        """Steps of ``info``."""
        ...


@attrs.frozen(repr=False)
class LoginResult:
    """What a login obtained: the cookie and the server's idle lifetime in seconds."""

    cookie_name: str
    cookie_value: str = attrs.field(repr=False)
    lifetime: float = 3600.0

    def __repr__(self) -> str:
        return f"<LoginResult {self.cookie_name}=*** lifetime={self.lifetime:g}s>"


class SessionLogin(Protocol):
    """Opens a new 4D session (``GET /rest/$info`` or ``$directory/login``)."""

    def __call__(
        self, environment: Environment, *, cookie: tuple[str, str] | None = None
    ) -> LoginResult:
        """Log in once and return the cookie the server set.

        ``cookie`` (name, value) names a session the server has already opened (a 401
        that set a cookie): log in *on* it instead of opening another one.
        """
        ...


LogoutOutcome = Literal["closed", "unsupported", "failed"]
"""``closed``: the session holds no licence any more; ``unsupported``: the server has no
``$directory/logout`` (404); ``failed``: it could not be reached or refused."""


class SessionLogout(Protocol):
    """Closes a session the client will not keep (``$directory/logout``), best-effort."""

    def __call__(
        self, environment: Environment, cookie_name: str, cookie_value: str
    ) -> LogoutOutcome:
        """Log the session out and say whether its licence is free now."""
        ...


RecoveryReason = Literal["401", "402", "set-cookie"]
"""What showed that a session is gone: a 401, a 402 on a request that carried a cookie,
or a response that set a cookie for another session."""


@runtime_checkable
class SessionProvider(Protocol):
    """Hands out the session of an environment; shared, so logins stay rare."""

    def acquire(self, environment: Environment) -> Session:
        """Return a valid session, logging in only when there is none."""
        ...

    def invalidate(self, session: Session) -> None:
        """Forget ``session`` if it is still the current one (compare-and-delete)."""
        ...

    def recover(
        self,
        session: Session,
        *,
        reason: RecoveryReason,
        cookie: tuple[str, str] | None = None,
    ) -> Session:
        """Re-establish the environment's session after a response showed ``session`` gone.

        ``cookie`` is the session cookie that response set, if any (the server already
        opened that session). Single-flight: returns the session to use from now on.
        """
        ...


@runtime_checkable
class AsyncDriver(Protocol):
    """Runs sans-I/O steps on an event loop (``legacy_adapters.aio.AsyncioDriver``).

    The core imports no asyncio: the async client is handed its driver.
    """

    async def run(self, steps: _Steps[_T]) -> _T:
        """Drive ``steps`` to their result."""
        ...

    def stream(self, steps: _Steps[None]) -> AsyncGenerator[Any, None]:
        """Drive ``steps``, yielding every item they emit."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking the loop."""
        ...


@runtime_checkable
class NonBlockingSessions(Protocol):
    """A provider that can hand out a live session without logging in or waiting.

    The async client asks it first on the event loop and moves only the slow path
    (``acquire`` that logs in) to a worker thread.
    """

    def acquire_nowait(self, environment: Environment) -> Session | None:
        """The shared session if one is usable now, else None (never logs in or waits)."""
        ...


@attrs.frozen(repr=False)
class Versioned:
    """A stored value with the generation it was written under."""

    generation: int
    payload: bytes = attrs.field(repr=False)

    def __repr__(self) -> str:
        return f"<Versioned generation={self.generation} {len(self.payload)} bytes>"


@runtime_checkable
class SessionStore(Protocol):
    """Where a shared provider keeps sessions (and breaker state) between processes."""

    def get(self, key: str) -> Versioned | None:
        """The current value, or None when absent or expired."""
        ...

    def compare_and_set(
        self, key: str, expected_generation: int | None, value: Versioned, ttl: float
    ) -> bool:
        """Store ``value`` only if the current generation is ``expected_generation``.

        ``expected_generation=None`` means "only if absent". Returns whether it was stored.
        """
        ...

    def delete_if(self, key: str, generation: int) -> bool:
        """Delete the value only if its generation is ``generation``; return whether it did."""
        ...

    def lock(self, key: str, ttl: float, wait: float) -> AbstractContextManager[None]:
        """Hold an exclusive lock on ``key`` for at most ``ttl`` seconds.

        Waits at most ``wait`` seconds to get it, then raises LockTimeout. A holder that
        dies releases it when ``ttl`` runs out.
        """
        ...


class Codec(Protocol):
    """Encrypts stored session payloads at rest (Fernet in the adapters)."""

    def encode(self, data: bytes) -> bytes:
        """Encrypt."""
        ...

    def decode(self, data: bytes) -> bytes:
        """Decrypt; raise ValueError when the data was not made with this key."""
        ...


@runtime_checkable
class Clock(Protocol):
    """Time as the core sees it: injected so retries, breakers and expiry run without sleeping."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for values shared between processes)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (for durations within a process)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...
