"""The streaming writers behind ``fetch --out``: schemas across pages, columns that change.

Pages are written by hand here, to reach the cases a seeded emulator table rarely has
(a column null on the first pages, a column that appears late); the formats themselves
are tested through the console script in test_cli_output.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from legacy_adapters._writers import Format, Output, OutputError, open_writer, plan_output
from legacy_core.errors import ConfigurationError
from legacy_core.frames import HAS_ARROW

needs_arrow = pytest.mark.skipif(not HAS_ARROW, reason="parquet needs the arrow extra")

Pages = Sequence[Sequence[dict[str, Any]]]


def write(path: Path, fmt: str, pages: Pages, columns: Sequence[str] = ()) -> list[str]:
    """Write ``pages`` to ``path`` as ``fmt``; return the warnings the writer gave."""
    warnings: list[str] = []
    output = Output(path, cast("Format", fmt))
    with open_writer(output, columns=columns, warn=warnings.append) as writer:
        for page in pages:
            writer.write_page(page)
    return warnings


def parquet(path: Path) -> Any:
    """The Arrow table of a Parquet file."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - optional

    return pq.read_table(path)


@needs_arrow
class TestParquetSchema:
    """Every page lands in one schema, learnt from the first pages."""

    def test_null_first_page_takes_the_type_of_a_later_page(self, tmp_path: Path):
        """A column all null on page 1 is typed by page 2 (date32), with page 1's nulls."""
        import pyarrow as pa  # noqa: PLC0415

        out = tmp_path / "a.parquet"
        write(out, "parquet", [[{"K": 1, "D": None}], [{"K": 2, "D": dt.date(2025, 1, 31)}]])
        table = parquet(out)
        assert pa.date32() == table.schema.field("D").type
        assert [None, dt.date(2025, 1, 31)] == table.column("D").to_pylist()

    def test_null_beyond_the_lookahead_becomes_text(self, tmp_path: Path):
        """A column null on the first four pages is text; later dates are written as ISO text."""
        import pyarrow as pa  # noqa: PLC0415

        out = tmp_path / "a.parquet"
        pages = [[{"K": i, "D": None}] for i in range(4)] + [[{"K": 4, "D": dt.date(2025, 2, 1)}]]
        write(out, "parquet", pages)
        table = parquet(out)
        assert pa.string() == table.schema.field("D").type
        assert [None, None, None, None, "2025-02-01"] == table.column("D").to_pylist()

    def test_later_null_pages_take_the_first_schema(self, tmp_path: Path):
        """A page where a typed column is all null is cast to the file's type."""
        import pyarrow as pa  # noqa: PLC0415

        out = tmp_path / "a.parquet"
        write(out, "parquet", [[{"T": dt.time(8, 30)}], [{"T": None}], [{"T": dt.time(9, 0)}]])
        table = parquet(out)
        assert pa.time64("us") == table.schema.field("T").type
        assert [dt.time(8, 30), None, dt.time(9, 0)] == table.column("T").to_pylist()

    def test_integers_and_floats_on_the_first_pages_are_floats(self, tmp_path: Path):
        """An integer page and a float page before the schema is fixed make a float64 column."""
        import pyarrow as pa  # noqa: PLC0415

        out = tmp_path / "a.parquet"
        write(out, "parquet", [[{"P": None, "N": 1}], [{"P": 1, "N": 2.5}], [{"P": 3, "N": 3}]])
        table = parquet(out)
        assert pa.float64() == table.schema.field("N").type
        assert [1.0, 2.5, 3.0] == table.column("N").to_pylist()

    def test_nested_values_are_json_text_even_when_their_shape_varies(self, tmp_path: Path):
        """Objects and lists of different shapes, and plain strings, share one text column."""
        out = tmp_path / "a.parquet"
        values = [{"DE": "Engel"}, "Engel", [1, 2], None]
        write(out, "parquet", [[{"B": v}] for v in values])
        written = parquet(out).column("B").to_pylist()
        assert [{"DE": "Engel"}, [1, 2]] == [json.loads(written[0]), json.loads(written[2])]
        assert ["Engel", None] == [written[1], written[3]]

    def test_a_type_the_file_cannot_hold_is_an_error(self, tmp_path: Path):
        """A fractional number in an integer column after the schema is fixed is refused."""
        out = tmp_path / "a.parquet"
        with pytest.raises(OutputError, match=r"column 'N' is int64 in the file.*2\.5"):
            write(out, "parquet", [[{"N": 1}], [{"N": 2.5}]])
        assert not out.exists()

    def test_empty_read_has_the_requested_columns(self, tmp_path: Path):
        """No rows still gives a Parquet file with the fields as columns."""
        out = tmp_path / "a.parquet"
        write(out, "parquet", [], columns=["Nummer", "Typ"])
        table = parquet(out)
        assert (0, ["Nummer", "Typ"]) == (table.num_rows, table.schema.names)


class TestColumns:
    """CSV and Parquet columns are fixed by the first page; later changes are reported."""

    @pytest.mark.parametrize("fmt", ["csv", pytest.param("parquet", marks=needs_arrow)])
    def test_late_column_is_reported_and_missing_one_is_null(self, tmp_path: Path, fmt: str):
        """A column first seen on page 2 gives one warning; a page lacking one writes nulls."""
        out = tmp_path / f"a.{fmt}"
        pages = [[{"A": 1, "B": "x"}], [{"A": 2, "C": True}, {"A": 3, "C": False}]]
        warnings = write(out, fmt, pages)
        expected = (
            "column 'C' first appears in row 2, after the columns were fixed; "
            "it is not written (use --format jsonl)"
        )
        assert [expected] == warnings
        if fmt == "csv":
            with out.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            assert [{"A": "1", "B": "x"}, {"A": "2", "B": ""}, {"A": "3", "B": ""}] == rows
        else:
            assert {"A": [1, 2, 3], "B": ["x", None, None]} == parquet(out).to_pydict()

    def test_requested_fields_keep_their_order(self, tmp_path: Path):
        """__KEY and the other __ columns first, then the fields in the order asked."""
        out = tmp_path / "a.csv"
        write(out, "csv", [[{"__KEY": "k", "A": 1, "B": 2}]], columns=["B", "A"])
        assert "__KEY,B,A" == out.read_text().splitlines()[0]

    def test_jsonl_keeps_every_column(self, tmp_path: Path):
        """JSON Lines has no header: a late column is simply written."""
        out = tmp_path / "a.jsonl"
        assert [] == write(out, "jsonl", [[{"A": 1}], [{"A": 2, "C": [1]}]])
        assert [{"A": 1}, {"A": 2, "C": [1]}] == [
            json.loads(line) for line in out.read_text().splitlines()
        ]


class TestPlanOutput:
    """The destination is checked and its format chosen before anything is read."""

    @pytest.mark.parametrize(
        ("name", "fmt", "expected"),
        [
            ("a.CSV", None, "csv"),
            ("a.ndjson", None, "jsonl"),
            ("a.json", None, "json"),
            ("a.txt", "csv", "csv"),
            ("-", None, "jsonl"),
            ("-", "csv", "csv"),
        ],
    )
    def test_format(self, tmp_path: Path, name: str, fmt: str | None, expected: str):
        """The suffix picks the format unless --format says; stdout defaults to JSON Lines."""
        out = name if name == "-" else str(tmp_path / name)
        assert expected == plan_output(out, fmt).format

    def test_unknown_format(self, tmp_path: Path):
        """A format name that is not one of the four is refused."""
        with pytest.raises(ConfigurationError, match="--format xlsx"):
            plan_output(str(tmp_path / "a.csv"), "xlsx")
