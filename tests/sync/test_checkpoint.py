"""The pure sync planning: watermark positions, read plans, the checkpoint's guarantees."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legacy_core.errors import ConfigurationError
from legacy_core.query import render
from legacy_core.sync import (
    Checkpoint,
    FieldMap,
    GlobalStampWatermark,
    ModifiedWatermark,
    SyncMapping,
    TimestampWatermark,
    diff_rows,
    plan_read,
    position_of_moment,
    select_new,
)

DAY = 86_400_000


class TestWatermarks:
    """Positions come from typed or raw values; the filters never use a strict date ``>``."""

    def test_modified_position_typed_and_raw_agree(self):
        """A typed (date, time) and a raw (D!M!YYYY, ms) record have the same position."""
        wm = ModifiedWatermark()
        typed = {"modified_date": dt.date(2025, 1, 27), "modified_time": dt.time(20, 35, 41)}
        raw = {"modified_date": "27!1!2025", "modified_time": 74141000}
        expected = (dt.date(2025, 1, 27) - dt.date(1970, 1, 1)).days * DAY + 74141000
        assert expected == wm.position(typed) == wm.position(raw)

    def test_created_stands_in_for_never_modified(self):
        """A row never modified (empty modified_*) is placed at its creation."""
        wm = ModifiedWatermark()
        row = {
            "modified_date": "0!0!0",
            "modified_time": None,
            "created_date": "2!1!2024",
            "created_time": 1000,
        }
        assert position_of_moment(dt.date(2024, 1, 2), 1000) == wm.position(row)
        assert ModifiedWatermark(created=None).position(row) is None

    def test_modified_filter_splits_the_day(self):
        """``since`` asks for the day from its time of day on, or later days, with >= only."""
        low = position_of_moment(dt.date(2025, 3, 4), 5000)
        text = render(ModifiedWatermark(created=None).since(low)).text
        assert (
            '(modified_date = "2025-03-04" AND modified_time >= 5000) '
            'OR modified_date >= "2025-03-05"'
        ) == text

    def test_stamp_and_timestamp_filters(self):
        """__GlobalStamp filters with > (unique stamps), __TIMESTAMP with >= (shared ms)."""
        assert "__GlobalStamp > 42" == render(GlobalStampWatermark().since(42)).text
        moment = dt.datetime(2025, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
        low = int(moment.timestamp() * 1000)
        assert (
            '__TIMESTAMP >= "2025-01-02T03:04:05.006Z"'
            == render(TimestampWatermark().since(low)).text
        )
        assert low == TimestampWatermark().position({"__TIMESTAMP": "2025-01-02T03:04:05.006Z"})


class TestMapping:
    """A mapping validates its names and turns a record into a sink row."""

    def test_fields_and_transforms(self):
        """Mapped fields are renamed and transformed; key and stamp columns come first."""
        m = SyncMapping("Artikel_Variante", fields=[FieldMap("Nummer", "sku", transform=str)])
        cols = m.columns(["Nummer", "Bezeichnung"])
        assert ["__KEY", "__STAMP", "sku"] == [c.target for c in cols]
        row = m.row({"__KEY": "A", "__STAMP": 3, "Nummer": 17}, cols)
        assert {"__KEY": "A", "__STAMP": 3, "sku": "17"} == row

    def test_read_fields_add_watermark(self):
        """The read asks for the mapped fields plus the key and the watermark's fields."""
        m = SyncMapping("Kunden", key="Kundennr", fields=["Name"])
        assert [
            "Name",
            "Kundennr",
            "modified_date",
            "modified_time",
            "created_date",
            "created_time",
        ] == m.read_fields(["Name", "Email"])

    def test_bad_configuration(self):
        """Two fields on one column, a transformed key, graves by business key: refused."""
        with pytest.raises(ConfigurationError, match="two fields map to one column"):
            SyncMapping("Kunden", fields={"Name": "x", "Email": "x"})
        with pytest.raises(ConfigurationError, match="cannot have a transform"):
            SyncMapping("Kunden", key="Kundennr", fields=[FieldMap("Kundennr", transform=str)])
        with pytest.raises(ConfigurationError, match="__DeletedRecords"):
            SyncMapping("Kunden", key="Kundennr", deletes="deleted_records")


