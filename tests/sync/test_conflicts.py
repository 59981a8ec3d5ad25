"""The pure conflict decisions of write-back: each policy, the lost-answer case, the times."""

from __future__ import annotations

import datetime as dt

import pytest

from legacy_core.errors import ConfigurationError, InvalidQuery
from legacy_core.sync import (
    GlobalStampWatermark,
    LocalChange,
    ModifiedWatermark,
    TimestampWatermark,
    decide,
    position_of_datetime,
)

WHEN = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
# 4D's version saved at 12:00:00 UTC on 4 Dec 2026 (raw wire forms, as a StampConflict has them).
CURRENT = {
    "Name": "theirs",
    "modified_date": "4!12!2026",
    "modified_time": 43_200_000,
    "__STAMP": 9,
}


def change(minutes: int, values: dict[str, object] | None = None) -> LocalChange:
    """A local change made ``minutes`` after 4D's save."""
    return LocalChange("K1", values or {"Name": "ours"}, 7, WHEN + dt.timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("local_wins", "resend"), ("legacy_wins", "keep_legacy"), ("manual", "park")],
)
def test_fixed_policies(policy: str, expected: str) -> None:
    """local_wins resends, legacy_wins keeps 4D's, manual parks, whatever the times."""
    assert expected == decide(policy, change(-60), CURRENT, ModifiedWatermark())[0]
    assert expected == decide(policy, change(+60), CURRENT, ModifiedWatermark())[0]


def test_newest_wins_by_modified_date_and_time() -> None:
    """The later of 4D's modified_date+modified_time and the change's time wins."""
    assert "resend" == decide("newest_wins", change(+1), CURRENT, ModifiedWatermark())[0]
    assert "keep_legacy" == decide("newest_wins", change(-1), CURRENT, ModifiedWatermark())[0]
    assert "keep_legacy" == decide("newest_wins", change(0), CURRENT, ModifiedWatermark())[0]


def test_newest_wins_by_timestamp_and_without_a_time() -> None:
    """__TIMESTAMP works the same; a version without any time (or a stamp counter) is parked."""
    stamped = {"Name": "theirs", "__TIMESTAMP": "2026-12-04T12:00:00.000Z"}
    assert "resend" == decide("newest_wins", change(+1), stamped, TimestampWatermark())[0]
    assert "keep_legacy" == decide("newest_wins", change(-1), stamped, TimestampWatermark())[0]
    assert "park" == decide("newest_wins", change(+1), {"Name": "x"}, ModifiedWatermark())[0]
    assert "park" == decide("newest_wins", change(+1), CURRENT, GlobalStampWatermark())[0]


def test_our_own_write_is_applied_under_every_policy() -> None:
    """A conflict whose current values are the change's is the change itself: applied."""
    for policy in ("newest_wins", "legacy_wins", "local_wins", "manual"):
        assert (
            "applied"
            == decide(policy, change(-5, {"Name": "theirs"}), CURRENT, ModifiedWatermark())[0]
        )


def test_positions_and_bad_input() -> None:
    """Aware times count in UTC; a bad policy or field name is refused."""
    local = dt.datetime(2026, 12, 4, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert ModifiedWatermark().position(CURRENT) == position_of_datetime(local)
    with pytest.raises(ConfigurationError, match="conflict policy"):
        decide("first_wins", change(0), CURRENT, ModifiedWatermark())
    with pytest.raises(InvalidQuery, match="field"):
        LocalChange("K", {"bad name": 1}, None, WHEN)


def test_a_date_matches_its_wire_form() -> None:
    """A local date equals 4D's D!M!YYYY text of the same day, and differs from another day."""
    current = {**CURRENT, "Datum": "4!12!2026"}
    same = change(-5, {"Datum": dt.date(2026, 12, 4)})
    other = change(-5, {"Datum": dt.date(2026, 12, 5)})
    assert "applied" == decide("manual", same, current, ModifiedWatermark())[0]
    assert "park" == decide("manual", other, current, ModifiedWatermark())[0]
