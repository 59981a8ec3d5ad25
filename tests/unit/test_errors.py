"""The error hierarchy: categories, messages with context, truncation and pickling."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from legacy_core import errors
from legacy_core.errors import (
    AuthenticationFailed,
    CircuitOpen,
    ConfigurationError,
    EntitySetExpired,
    ErrorContext,
    FourDErrorEntry,
    InvalidQuery,
    LegacyError,
    LicenceExhausted,
    LockTimeout,
    ProtocolError,
    RecordNotFound,
    ServerBusy,
    ServerError,
    ServerUnavailable,
    SessionExpired,
    StampConflict,
    Timeout,
    UnknownTable,
    WriteRejected,
)

ENTRIES = (
    FourDErrorEntry(1203, "unknown attribute\nat line 1", "dbmg"),
    FourDErrorEntry(1500, "query failed", "dbrq"),
)


def raise_conflict() -> None:
    """Raise a fully populated StampConflict (runs in a worker process)."""
    msg = "stamp has changed"
    raise StampConflict(
        msg,
        key="ABC",
        current={"__STAMP": 7, "Name": "neu"},
        environment="live",
        table="Artikel",
        status=200,
        request_id="req-1",
        errors=ENTRIES,
    )


class TestHierarchy:
    """Each category is a LegacyError and the builtin that matches its meaning."""

    @pytest.mark.parametrize(
        ("cls", "builtin"),
        [
            (RecordNotFound, LookupError),
            (UnknownTable, LookupError),
            (EntitySetExpired, LookupError),
            (InvalidQuery, ValueError),
            (ConfigurationError, ValueError),
            (ProtocolError, ValueError),
            (ServerUnavailable, ConnectionError),
            (Timeout, TimeoutError),
            (Timeout, ServerUnavailable),
            (LockTimeout, TimeoutError),
            (AuthenticationFailed, PermissionError),
            (SessionExpired, AuthenticationFailed),
        ],
        ids=repr,
    )
    def test_builtin_parents(self, cls: type[LegacyError], builtin: type[Exception]) -> None:
        """Callers can catch by meaning with the builtin class."""
        assert issubclass(cls, LegacyError)
        assert issubclass(cls, builtin)

    @pytest.mark.parametrize(
        ("cls", "transient"),
        [
            (ServerUnavailable, True),
            (Timeout, True),
            (ServerBusy, True),
            (SessionExpired, True),
            (LicenceExhausted, True),
            (CircuitOpen, True),
            (EntitySetExpired, True),
            (LockTimeout, True),
            (InvalidQuery, False),
            (RecordNotFound, False),
            (UnknownTable, False),
            (StampConflict, False),
            (ProtocolError, False),
            (ServerError, False),
            (ConfigurationError, False),
            (AuthenticationFailed, False),
            (WriteRejected, False),
        ],
        ids=repr,
    )
    def test_transient(self, cls: type[LegacyError], transient: bool) -> None:
        """Only categories a retry can fix are transient."""
        assert transient is cls("x").transient

    def test_every_exported_error_is_a_legacy_error(self) -> None:
        """Everything the module exports (but the entry tuple and the context) is a LegacyError."""
        exported = [
            getattr(errors, n)
            for n in errors.__all__
            if n not in {"FourDErrorEntry", "ErrorContext"}
        ]
        assert all(issubclass(cls, LegacyError) for cls in exported)


class TestMessage:
    """``str(error)`` leads with what happened and where."""

    def test_first_line_has_context(self) -> None:
        """The first line names environment, table, status and request id."""
        error = ServerError(
            "query failed", environment="live", table="Artikel", status=500, request_id="r-9"
        )
        assert "query failed (environment=live, table=Artikel, status=500, request_id=r-9)" == str(
            error
        )

    def test_codes_and_entries(self) -> None:
        """4D codes join the first line; each entry follows on its own line (first line only)."""
        error = InvalidQuery("bad filter", environment="test", status=500, errors=ENTRIES)
        lines = str(error).splitlines()
        assert "bad filter (environment=test, status=500, 4D errors=1203,1500)" == lines[0]
        assert ["  4D 1203 [dbmg]: unknown attribute", "  4D 1500 [dbrq]: query failed"] == lines[
            1:
        ]
        assert (1203, 1500) == error.codes

    def test_body_truncated_and_flattened(self) -> None:
        """A long body is collapsed to one line and cut at 500 characters."""
        error = ServerError("boom", body="x\n  y" + "z" * 1000)
        body_line = str(error).splitlines()[-1]
        assert body_line.startswith("  body: x y")
        assert 500 + 1 == len(error.body or "")
        assert (error.body or "").endswith("…")

    def test_bytes_body(self) -> None:
        """A bytes body is decoded, undecodable bytes replaced."""
        assert "ok \ufffd" == ServerError("boom", body=b"ok \xff").body

    @pytest.mark.parametrize("body", ["", b"", None])
    def test_empty_body(self, body: str | bytes | None) -> None:
        """An empty body is no body."""
        error = ServerError("boom", body=body)
        assert (None, "boom") == (error.body, str(error))

    def test_context_skips_missing_fields(self) -> None:
        """``context`` is a flat mapping of the fields that are set."""
        error = RecordNotFound("gone", environment="live", table="A", method="GET")
        assert {"environment": "live", "table": "A", "method": "GET"} == error.context()

    def test_empty_message(self) -> None:
        """Without a message the class name leads."""
        assert "RecordNotFound (table=A)" == str(RecordNotFound("", table="A"))

    def test_transient_override(self) -> None:
        """An instance may override its category's transient flag."""
        assert (True, False) == (
            ProtocolError("x", transient=True).transient,
            ProtocolError("x").transient,
        )


