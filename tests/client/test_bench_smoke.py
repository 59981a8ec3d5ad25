"""Smoke test of the client benchmarks with tiny sizes, so they cannot rot between runs."""

from __future__ import annotations

import pytest
from benchmarks import __main__ as bench_main
from benchmarks import bench_async, bench_client, bench_columnar, bench_sync


class TestBenchClient:
    """bench_client runs end to end and reports every measurement."""

    @pytest.mark.integration
    def test_tiny_run(self):
        """A tiny run produces the markdown table with rows (a) to (d)."""
        text = bench_client.run(rows=2000, memory_rows=3000, updates=100, repeats=1)
        table = [line for line in text.splitlines() if line.startswith("| ")]
        assert ["a", "a", "a'", "b", "b", "b'", "c", "c'", "d", "d"] == [
            line.split("|")[1].strip() for line in table[1:]
        ]
        assert "3,000 rows" in text


class TestBenchAsync:
    """bench_async runs end to end: both clients and the limit read the same rows."""

    @pytest.mark.integration
    def test_tiny_run(self):
        """A tiny run reports rows (e) to (h), each with a measured ratio."""
        text = bench_async.run(rows=3000, repeats=1)
        table = [line for line in text.splitlines() if line.startswith("| ")]
        assert ["e", "e'", "f", "g", "h"] == [line.split("|")[1].strip() for line in table[1:]]
        assert all("x" in line.split("|")[3] for line in table[1:])
        assert "3,000 rows" in text


class TestBenchColumnar:
    """bench_columnar runs end to end: every reader reads the same keys, every row measured."""

    @pytest.mark.integration
    def test_tiny_run(self):
        """A tiny run reports rows (i) to (r), each with a measured ratio, rate or size."""
        pytest.importorskip("pyarrow")
        text = bench_columnar.run(rows=2000, repeats=1, memory_rows=3000)
        table = [line for line in text.splitlines() if line.startswith("| ")]
        labels = [line.split("|")[1].strip() for line in table[1:]]
        assert ["i", "j", "k", "l", "m", "n", "o", "p", "q", "r"] == labels
        measured = [line.split("|")[3] for line in table[1:]]
        assert all(("x" in m) or ("rows/s" in m) or ("MiB" in m) for m in measured)
        assert "2,000 rows" in text
        assert "3,000 rows" in text


class TestBenchMain:
    """python -m benchmarks keeps one marked section per module in docs/benchmarks.md."""

    def test_update_replaces_only_its_section(self):
        """Updating one module's section leaves the others as they were."""
        doc = bench_main.update("# Benchmarks\n", "client", "old client")
        doc = bench_main.update(doc, "sessions", "sessions text")
        doc = bench_main.update(doc, "client", "new client")
        assert "new client" in doc
        assert "old client" not in doc
        assert "sessions text" in doc
        assert 1 == doc.count("<!-- bench:client -->")

    def test_header_keeps_sections(self):
        """The header is rewritten with the machine and date; sections survive."""
        doc = bench_main.update("# Benchmarks\n", "client", "body")
        doc = bench_main.header(doc)
        assert doc.startswith("# Benchmarks")
        assert "- Machine: " in doc
        assert "<!-- bench:client -->\nbody\n<!-- /bench:client -->" in doc

    def test_modules_found(self):
        """Every bench_*.py module is discovered."""
        assert "client" in bench_main.modules()


class TestBenchSync:
    """bench_sync runs end to end: an incremental run and a full reload, both measured."""

    @pytest.mark.integration
    def test_tiny_run(self):
        """A tiny run reports rows (s) and (t); the incremental run reads fewer rows."""
        text = bench_sync.run(rows=3000)
        table = [line for line in text.splitlines() if line.startswith("| ")]
        assert ["s", "t"] == [line.split("|")[1].strip() for line in table[1:]]
        read = [int(line.split("|")[3].strip().replace(",", "")) for line in table[1:]]
        assert read[0] < read[1]
        assert 3000 == read[1]
        assert "30 rows changed" in text
