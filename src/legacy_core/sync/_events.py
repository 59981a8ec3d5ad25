"""Change events: what a run did to each entity, found by comparing sink rows; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import attrs

__all__ = ["ChangeEvent", "EventHandler", "EventKind", "diff_rows"]

EventKind = Literal["created", "updated", "deleted"]


@attrs.frozen
class ChangeEvent:
    """One entity's change as a run applied it.

    ``before`` is the sink's row before the batch (None for ``created``), ``after`` the
    row written (None for ``deleted``); ``changed`` the columns whose value differs.
    ``stamp`` is 4D's ``__STAMP`` of the version applied (of the last known for a delete).
    """

    mapping: str
    kind: EventKind
    key: str
    stamp: int | None
    changed: tuple[str, ...] = ()
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<ChangeEvent {self.kind} {self.mapping}[{self.key}] stamp={self.stamp}>"

    def to_json(self) -> dict[str, Any]:
        """The event as plain data (what the sinks' outbox table keeps)."""
        return {
            "mapping": self.mapping,
            "kind": self.kind,
            "key": self.key,
            "stamp": self.stamp,
            "changed": list(self.changed),
            "before": None if self.before is None else dict(self.before),
            "after": None if self.after is None else dict(self.after),
        }


class EventHandler(Protocol):
    """A callable receiving each batch's events before the batch is committed.

    Called before the commit, so a crash after it re-delivers the batch on the next run:
    delivery is at least once; the sink's own outbox table is exactly once.
    """

    def __call__(self, events: Sequence[ChangeEvent], /) -> None: ...


def diff_rows(
    mapping: str,
    key: str,
    stamp: int | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
) -> ChangeEvent | None:
    """The event writing ``after`` over ``before`` makes; None when nothing changes at all."""
    if before is None:
        return ChangeEvent(mapping, "created", key, stamp, tuple(after), None, dict(after))
    changed = tuple(c for c in after if before.get(c) != after[c])
    if not changed:
        return None
    return ChangeEvent(mapping, "updated", key, stamp, changed, dict(before), dict(after))
