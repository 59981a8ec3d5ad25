"""The cost of an incremental sync run against a full reload (issue 18's "Done when").

Run: ``.venv/bin/python -m benchmarks sync`` (all benchmarks: ``make bench``). One
emulator in its own process serves ``Artikel_Variante`` with N rows. A first run copies
the table into SQLite; then 1% of the rows are updated in 4D (batched ``update_many``);
then (s) one incremental run reads only the changes, against (t) a full reload: the same
mapping into an empty sink. Rows read and requests come from the runs' own summaries
(requests: HTTP exchanges with 4D counted by the instrumentation hook).
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_client import TABLE, emulator, make_client, quiet
from legacy_adapters.sync import RunSummary, SqliteSink, SyncRunner
from legacy_core.model import FieldUpdate
from legacy_core.sync import SyncMapping

FULL = {"rows": 200_000}
QUICK = {"rows": 20_000}
BATCH = 1000


def one_run(client: Any, path: Path) -> RunSummary:
    """One sync run of the whole table into the SQLite file at ``path``."""
    sink = SqliteSink(path)
    try:
        return SyncRunner(client, SyncMapping(TABLE), sink, batch_size=BATCH).run()
    finally:
        sink.close()


def change_rows(client: Any, path: Path, share: float) -> int:
    """Update ``share`` of the rows in 4D (keys sampled from the copy); how many."""
    sink = SqliteSink(path)
    try:
        keys = sorted(sink.keys(TABLE, "__KEY"))
    finally:
        sink.close()
    chosen = random.Random(18).sample(keys, max(1, int(len(keys) * share)))
    updates = [FieldUpdate(TABLE, k, {"Bezeichnung": f"bench {i}"}) for i, k in enumerate(chosen)]
    client.update_many(updates)
    return len(chosen)


def bench(base: str, share: float = 0.01) -> dict[str, Any]:
    """First copy, change ``share`` of the rows, incremental run, full reload."""
    client = make_client(base)
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        kept = Path(tmp) / "kept.db"
        first = one_run(client, kept)
        changed = change_rows(client, kept, share)
        incremental = one_run(client, kept)
        reload = one_run(client, Path(tmp) / "reload.db")
    client.close()
    return {"first": first, "changed": changed, "incremental": incremental, "reload": reload}


def _line(label: str, what: str, s: RunSummary) -> str:
    return (
        f"| {label} | {what} | {s.rows_read:,} | {s.requests:,} | {s.seconds:.2f} | "
        f"{s.created:,} / {s.updated:,} / {s.deleted:,} |"
    )


def run(rows: int | None = None) -> str:
    """Run (s) and (t) and return the markdown section for docs/benchmarks.md."""
    sizes = dict(QUICK if os.environ.get("BENCH_QUICK") else FULL)
    if rows is not None:
        sizes["rows"] = rows
    with quiet(), emulator(sizes["rows"]) as base:
        got = bench(base)
    inc: RunSummary = got["incremental"]
    full: RunSummary = got["reload"]
    n = int(sizes["rows"])
    table = [
        "| | run | rows read | requests | seconds | created / updated / deleted |",
        "|---|---|---:|---:|---:|---|",
        _line("s", f"incremental, {got['changed']:,} rows changed (1%)", inc),
        _line("t", "full reload into an empty sink", full),
    ]
    ratio = (
        f"The incremental run read **{inc.rows_read / max(full.rows_read, 1):.1%}** of the rows "
        f"in **{inc.seconds / max(full.seconds, 1e-9):.1%}** of the time and "
        f"**{inc.requests / max(full.requests, 1):.1%}** of the requests of a full reload."
    )
    return "\n".join(
        [
            "### Sync (`benchmarks/bench_sync.py`)",
            "",
            *table,
            "",
            ratio,
            "",
            (
                f"Sizes: `{TABLE}` with {n:,} rows (every field), pages and sink transactions of "
                f"{BATCH:,} rows, SQLite sink, default watermark (`modified_date`+`modified_time`, "
                "5 minutes of overlap: the changed rows are all inside it, so they are read once), "
                "key-set delete detection (one count request; the counts are equal). The emulator "
                "runs in its own process on the same machine. The first copy took "
                f"{got['first'].seconds:.2f} s ({got['first'].requests:,} requests)."
            ),
        ]
    )