class TestCheckpoint:
    """The checkpoint's bookkeeping: first run full, then position - overlap, de-duplicated."""

    def test_first_plan_is_full_then_incremental(self):
        """No position: a full read; after a run: the rows at or after position - overlap."""
        m = SyncMapping("T", watermark=GlobalStampWatermark(overlap=2))
        cp = Checkpoint("T")
        assert plan_read(m, cp, ["a"]).full
        cp = cp.applied({("k", 1): 10}).finished(m.watermark)
        plan = plan_read(m, cp, ["a"])
        assert (False, 8) == (plan.full, plan.low)

    def test_seen_versions_skipped_new_ones_kept(self):
        """A version met at the watermark is skipped; the same key with a new stamp is not."""
        m = SyncMapping("T", watermark=GlobalStampWatermark())
        cp = Checkpoint("T").applied({("k", 1): 10}).finished(m.watermark)
        rows = [
            {"__KEY": "k", "__STAMP": 1, "__GlobalStamp": 10},
            {"__KEY": "k", "__STAMP": 2, "__GlobalStamp": 10},
        ]
        assert [("k", 2)] == [v for v, _p, _r in select_new(m, cp, rows)]

    def test_ceiling_keeps_future_rows_from_moving_the_watermark(self):
        """A row dated in 2099 does not move the position; a row saved an hour later is read."""
        wm = ModifiedWatermark(created=None, overlap=0)
        m = SyncMapping("T", watermark=wm)
        now = position_of_moment(dt.date(2026, 12, 4), 36_000_000)
        future = position_of_moment(dt.date(2099, 1, 1), 0)
        cp = Checkpoint("T").applied({("a", 1): now, ("b", 1): future})
        cp = cp.finished(wm, ceiling=now + 14 * 3_600_000)
        assert now == cp.position
        assert ("b", 1) in cp.seen
        later = _record("c", 1, now + 3_600_000, 0)
        low = plan_read(m, cp, ["v"]).low
        assert low is not None
        assert (wm.position(later) or 0) >= low
        assert [("c", 1)] == [v for v, _p, _r in select_new(m, cp, [later])]
        assert Checkpoint("T").applied({("b", 1): future}).finished(wm).position == future

    def test_json_round_trip(self):
        """to_json/from_json keep every field; a damaged payload is a ConfigurationError."""
        cp = Checkpoint("T", position=5, seen={("a", 1): 5}, pending={("b", 2): 7}, runs=3)
        assert cp == Checkpoint.from_json(cp.to_json())
        with pytest.raises(ConfigurationError, match="damaged"):
            Checkpoint.from_json({"position": 1})

    def test_diff_rows(self):
        """Created without before; updated names the changed columns; no change, no event."""
        assert "created" == diff_rows("T", "k", 1, None, {"a": 1}).kind  # type: ignore[union-attr]
        event = diff_rows("T", "k", 2, {"a": 1, "b": 2}, {"a": 1, "b": 3})
        assert event is not None
        assert ("updated", ("b",)) == (event.kind, event.changed)
        assert diff_rows("T", "k", 2, {"a": 1}, {"a": 1}) is None


# -- the property: a simulated 4D table, changed between (and during) runs ---------------

OVERLAP = 2000  # ms


def _record(key: str, stamp: int, pos: int, value: int) -> dict[str, Any]:
    day, millis = divmod(pos, DAY)
    return {
        "__KEY": key,
        "__STAMP": stamp,
        "modified_date": dt.date(1970, 1, 1) + dt.timedelta(days=day),
        "modified_time": millis,
        "v": value,
    }


# One step: (kind, key index, clock advance in whole seconds, lag in ms, crash after n batches)
_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("save"),
            st.integers(0, 7),
            st.sampled_from([0, 0, 0, 1000]),  # mostly the same second
            st.integers(0, OVERLAP),  # committed late, stamped up to OVERLAP earlier
        ),
        st.tuples(st.just("run"), st.integers(0, 3), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=_steps, batch=st.integers(1, 3))
