"""The writing half of the 4D adapter: ``$method=update`` batches, creates, deletes, stamps.

Updates and creates are sent as JSON arrays under the server's maximum request size (a
create is an entity without ``__KEY``); a stale ``__STAMP`` comes back as
:class:`~legacy_core.errors.StampConflict` with the current values. 4D saves the other
entities of a non-atomic batch when one fails, so such a batch answers with one outcome
per entity (:class:`~legacy_core.errors.PartialWrite`). A delete is
``POST /rest/{Table}({key})?$method=delete``; 4D takes no stamp there, so an expected
stamp is checked by reading the entity first (ADR 0027). Nothing here retries: the
exchange resends only after a 401 or 402 (not applied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import orjson

from legacy_adapters.wire import DecodeError, encode_values, parse_write_answer
from legacy_adapters.wire._requests import entity_path
from legacy_core._checks import check_text, check_write_value, describe
from legacy_core._steps import Steps
from legacy_core.errors import (
    InvalidQuery,
    LegacyError,
    PartialWrite,
    ServerError,
    StampConflict,
)
from legacy_core.model import (
    FieldUpdate,
    OutcomeStatus,
    Record,
    WriteOutcome,
    WriteResult,
    outcome_status,
    validate_identifier,
)

from ._errors import body_error, error_context
from ._exchange import Exchange
from ._transport import HttpRequest

__all__ = ["FourDWriter"]

# Room for "[", "]" and the commas between entities.
_ARRAY_OVERHEAD = 2
# One entity's outcome in a batched write: its result or its error, and what that means.
_Item = tuple[WriteResult | None, LegacyError | None, OutcomeStatus]


@attrs.define
class FourDWriter:
    """``FieldWriter`` over 4D REST."""

    exchange: Exchange
    default_environment: str
    max_request_size: int = 2_000_000

    def write(self, updates: Sequence[FieldUpdate], *, atomic: bool = False) -> list[WriteResult]:
        """:meth:`write_steps` driven with blocking I/O."""
        return self.exchange.run(self.write_steps(updates, atomic=atomic))

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        """:meth:`create_steps` driven with blocking I/O."""
        return self.exchange.run(self.create_steps(environment, table, values))

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        """:meth:`create_many_steps` driven with blocking I/O."""
        return self.exchange.run(self.create_many_steps(environment, table, rows))

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        """:meth:`delete_steps` driven with blocking I/O."""
        self.exchange.run(self.delete_steps(environment, table, key, expected_stamp=expected_stamp))

    def write_steps(
        self, updates: Sequence[FieldUpdate], *, atomic: bool = False
    ) -> Steps[list[WriteResult]]:
        """Apply ``updates`` (one table and environment) in batches under the request size.

        One update that fails raises its own error. Of several (not atomic), every one is
        attempted; if some fail, :class:`PartialWrite` carries one outcome per update. A
        request that fails as a whole leaves its updates ``not_sent`` or ``unknown`` and
        the later batches ``not_sent``. With ``atomic`` a failure saves nothing and the
        failing update's error is raised.
        """
        if not updates:
            return []
        table = updates[0].table
        environment = self._environment_of(updates[0])
        for update in updates:
            if update.table != table or self._environment_of(update) != environment:
                msg = "one write() call updates one table in one environment"
                raise InvalidQuery(msg, environment=environment, table=table)
        batches = self._batches(updates, environment, table)
        if atomic and len(batches) > 1:
            msg = (
                f"an atomic update of {len(updates)} entities does not fit in one request "
                f"of {self.max_request_size} bytes; split it or drop atomic"
            )
            raise InvalidQuery(msg, environment=environment, table=table)
        items = yield from self._send_batches(environment, table, batches, atomic=atomic)
        if not self._failed(items, len(updates)):
            return [r for r, _, _ in items if r is not None]
        outcomes = [
            WriteOutcome(i, u.table, u.key, status, result=r, error=e)
            for i, (u, (r, e, status)) in enumerate(zip(updates, items, strict=True))
        ]
        raise PartialWrite.of(outcomes, environment=environment)

    def create_steps(self, environment: str, table: str, values: Record) -> Steps[WriteResult]:
        """Create one entity (an update without ``__KEY``) and return it as saved."""
        validate_identifier(table, "table")
        body = _dumps(self._new_entity(environment, table, values), environment, table)
        self._check_size(len(body), environment, table)
        ((result, failure),) = yield from self._post(environment, table, [None], body, atomic=False)
        if failure is not None:
            raise failure
        assert result is not None  # one of the two is set
        return result

    def create_many_steps(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> Steps[list[WriteResult]]:
        """Create ``rows`` in order, as arrays of entities without ``__KEY`` under the size.

        Every row is checked before the first request. One row that fails raises its own
        error; of several, every one is attempted and, if some fail,
        :class:`PartialWrite` carries one outcome per row (key None for those not
        created). A request that fails as a whole leaves its rows ``not_sent`` or
        ``unknown`` (a create that may have been applied: never resent blindly) and the
        later batches ``not_sent``.
        """
        validate_identifier(table, "table")
        if not rows:
            return []
        parts = [
            _dumps(self._new_entity(environment, table, row), environment, table) for row in rows
        ]
        batches: list[tuple[list[str | None], bytes]] = [
            ([None] * len(indices), b"[" + b",".join(parts[i] for i in indices) + b"]")
            for indices in self._pack(parts, environment, table)
        ]
        items = yield from self._send_batches(environment, table, batches, atomic=False)
        if not self._failed(items, len(rows)):
            return [r for r, _, _ in items if r is not None]
        outcomes = [
            WriteOutcome(i, table, r.key if r is not None else None, status, result=r, error=e)
            for i, (r, e, status) in enumerate(items)
        ]
        raise PartialWrite.of(outcomes, environment=environment)

    def delete_steps(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> Steps[None]:
        """Delete the entity ``key``: ``POST /rest/{Table}({key})?$method=delete``.

        4D's delete takes no stamp: with ``expected_stamp`` the entity is read first and a
        different ``__STAMP`` raises StampConflict with its current values, nothing
        deleted. Any failure of that read is ``not_applied`` (the delete was not sent).
        An unknown key raises RecordNotFound; the answer is ``{"ok": true}``.
        """
        validate_identifier(table, "table")
        if not isinstance(key, str) or not key:
            msg = f"key must be a non-empty str (4D __KEY), got {describe(key)}"
            raise InvalidQuery(msg, environment=environment, table=table, not_applied=True)
        check_text(key, f"key of {table}", environment=environment, table=table)
        if expected_stamp is not None:
            yield from self._check_stamp(environment, table, key, expected_stamp)
        answer = yield from self.exchange.call_steps(
            environment,
            "POST",
            entity_path(table, key),
            params=(("$method", "delete"),),
            table=table,
            context="write",
        )
        data = answer.data
        if isinstance(data, Mapping) and data.get("ok") is True:
            return
        failure = body_error(
            data,
            answer.request,
            answer.response,
            table=table,
            context="write",
            secrets=answer.secrets,
        )
        if failure is not None:
            raise failure
        bad = DecodeError(f'a delete answers {{"ok": true}}, got {data!r}')
        raise self._protocol(bad, answer.request, table)

    def _check_stamp(self, environment: str, table: str, key: str, expected: int) -> Steps[None]:
        """Read the entity and raise StampConflict unless its ``__STAMP`` is ``expected``."""
        try:
            answer = yield from self.exchange.call_steps(
                environment, "GET", entity_path(table, key), table=table, context="entity"
            )
            current = answer.data
            stamp = current.get("__STAMP") if isinstance(current, Mapping) else None
            if isinstance(stamp, bool) or not isinstance(stamp, int):
                bad = DecodeError(f"the entity read before a delete has no int __STAMP: {stamp!r}")
                raise self._protocol(bad, answer.request, table)
        except LegacyError as err:
            # Nothing was deleted yet: whatever failed, the delete certainly was not applied.
            raise err.evolve(not_applied=True) from err.__cause__
        if stamp != expected:
            msg = (
                f"{environment}: stamp conflict on {table}[{key}]: expected __STAMP "
                f"{expected}, the entity has {stamp}; not deleted"
            )
            raise StampConflict(
                msg,
                key=key,
                current=dict(current),
                not_applied=True,
                **error_context(answer.request, answer.response, table),
            )

    def _new_entity(self, environment: str, table: str, values: Record) -> dict[str, Any]:
        given: object = values  # callers are not type-checked
        if not isinstance(given, Mapping):
            msg = f"a new {table} entity must be a mapping of field values, not {describe(values)}"
            raise InvalidQuery(msg, environment=environment, table=table, not_applied=True)
        for name, value in values.items():
            validate_identifier(name, "field")
            if name.startswith("__"):
                msg = f"{name} is managed by 4D and cannot be written"
                raise InvalidQuery(msg, environment=environment, table=table)
            # The same checks as an update's: NaN would be stored as null.
            check_write_value(
                value, f"new {table}.{name}", environment=environment, table=table, not_applied=True
            )
        return encode_values(values)

    def _pack(self, parts: Sequence[bytes], environment: str, table: str) -> list[list[int]]:
        """Group encoded entities into arrays under the request size; their indices."""
        batches: list[list[int]] = []
        current: list[int] = []
        size = _ARRAY_OVERHEAD
        for index, part in enumerate(parts):
            self._check_size(len(part) + _ARRAY_OVERHEAD, environment, table)
            if current and size + len(part) + 1 > self.max_request_size:
                batches.append(current)
                current, size = [], _ARRAY_OVERHEAD
            size += len(part) + (1 if current else 0)
            current.append(index)
        batches.append(current)
        return batches

    def _environment_of(self, update: FieldUpdate) -> str:
        return update.environment or self.default_environment

    def _check_size(self, size: int, environment: str, table: str) -> None:
        if size > self.max_request_size:
            msg = (
                f"one entity of {table} encodes to {size} bytes, over the server's maximum "
                f"request size of {self.max_request_size}"
            )
            raise InvalidQuery(msg, environment=environment, table=table)

    def _batches(
        self, updates: Sequence[FieldUpdate], environment: str, table: str
    ) -> list[tuple[list[str | None], bytes]]:
        """The updates as ``(keys, JSON array)`` requests under the request size."""
        parts: list[bytes] = []
        for update in updates:
            entity: dict[str, Any] = {"__KEY": update.key}
            if update.expected_stamp is not None:
                entity["__STAMP"] = update.expected_stamp
            entity.update(encode_values(update.values))
            parts.append(_dumps(entity, environment, table))
        return [
            ([updates[i].key for i in indices], b"[" + b",".join(parts[i] for i in indices) + b"]")
            for indices in self._pack(parts, environment, table)
        ]

    def _send_batches(
        self,
        environment: str,
        table: str,
        batches: Sequence[tuple[list[str | None], bytes]],
        *,
        atomic: bool,
    ) -> Steps[list[_Item]]:
        """Post every batch in order; one ``(result, error, status)`` per entity.

        A request that fails as a whole marks its entities ``not_sent`` or ``unknown``
        (sent or not decides what may be applied) and the later batches ``not_sent``;
        atomic writes and single entities raise that error instead.
        """
        total = sum(len(keys) for keys, _ in batches)
        items: list[_Item] = []
        for number, (keys, body) in enumerate(batches):
            try:
                answered = yield from self._post(environment, table, keys, body, atomic=atomic)
            except LegacyError as err:
                if atomic or total == 1:
                    raise
                status: OutcomeStatus = "not_sent" if err.not_applied else "unknown"
                items.extend((None, err, status) for _ in keys)
                later = sum(len(k) for k, _ in batches[number + 1 :])
                items.extend((None, err, "not_sent") for _ in range(later))
                break
            items.extend((r, e, "saved" if e is None else outcome_status(e)) for r, e in answered)
        return items

    @staticmethod
    def _failed(items: Sequence[_Item], total: int) -> bool:
        """Whether some entity failed; raises the error when it is one for everything."""
        failures = [e for _, e, _ in items if e is not None]
        if not failures:
            return False
        if total == 1 or (len(failures) == len(items) and all(e is failures[0] for e in failures)):
            raise failures[0]  # one error for everything: nothing partial to report
        return True

    def _post(
        self,
        environment: str,
        table: str,
        keys: Sequence[str | None],
        body: bytes,
        *,
        atomic: bool,
    ) -> Steps[list[tuple[WriteResult | None, LegacyError | None]]]:
        params: tuple[tuple[str, str], ...] = (("$method", "update"),)
        if atomic:
            params += (("$atomic", "true"),)
        answer = yield from self.exchange.call_steps(
            environment,
            "POST",
            f"/rest/{table}",
            params=params,
            body=body,
            table=table,
            context="write",
        )
        request = answer.request
        try:
            saved = parse_write_answer(answer.data)
        except DecodeError as exc:
            raise self._protocol(exc, request, table) from None

        def failure_of(part: Any) -> LegacyError | None:
            return body_error(
                part,
                request,
                answer.response,
                table=table,
                context="write",
                secrets=answer.secrets,
            )

        failures = [failure_of(part) for part in saved]
        whole = failure_of(answer.data) if not isinstance(answer.data, list) else None
        if atomic or len(saved) != len(keys):
            # Atomic: the first failing entity names why nothing was saved. A count that
            # does not match the request: only the answer as a whole can be reported.
            for failure in (*failures, whole):
                if failure is not None:
                    raise failure
        elif whole is not None and all(f is None for f in failures):
            raise whole
        status = answer.response.status
        if not 200 <= status < 300 and all(f is None for f in failures):
            # An array answer under an error status but without any error entry.
            msg = f"{environment}: the update of {table} answered HTTP {status} without a cause"
            raise ServerError(msg, **error_context(request, answer.response, table))
        if len(saved) != len(keys):
            mismatch = DecodeError(f"sent {len(keys)} entities, the answer holds {len(saved)}")
            raise self._protocol(mismatch, request, table)
        return [
            (None, failure)
            if failure is not None
            else (self._result(entity, request, table, sent_key), None)
            for sent_key, entity, failure in zip(keys, saved, failures, strict=True)
        ]

    def _result(
        self, entity: Mapping[str, Any], request: HttpRequest, table: str, sent_key: str | None
    ) -> WriteResult:
        key = entity.get("__KEY", sent_key)
        stamp = entity.get("__STAMP")
        if key is None or isinstance(stamp, bool) or not isinstance(stamp, int):
            bad = DecodeError(
                f"a saved entity needs __KEY and an int __STAMP, got {dict(entity)!r}"
            )
            raise self._protocol(bad, request, table)
        return WriteResult(table=table, key=str(key), stamp=stamp, record=dict(entity))

    def _protocol(self, exc: DecodeError, request: HttpRequest, table: str) -> LegacyError:
        # A write's answer: never resend blindly.
        return self.exchange.protocol_error(exc, request, table=table, transient=False)


def _dumps(entity: Mapping[str, Any], environment: str, table: str) -> bytes:
    try:
        return orjson.dumps(entity)
    except orjson.JSONEncodeError as exc:
        msg = f"cannot send a value to {table}: {exc}"
        raise InvalidQuery(msg, environment=environment, table=table) from None
