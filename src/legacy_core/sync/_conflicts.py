"""Write-back conflicts: what to do when 4D changed an entity we are pushing a change to; pure.

A local change carries the ``__STAMP`` it was based on. 4D refuses it with a StampConflict
when the entity was saved since (ADR 0014). The mapping's declared policy then decides
(ADR 0036):

- ``local_wins``: send it again with 4D's current stamp (the local values overwrite);
- ``legacy_wins``: drop it; 4D's version stays and the next sync run brings it in;
- ``newest_wins``: whichever changed later, by the watermark's position of 4D's current
  version (``modified_date``+``modified_time`` or ``__TIMESTAMP``) against the local
  change's time; when 4D's version carries no time, it is parked;
- ``manual``: parked in the sink's conflict table with both versions for a person.

Before any policy, a conflict whose current 4D values already equal the change's values
is the change itself, applied by an earlier attempt whose answer was lost: ``applied``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from legacy_core.errors import ConfigurationError
from legacy_core.model import validate_identifier

from ._mapping import GlobalStampWatermark, Watermark, _day_of

__all__ = [
    "CONFLICT_POLICIES",
    "ConflictPolicy",
    "Decision",
    "LocalChange",
    "check_policy",
    "decide",
    "position_of_datetime",
    "same_values",
]

ConflictPolicy = Literal["newest_wins", "legacy_wins", "local_wins", "manual"]
CONFLICT_POLICIES: frozenset[str] = frozenset(
    {"newest_wins", "legacy_wins", "local_wins", "manual"}
)

Decision = Literal["resend", "keep_legacy", "park", "applied"]
"""``resend`` with 4D's current stamp; ``keep_legacy``: drop the local change; ``park`` in
the conflict table; ``applied``: 4D already holds the change's values (our own write)."""

_EPOCH = dt.datetime(1970, 1, 1)


def position_of_datetime(moment: dt.datetime) -> int:
    """A moment as a time watermark's position: ms since 1970 (aware moments in UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def check_policy(value: str, *, table: str | None = None) -> None:
    """ConfigurationError unless ``value`` is a conflict policy."""
    if value not in CONFLICT_POLICIES:
        msg = f"conflict policy must be one of {sorted(CONFLICT_POLICIES)}, not {value!r}"
        raise ConfigurationError(msg, table=table)


@attrs.frozen
class LocalChange:
    """One change made locally, to push to 4D: 4D field names to values, on ``base_stamp``.

    ``changed_at`` is when the application made it (``newest_wins`` compares it with 4D's
    modification time); ``id`` is the source's own id (the outgoing table's row).
    """

    key: str
    values: Mapping[str, Any] = attrs.field(converter=dict)
    base_stamp: int | None
    changed_at: dt.datetime
    id: int | str | None = None

    def __attrs_post_init__(self) -> None:
        for name in self.values:
            validate_identifier(name, "field")


def _same(value: Any, held: Any) -> bool:
    if value == held:
        return True
    # A StampConflict carries 4D's wire form: a date is D!M!YYYY text.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        try:
            return _day_of(held) == value
        except (TypeError, ValueError):
            return False
    return False


def same_values(values: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether 4D's ``current`` entity already holds every value of ``values``."""
    return all(name in current and _same(value, current[name]) for name, value in values.items())


def decide(  # noqa: PLR0911 - one answer per policy
    policy: str,
    change: LocalChange,
    current: Mapping[str, Any],
    watermark: Watermark,
    *,
    current_values: Mapping[str, Any] | None = None,
) -> tuple[Decision, str]:
    """What to do with ``change`` that 4D refused because ``current`` was saved since.

    Returns the decision and the reason it was taken (for the log). ``current_values`` are
    4D's values of the change's fields in the change's own form (the caller decodes them;
    default: ``current`` itself).
    """
    check_policy(policy)
    if same_values(change.values, current if current_values is None else current_values):
        return "applied", "4D already holds the change's values"
    if policy == "local_wins":
        return "resend", "policy local_wins"
    if policy == "legacy_wins":
        return "keep_legacy", "policy legacy_wins"
    if policy == "manual":
        return "park", "policy manual"
    if isinstance(watermark, GlobalStampWatermark):
        remote = None  # a replication counter is no time
    else:
        try:
            remote = watermark.position(current)
        except (TypeError, ValueError):
            remote = None
    if remote is None:
        return "park", "newest_wins: 4D's version carries no modification time"
    local = position_of_datetime(change.changed_at)
    if local > remote:
        return "resend", f"newest_wins: the local change is newer ({local} > {remote})"
    return "keep_legacy", f"newest_wins: 4D's version is as new or newer ({remote} >= {local})"