def test_no_change_at_or_after_the_watermark_is_skipped(steps: list[Any], batch: int):
    """Simulated runs (some crashing after a few batches) never skip or double a version.

    Saves land mostly in the same second as the watermark and may be stamped up to the
    overlap earlier than the clock; after every completed run the sink equals the table,
    and no version is ever applied twice, across crashes included.
    """
    m = SyncMapping("T", watermark=ModifiedWatermark(created=None, overlap=OVERLAP))
    source: dict[str, dict[str, Any]] = {}
    sink: dict[str, tuple[int, int]] = {}
    applied: list[tuple[str, int]] = []
    stored = Checkpoint("T")  # what the sink committed
    clock = 10 * DAY
    for kind, index, advance, lag in steps:
        if kind == "save":
            clock += advance
            key = f"k{index}"
            old = source.get(key)
            stamp = 1 if old is None else old["__STAMP"] + 1
            source[key] = _record(key, stamp, max(clock - lag, 0), len(applied) + stamp)
            continue
        crash_after = index  # 0: the run completes
        cp = stored
        plan = plan_read(m, cp, ["v"])
        visible = [
            r for r in source.values() if plan.full or (m.watermark.position(r) or 0) >= plan.low
        ]
        pages = [visible[i : i + batch] for i in range(0, len(visible), batch)]
        crashed = False
        for n, page in enumerate(pages):
            if crash_after and n == crash_after:
                crashed = True
                break
            fresh = select_new(m, cp, page)
            for (key, stamp), _pos, record in fresh:
                applied.append((key, stamp))
                if sink.get(key, (0, 0))[0] < stamp:
                    sink[key] = (stamp, record["v"])
            cp = cp.applied({v: p for v, p, _r in fresh})
            stored = cp  # committed with the batch
        if crashed:
            continue
        stored = cp.finished(m.watermark)
        assert {k: (r["__STAMP"], r["v"]) for k, r in source.items()} == sink
    assert len(set(applied)) == len(applied), "a version was applied twice"


STAMP_OVERLAP = 3

_stamp_steps = st.lists(
    st.one_of(
        # save key i; it commits (becomes visible) after up to STAMP_OVERLAP later saves
        st.tuples(st.just("save"), st.integers(0, 5), st.integers(0, STAMP_OVERLAP)),
        st.tuples(st.just("run"), st.integers(0, 2), st.just(0)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=_stamp_steps, batch=st.integers(1, 3))
def test_global_stamp_commits_out_of_order(steps: list[Any], batch: int):
    """Saves whose transactions commit late (within the overlap) are never skipped.

    4D hands out ``__GlobalStamp`` at save time; a transaction may make a lower stamp
    visible after a higher one. With ``overlap`` stamps re-read, every version reaches the
    sink once, and after every completed run with nothing in flight the sink equals 4D.
    """
    m = SyncMapping("T", watermark=GlobalStampWatermark(overlap=STAMP_OVERLAP))
    counter = 0
    inflight: list[tuple[int, dict[str, Any]]] = []
    source: dict[str, dict[str, Any]] = {}
    sink: dict[str, tuple[int, int]] = {}
    applied: list[tuple[str, int]] = []
    stored = Checkpoint("T")

    def commit_due() -> None:
        for item in [i for i in inflight if i[0] <= counter]:
            inflight.remove(item)
            source[item[1]["__KEY"]] = item[1]

    for kind, index, delay in steps:
        commit_due()
        if kind == "save":
            key = f"k{index}"
            if any(r["__KEY"] == key for _t, r in inflight):
                continue  # 4D locks the record until its transaction ends
            counter += 1
            stamp = source[key]["__STAMP"] + 1 if key in source else 1
            record = {"__KEY": key, "__STAMP": stamp, "__GlobalStamp": counter, "v": counter}
            inflight.append((counter + delay, record))
            continue
        cp = stored
        plan = plan_read(m, cp, ["v"])
        visible = [r for r in source.values() if plan.full or r["__GlobalStamp"] > plan.low]
        pages = [visible[i : i + batch] for i in range(0, len(visible), batch)]
        crashed = False
        for n, page in enumerate(pages):
            if index and n == index:
                crashed = True
                break
            fresh = select_new(m, cp, page)
            for (key, stamp), _pos, record in fresh:
                applied.append((key, stamp))
                if sink.get(key, (0, 0))[0] < stamp:
                    sink[key] = (stamp, record["v"])
            cp = cp.applied({v: p for v, p, _r in fresh})
            stored = cp
        if crashed:
            continue
        stored = cp.finished(m.watermark)
        if not inflight:
            assert {k: (r["__STAMP"], r["v"]) for k, r in source.items()} == sink
    assert len(set(applied)) == len(applied), "a version was applied twice"
    # Everything committed eventually arrives: one more run after all commits.
    counter += STAMP_OVERLAP + 1
    commit_due()
    plan = plan_read(m, stored, ["v"])
    for (key, stamp), _pos, record in select_new(
        m, stored, [r for r in source.values() if plan.full or r["__GlobalStamp"] > plan.low]
    ):
        if sink.get(key, (0, 0))[0] < stamp:
            sink[key] = (stamp, record["v"])
    assert {k: (r["__STAMP"], r["v"]) for k, r in source.items()} == sink
