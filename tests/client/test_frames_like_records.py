"""Raw frames are what ``pd.DataFrame(entities)`` builds (what WSZ_api returned), on any stack.

Compared strictly: columns and their order, dtypes, values, ``None`` versus ``NaN`` in
object columns, and ``to_json`` output, for generated records split into pages, every
seeded table of the emulator read over HTTP, and every entity list of the real captures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from fourd_emulator._schema import TABLES
from legacy_adapters.bootstrap import build_client
from legacy_core.frames import FrameBuilder, records_to_frame
from legacy_core.service import LegacyClient

CAPTURES = Path("/work/shared/fourd_captures")
CAPTURE_DIR = CAPTURES if CAPTURES.is_dir() else Path(__file__).parents[1] / "fourd" / "captures"


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return type(value).__name__


def assert_same_frame(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    """Fail unless the two frames are the same to a caller branching on dtypes or nulls."""
    assert list(expected.columns) == list(actual.columns)
    assert expected.dtypes.to_dict() == actual.dtypes.to_dict()
    pd.testing.assert_frame_equal(expected, actual, check_exact=True)
    for name in expected.columns:
        assert [_kind(v) for v in expected[name]] == [_kind(v) for v in actual[name]], name
    assert expected.to_json() == actual.to_json()


def build_in_pages(records: list[dict[str, Any]], size: int) -> pd.DataFrame:
    """Build a raw frame the way a paged read does, ``size`` records per page."""
    builder = FrameBuilder(like_records=True)
    for start in range(0, len(records), size):
        builder.add(records[start : start + size])
    return builder.build()


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["1!2!2024", "0!0!0", ""]),
)
_values = st.one_of(
    _scalars,
    st.dictionaries(st.text(max_size=3), _scalars, max_size=2),
    st.lists(_scalars, max_size=2),
)
# Columns of one kind most of the time (as 4D sends them), with nulls and missing keys.
_columns = st.sampled_from(["a", "b", "c", "__KEY", "d"])
_records = st.lists(st.dictionaries(_columns, _values, max_size=5), min_size=1, max_size=30)


@st.composite
def typed_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records whose columns each hold one JSON type, some null or absent."""
    kinds = draw(st.dictionaries(_columns, st.sampled_from(["int", "float", "bool", "str"])))
    makers = {
        "int": st.integers(-1000, 1000),
        "float": st.floats(-1e6, 1e6, allow_nan=False),
        "bool": st.booleans(),
        "str": st.text(max_size=4),
    }
    rows = []
    for _ in range(draw(st.integers(1, 25))):
        row = {}
        for name, kind in kinds.items():
            roll = draw(st.integers(0, 9))
            if roll == 0:
                continue  # the key is absent from this record
            row[name] = None if roll == 1 else draw(makers[kind])
        rows.append(row)
    return rows


@settings(max_examples=150, deadline=None)
@given(records=st.one_of(_records, typed_records()), size=st.integers(1, 7))
def test_paged_raw_frame_equals_dataframe_of_records(records, size):
    """Any records, in any page size, give the frame pd.DataFrame(records) gives."""
    assert_same_frame(pd.DataFrame(records), build_in_pages(records, size))


def test_empty_raw_frame_is_an_empty_dataframe():
    """No records gives pd.DataFrame([]); requested fields still name the columns."""
    assert_same_frame(pd.DataFrame([]), FrameBuilder(like_records=True).build())
    assert ["a", "b"] == list(FrameBuilder(columns=["a", "b"], like_records=True).build().columns)


def _capture_entity_lists() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for path in sorted(CAPTURE_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        body = data.get("body", data) if isinstance(data, dict) else data
        if isinstance(body, dict) and isinstance(body.get("__ENTITIES"), list):
            entities = [e for e in body["__ENTITIES"] if isinstance(e, dict)]
            if entities:
                yield path.name, entities


CAPTURE_LISTS = list(_capture_entity_lists())


@pytest.mark.skipif(not CAPTURE_LISTS, reason="the real 4D captures are not on this machine")
@pytest.mark.parametrize(("name", "entities"), CAPTURE_LISTS, ids=[n for n, _ in CAPTURE_LISTS])
def test_real_capture_entities_give_the_same_frame(name, entities):
    """Each entity list captured from a real 4D server gives pd.DataFrame(entities)."""
    expected = pd.DataFrame(entities)
    assert_same_frame(expected, records_to_frame(entities, like_records=True))
    assert_same_frame(expected, build_in_pages(entities, 2))


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    """An emulator with enough rows per table for several pages."""
    with serve(EmulatorConfig(rows=130, seed=12)) as server:
        yield server


@pytest.fixture(scope="module")
def http_client(emulator: EmulatorServer) -> LegacyClient:
    """The real client over HTTP, small pages so every read spans several."""
    return build_client(
        {"environments": {"live": emulator.base_url}, "session_store": "memory"},
        page_size=7,
    )


@pytest.mark.integration
@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_every_seeded_table_reads_like_dataframe_of_entities(emulator, http_client, table):
    """fetch_frame(raw=True) equals pd.DataFrame of the entities 4D sends in one request."""
    with requests.Session() as http:
        reply = http.get(f"{emulator.base_url}/rest/{table}", params={"$top": 100000}, timeout=30)
        reply.raise_for_status()
        entities = reply.json()["__ENTITIES"]
        http.get(f"{emulator.base_url}/rest/$directory/logout", timeout=10)
    assert entities  # a seeded table is never empty
    frame = http_client.fetch_frame(table, raw=True)
    assert_same_frame(pd.DataFrame(entities), frame)
