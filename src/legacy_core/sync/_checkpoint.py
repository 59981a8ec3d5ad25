"""The checkpoint of a mapping and the planning of its next read; pure, no I/O.

The algorithm (ADR 0031): a run reads every row whose position (watermark value) is
``>= position - overlap`` and skips the versions ``(key, __STAMP)`` the checkpoint has
already seen; the new position is the largest one read, and ``seen`` keeps every version
at or above ``new position - overlap`` (the ones the next read will meet again). A row
changed in the same second as the watermark is therefore read again and applied unless
that exact version was; a checkpoint is saved in the same transaction as the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from legacy_core.errors import ConfigurationError
from legacy_core.model import Record
from legacy_core.query import Filter

from ._mapping import SyncMapping, Watermark

__all__ = ["Checkpoint", "ReadPlan", "Version", "plan_read", "select_new"]

Version = tuple[str, int]
"""``(key, __STAMP)``: one saved state of one entity."""


def _seen(value: Mapping[Version, int] | Iterable[tuple[Version, int]]) -> Mapping[Version, int]:
    items = value.items() if isinstance(value, Mapping) else value
    return {(str(k), int(s)): int(p) for (k, s), p in items}


@attrs.frozen
class Checkpoint:
    """Where a mapping stands: the watermark position, the versions met near it, the runs.

    ``position`` None: nothing was copied yet (the next run is a full copy).
    ``pending``: versions applied by a run that has not finished (a crash mid-run); the
    run that resumes skips them, so a committed batch is never applied or announced twice.
    ``deleted_position``: the ``__DeletedRecords`` stamp read up to.
    """

    mapping: str
    position: int | None = None
    seen: Mapping[Version, int] = attrs.field(factory=dict, converter=_seen)
    pending: Mapping[Version, int] = attrs.field(factory=dict, converter=_seen)
    deleted_position: int | None = None
    runs: int = 0

    def __repr__(self) -> str:
        return (
            f"<Checkpoint {self.mapping} position={self.position} seen={len(self.seen)} "
            f"pending={len(self.pending)} runs={self.runs}>"
        )

    @property
    def done(self) -> Mapping[Version, int]:
        """Every version a read must not apply again: seen near the watermark, or pending."""
        return {**self.seen, **self.pending}

    def is_new(self, version: Version) -> bool:
        """True when ``version`` was neither seen near the watermark nor applied by this run."""
        return version not in self.seen and version not in self.pending

    def applied(self, versions: Mapping[Version, int | None]) -> Checkpoint:
        """The checkpoint after a committed batch of ``versions`` (positions) of a running run."""
        add = {v: (-1 if p is None else p) for v, p in versions.items()}
        return attrs.evolve(self, pending={**self.pending, **add})

    def finished(
        self,
        watermark: Watermark,
        *,
        deleted_position: int | None = None,
        ceiling: int | None = None,
    ) -> Checkpoint:
        """The checkpoint at the end of a run: position advanced, ``seen`` pruned, no pending.

        Positions above ``ceiling`` do not count: a row dated in the future (a wrong
        clock, a typo in a date) must not carry the watermark past rows saved later
        today. Such a row stays in ``seen``: every run reads it again and skips it.
        """
        met = {**self.seen, **self.pending}
        known = [p for p in met.values() if p >= 0 and (ceiling is None or p <= ceiling)]
        if self.position is not None:
            known.append(self.position)
        position = max(known) if known else self.position
        if position is None:
            # A full copy of a table whose rows carry no watermark value: start from 0
            # so the next run is incremental (rows without a value never match a filter).
            position = 0
        low = position - watermark.overlap
        seen = {v: p for v, p in met.items() if p >= low}
        return attrs.evolve(
            self,
            position=position,
            seen=seen,
            pending={},
            deleted_position=self.deleted_position
            if deleted_position is None
            else max(deleted_position, self.deleted_position or 0),
            runs=self.runs + 1,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (what the sinks store)."""
        return {
            "mapping": self.mapping,
            "position": self.position,
            "seen": [[k, s, p] for (k, s), p in sorted(self.seen.items())],
            "pending": [[k, s, p] for (k, s), p in sorted(self.pending.items())],
            "deleted_position": self.deleted_position,
            "runs": self.runs,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        """The checkpoint ``to_json`` wrote; ConfigurationError when it is not one."""
        try:
            return cls(
                mapping=str(data["mapping"]),
                position=None if data.get("position") is None else int(data["position"]),
                seen={(str(k), int(s)): int(p) for k, s, p in data.get("seen", ())},
                pending={(str(k), int(s)): int(p) for k, s, p in data.get("pending", ())},
                deleted_position=None
                if data.get("deleted_position") is None
                else int(data["deleted_position"]),
                runs=int(data.get("runs", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"stored sync checkpoint is damaged: {exc}"
            raise ConfigurationError(msg) from None


@attrs.frozen
class ReadPlan:
    """The next read of a mapping: a full copy, or the rows at or after ``low``."""

    table: str
    fields: Sequence[str]
    where: Filter | None
    full: bool
    low: int | None


def plan_read(mapping: SyncMapping, checkpoint: Checkpoint, catalog: Sequence[str]) -> ReadPlan:
    """Plan the read a run makes: everything the first time, then ``position - overlap`` on.

    ``catalog`` lists the table's field names (relations excluded), used when the mapping
    names none. A run that crashed keeps its position: it reads the same rows again and
    skips the ones it already applied (``pending``).
    """
    fields = mapping.read_fields(catalog)
    if checkpoint.position is None:
        return ReadPlan(mapping.table, fields, None, full=True, low=None)
    low = checkpoint.position - mapping.watermark.overlap
    return ReadPlan(mapping.table, fields, mapping.watermark.since(low), full=False, low=low)


def select_new(
    mapping: SyncMapping, checkpoint: Checkpoint, records: Iterable[Record]
) -> list[tuple[Version, int | None, Record]]:
    """The records of a read that are new versions, with their version and position."""
    out = []
    for record in records:
        stamp = record.get("__STAMP")
        if stamp is None:
            msg = f"mapping {mapping.name}: a record of {mapping.table} has no __STAMP"
            raise ConfigurationError(msg, table=mapping.table)
        version = (mapping.key_of(record), int(stamp))
        if checkpoint.is_new(version):
            out.append((version, mapping.watermark.position(record), record))
    return out
