"""Page-by-page conversion of records to DataFrames."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_core.frames import HAS_ARROW, FrameBuilder, records_to_frame

PAGES = [
    [
        {"__KEY": "1", "n": 1, "s": "a", "o": {"Coll": [1]}},
        {"__KEY": "2", "n": 2, "s": None, "o": {}},
    ],
    [{"__KEY": "3", "n": 2.5, "s": "c", "d": dt.date(2024, 1, 27)}],
    [{"__KEY": "4", "n": None, "s": "d", "o": [1, 2], "d": None}],
]


class TestFrameBuilder:
    """FrameBuilder turns pages into one frame in server order."""

    @pytest.mark.parametrize("backend", ["default", "pyarrow", "numpy"])
    def test_pages_concatenate(self, backend: str):
        """Columns keep first-seen order, missing values are nulls, nested values stay Python."""
        builder = FrameBuilder(dtype_backend=backend)  # type: ignore[arg-type]
        for page in PAGES:
            builder.add(page)
        frame = builder.build()
        assert ["__KEY", "n", "s", "o", "d"] == list(frame.columns)
        assert ["1", "2", "3", "4"] == list(frame["__KEY"])
        assert [{"Coll": [1]}, {}, None, [1, 2]] == list(frame["o"])
        assert [1.0, 2.0, 2.5] == [float(v) for v in frame["n"][:3]]
        assert pd.isna(frame["n"].iloc[3])
        assert dt.date(2024, 1, 27) == frame["d"].iloc[2]
        assert pd.isna(frame["s"].iloc[1])

    def test_default_dtypes(self):
        """The default backend gives pandas' usual dtypes (ints, floats, strings, bools)."""
        frame = records_to_frame([{"i": 1, "f": 1.5, "s": "x", "b": True}])
        strings = str(pd.Series(["x"]).dtype)  # "str" on pandas 3, "object" on pandas 2
        assert ["int64", "float64", strings, "bool"] == [str(t) for t in frame.dtypes]

    @pytest.mark.skipif(not HAS_ARROW, reason="needs the arrow extra")
    def test_pyarrow_dtypes(self):
        """The pyarrow backend keeps every Arrow-friendly column as ArrowDtype."""
        frame = records_to_frame([{"i": 1, "s": "x"}], dtype_backend="pyarrow")
        assert all(isinstance(t, pd.ArrowDtype) for t in frame.dtypes)

    def test_empty_with_columns(self):
        """No rows gives an empty frame with the requested columns."""
        frame = records_to_frame([], columns=["a", "b"])
        assert (0, ["a", "b"]) == (len(frame), list(frame.columns))

    def test_mixed_types_fall_back_to_objects(self):
        """A column mixing strings and numbers keeps the values as sent."""
        frame = records_to_frame([{"x": 1}, {"x": "eins"}])
        assert [1, "eins"] == list(frame["x"])

    def test_reset(self):
        """reset forgets every page (used when a snapshot is rebuilt)."""
        builder = FrameBuilder()
        builder.add(PAGES[0])
        builder.reset()
        builder.add(PAGES[1])
        assert ["3"] == list(builder.build()["__KEY"])

    @given(
        st.lists(
            st.lists(
                st.fixed_dictionaries(
                    {"k": st.text(max_size=3)},
                    optional={"v": st.none() | st.integers(-(2**40), 2**40) | st.text(max_size=3)},
                ),
                max_size=5,
            ),
            max_size=5,
        )
    )
    def test_same_as_one_page(self, pages: list[list[dict[str, object]]]):
        """Adding pages one by one gives the same values as converting all records at once."""
        builder = FrameBuilder()
        for page in pages:
            builder.add(page)
        frame = builder.build()
        flat = [r for page in pages for r in page]
        expected = [(r["k"], r.get("v")) for r in flat]
        got = [
            (k, None if "v" not in frame or pd.isna(v) else v)
            for k, v in zip(
                frame["k"] if flat else [],
                frame["v"] if "v" in frame else [None] * len(flat),
                strict=True,
            )
        ]
        assert expected == got