class TestStampConflict:
    """A StampConflict carries the entity's key and current values."""

    def test_current_stamp(self) -> None:
        """``current_stamp`` reads ``__STAMP`` from the current values."""
        error = StampConflict("stale", key="K", current={"__STAMP": "8", "Name": "x"})
        assert ("K", 8, "x") == (error.key, error.current_stamp, error.current["Name"])

    def test_without_current(self) -> None:
        """Without current values the stamp is unknown."""
        error = StampConflict("stale")
        assert ({}, None) == (dict(error.current), error.current_stamp)

    def test_current_is_a_copy(self) -> None:
        """The error keeps its own copy of the current values."""
        current = {"__STAMP": 1}
        error = StampConflict("stale", current=current)
        current["__STAMP"] = 2
        assert 1 == error.current_stamp


class TestPickling:
    """Errors keep their type and context across pickling and process boundaries."""

    @pytest.mark.parametrize(
        "error",
        [
            ServerError("boom", environment="live", status=500, body="b", errors=ENTRIES),
            Timeout("slow", environment="live", method="GET", path="/rest/A", retry_after=2.5),
            ProtocolError("cut", transient=True, not_applied=True),
            StampConflict("stale", key="K", current={"__STAMP": 3}, table="A"),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_round_trip(self, error: LegacyError) -> None:
        """A pickled error comes back with the same type, message and context."""
        back = pickle.loads(pickle.dumps(error))
        assert type(error) is type(back)
        assert str(error) == str(back)
        assert error.context() == back.context()
        assert (error.errors, error.transient, error.retry_after, error.not_applied) == (
            back.errors,
            back.transient,
            back.retry_after,
            back.not_applied,
        )

    def test_stamp_conflict_round_trip(self) -> None:
        """A pickled StampConflict keeps its key and current values."""
        back = pickle.loads(pickle.dumps(StampConflict("stale", key="K", current={"__STAMP": 3})))
        assert ("K", {"__STAMP": 3}) == (back.key, dict(back.current))

    def test_across_processes(self) -> None:
        """An error raised in a worker process arrives whole in the parent."""
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            future = pool.submit(raise_conflict)
            with pytest.raises(StampConflict) as info:
                future.result(timeout=60)
        error = info.value
        assert ("ABC", 7, "live", "Artikel", "req-1", (1203, 1500)) == (
            error.key,
            error.current_stamp,
            error.environment,
            error.table,
            error.request_id,
            error.codes,
        )

    def test_entry_fields(self) -> None:
        """A 4D error entry exposes code, message and component and pickles as itself."""
        entry = FourDErrorEntry(1802, "entity set not found")
        assert (1802, "entity set not found", "") == (entry.code, entry.message, entry.component)
        assert entry == pickle.loads(pickle.dumps(entry))


class TestFrozenContext:
    """Errors are frozen: their context never changes after construction."""

    def test_context_cannot_be_assigned(self) -> None:
        """Assigning a context field raises; ``evolve`` makes a changed copy instead."""
        err = ServerUnavailable("down", environment="live", not_applied=True)
        with pytest.raises(AttributeError):
            err.table = "Artikel"  # type: ignore[misc]
        copy = err.evolve(table="Artikel")
        assert ("live", "Artikel", True) == (copy.environment, copy.table, copy.not_applied)
        assert None is err.table
        assert isinstance(copy, ServerUnavailable)
        assert "table=Artikel" in str(copy)

    def test_evolve_keeps_cause_and_notes(self) -> None:
        """The copy keeps the chained cause and the notes of the original."""
        try:
            try:
                raise OSError("socket")
            except OSError as exc:
                raise LicenceExhausted("402", environment="live") from exc
        except LicenceExhausted as err:
            err.add_note("after 3 grace retries")
            copy = err.evolve(retry_after=30.0)
        assert isinstance(copy.__cause__, OSError)
        assert ["after 3 grace retries"] == copy.__notes__
        assert 30.0 == copy.retry_after
        assert isinstance(copy.ctx, ErrorContext)
