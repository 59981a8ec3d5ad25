"""Write-back: local changes pushed to 4D with ``__STAMP`` checks, conflicts by policy (ADR 0036).

Each change is sent as an ``update_many`` item with ``expected_stamp`` = the stamp it was
based on. What 4D answers per item (ADR 0014) decides what happens:

- ``saved``: marked done; the sink's copy takes 4D's saved row (read back, typed), so the
  next sync run finds it unchanged and announces nothing (our own write is no remote change);
- ``conflict``: the mapping's ``conflict_policy`` decides (``legacy_core.sync.decide``);
  each decision is logged (``legacy_api.sync.conflict``) and counted
  (``legacy_api_sync_conflicts_total{table,policy,decision}``);
- ``rejected``: marked rejected (4D refused the values; never resent);
- ``not_sent`` / ``unknown``: left to push. An unknown outcome (a timeout after sending) is
  never marked done: the next run sends it again on the same base stamp, and if the first
  attempt did land, 4D answers a conflict whose values are ours: ``applied``, not doubled.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core.errors import LegacyError, PartialWrite, StampConflict
from legacy_core.model import FieldUpdate, WriteResult, request_outcome
from legacy_core.query import field
from legacy_core.service import LegacyClient
from legacy_core.sync import FieldMap, LocalChange, SyncMapping, decide

from ._base import Batch, Sink, stored_form
from ._changes import ChangeSource, ConflictStore, changes_of
from ._runner import _RUN, SyncRunner, _RequestCounter

__all__ = ["WriteBack", "WriteBackSummary"]

_log = get_logger()

_Outcome = tuple[str, WriteResult | None, Exception | None]


@attrs.frozen
class WriteBackSummary:
    """What one write-back run did with the pending local changes."""

    mapping: str
    pushed: int
    saved: int
    conflicts: int
    resent: int
    kept_legacy: int
    parked: int
    applied: int
    rejected: int
    unknown: int
    not_sent: int
    requests: int
    seconds: float

    def line(self) -> str:
        """One line for a log or a terminal."""
        return (
            f"{self.mapping}: write-back, {self.pushed} pushed, {self.saved} saved, "
            f"{self.conflicts} conflicts ({self.resent} resent, {self.kept_legacy} kept 4D's, "
            f"{self.parked} parked, {self.applied} already applied), {self.rejected} rejected, "
            f"{self.unknown} unknown, {self.not_sent} not sent, {self.requests} requests, "
            f"{self.seconds:.2f} s"
        )


@attrs.define
class WriteBack:
    """Pushes a mapping's local changes to 4D; ``run()`` once per cycle (e.g. before a sync).

    ``source`` gives the changes (default: the sink's ``_legacy_sync_outgoing`` table) and
    ``conflicts`` keeps parked ones (default: the sink's ``_legacy_sync_conflicts``). A change's
    ``values`` are 4D field names; its ``key`` is the mapping's key. The run holds the
    mapping's sync lock, so a sync and a write-back of one mapping never overlap.
    """

    client: LegacyClient
    mapping: SyncMapping
    sink: Sink
    source: ChangeSource | None = None
    conflicts: ConflictStore | None = None
    batch_size: int = 100
    environment: str | None = None
    _tally: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)
    _maps: list[FieldMap] = attrs.field(factory=list, init=False, repr=False)
    _kinds: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)
    _key_column: str = attrs.field(default="__KEY", init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.source is None or self.conflicts is None:
            store = changes_of(self.sink)
            self.source = self.source or store
            self.conflicts = self.conflicts or store

    def run(self) -> WriteBackSummary:
        """Push every pending change once; return what became of them."""
        started = time.monotonic()
        counter = instrument.install(_RequestCounter())
        token = _RUN.set(counter)
        self._tally = dict.fromkeys(
            (
                "pushed",
                "saved",
                "conflicts",
                "resent",
                "kept_legacy",
                "parked",
                "applied",
                "rejected",
                "unknown",
                "not_sent",
            ),
            0,
        )
        try:
            with self.sink.lock(self.mapping.name):
                self._run()
        finally:
            _RUN.reset(token)
            instrument.uninstall(counter)
        return WriteBackSummary(
            mapping=self.mapping.name,
            requests=counter.requests,
            seconds=round(time.monotonic() - started, 3),
            **self._tally,
        )

    def _run(self) -> None:
        assert self.source is not None
        runner = SyncRunner(self.client, self.mapping, self.sink, environment=self.environment)
        _catalog, maps, columns, key_column = runner._columns()
        self.sink.prepare(self.mapping.target, key_column, columns)
        self._maps = maps
        self._kinds = {c.name: c.kind for c in columns}
        self._key_column = key_column
        todo = self.source.pending(self.mapping.name)
        while todo:
            # One change per key per request: a later change of a key waits for the earlier.
            chunk: list[LocalChange] = []
            later: list[LocalChange] = []
            keys: set[str] = set()
            for change in todo:
                if change.key in keys or len(chunk) >= self.batch_size:
                    later.append(change)
                else:
                    keys.add(change.key)
                    chunk.append(change)
            self._push_chunk(chunk)
            todo = later

    def _fourd_keys(self, changes: Sequence[LocalChange]) -> dict[str, str]:
        """``__KEY`` of each change's key: itself, or the sink's copy's (business keys)."""
        if self.mapping.key == "__KEY":
            return {c.key: c.key for c in changes}
        rows = self.sink.rows(self.mapping.target, self._key_column, [c.key for c in changes])
        return {k: str(r["__KEY"]) for k, r in rows.items() if r.get("__KEY") is not None}

    def _push_chunk(self, chunk: list[LocalChange]) -> None:
        assert self.source is not None
        fourd_keys = self._fourd_keys(chunk)
        sendable = []
        for change in chunk:
            if change.key not in fourd_keys:
                self._tally["rejected"] += 1
                why = f"{self.mapping.table}: no local copy of {change.key} to find its __KEY"
                self.source.mark(self.mapping.name, change, "rejected", error=why)
            else:
                sendable.append(change)
        if not sendable:
            return
        self._tally["pushed"] += len(sendable)
        updates = [self._update(c, fourd_keys[c.key], c.base_stamp) for c in sendable]
        saved: dict[str, int] = {}
        for change, (status, result, error) in zip(sendable, self._send(updates), strict=True):
            if status == "saved" and result is not None:
                self._tally["saved"] += 1
                self.source.mark(self.mapping.name, change, "done", stamp=result.stamp)
                saved[fourd_keys[change.key]] = result.stamp
            elif status == "conflict" and isinstance(error, StampConflict):
                self._tally["conflicts"] += 1
                stamp = self._conflict(change, fourd_keys[change.key], error)
                if stamp is not None:
                    saved[fourd_keys[change.key]] = stamp
            else:
                self._left(change, status, error)
        self._echo(saved)

    def _update(self, change: LocalChange, fourd_key: str, stamp: int | None) -> FieldUpdate:
        return FieldUpdate(
            self.mapping.table,
            fourd_key,
            change.values,
            expected_stamp=stamp,
            environment=self.environment,
        )

    def _send(self, updates: list[FieldUpdate]) -> list[_Outcome]:
        try:
            results = self.client.update_many(updates, environment=self.environment)
        except PartialWrite as exc:
            return [(o.status, o.result, o.error) for o in exc.outcomes]
        except LegacyError as exc:  # one update's own error, or a request that failed whole
            return [(request_outcome(exc), None, exc)] * len(updates)
        return [("saved", r, None) for r in results]

    def _left(self, change: LocalChange, status: str, error: Exception | None) -> None:
        """A change not applied (rejected) or not known to be: recorded, never marked done."""
        assert self.source is not None
        text = None if error is None else (str(error).splitlines() or [""])[0]
        if status == "rejected":
            self._tally["rejected"] += 1
            self.source.mark(self.mapping.name, change, "rejected", error=text)
            _log.warning(
                "legacy_api.sync.writeback_rejected",
                mapping=self.mapping.name,
                table=self.mapping.table,
                key=change.key,
                error=text,
            )
            return
        # unknown or not_sent (or a conflict without the current values): push it again.
        tally = "not_sent" if status == "not_sent" else "unknown"
        self._tally[tally] += 1
        self.source.mark(self.mapping.name, change, "unknown", error=f"{status}: {text}")
        _log.warning(
            "legacy_api.sync.writeback_unknown",
            mapping=self.mapping.name,
            table=self.mapping.table,
            key=change.key,
            status=status,
            error=text,
        )

    def _conflict(self, change: LocalChange, fourd_key: str, error: StampConflict) -> int | None:
        """Apply the policy to a refused change; 4D's stamp when it now holds the change."""
        assert self.source is not None
        assert self.conflicts is not None
        m = self.mapping
        current = dict(error.current)
        stamp = error.current_stamp
        decision, reason = decide(m.conflict_policy, change, current, m.watermark)
        _log.info(
            "legacy_api.sync.conflict",
            mapping=m.name,
            table=m.table,
            key=change.key,
            policy=m.conflict_policy,
            decision=decision,
            reason=reason,
            base_stamp=change.base_stamp,
            current_stamp=stamp,
        )
        instrument.sync_conflict(m.table, m.conflict_policy, decision)
        if decision == "applied":
            self._tally["applied"] += 1
            self.source.mark(m.name, change, "done", stamp=stamp)
            return stamp
        if decision == "keep_legacy":
            self._tally["kept_legacy"] += 1
            self.source.mark(m.name, change, "dropped", stamp=stamp, error=reason)
            return None  # the next sync run brings 4D's version in, with its event
        if decision == "park" or stamp is None:
            self._tally["parked"] += 1
            self.conflicts.park(m.name, change, current, stamp)
            self.source.mark(m.name, change, "parked", stamp=stamp, error=reason)
            return None
        self._tally["resent"] += 1
        (status, result, err) = self._send([self._update(change, fourd_key, stamp)])[0]
        if status == "saved" and result is not None:
            self.source.mark(m.name, change, "done", stamp=result.stamp)
            return result.stamp
        self._left(change, status, err)  # raced again (or lost): the next run decides anew
        return None

    def _echo(self, saved: Mapping[str, int]) -> None:
        """Put 4D's saved rows into the sink, unless 4D changed them again since our write.

        Read back typed, like a sync run reads, so the sink's copy equals what the next
        run will read: it finds the version unchanged and announces nothing.
        """
        if not saved:
            return
        m = self.mapping
        fields = m.read_fields([f.source for f in self._maps if f.source != "__STAMP"])
        records = self.client.iter_records(
            m.table,
            where=field("__KEY").in_(sorted(saved)),
            fields=[f for f in fields if f not in {"__KEY", "__STAMP"}],
            environment=self.environment,
        )
        rows: list[dict[str, Any]] = []
        for record in records:
            key = str(record.get("__KEY"))
            if record.get("__STAMP") != saved.get(key):
                continue  # saved again in 4D meanwhile: the next sync reports that change
            row = m.row(record, self._maps)
            rows.append({c: stored_form(self._kinds[c], v) for c, v in row.items()})
        if rows:
            self.sink.commit(m.target, self._key_column, m.name, Batch(upserts=rows))
