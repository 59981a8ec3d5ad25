"""Reproducible benchmarks of legacy-api; ``python -m benchmarks`` writes docs/benchmarks.md.

Convention: every ``bench_*.py`` module here exposes ``run() -> str`` returning a markdown
section (a heading, a results table and notes), measured in one run. A module that only
has ``main()`` is run too and its printed output is embedded as a code block.
"""

from __future__ import annotations
