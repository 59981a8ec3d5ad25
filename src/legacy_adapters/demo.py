"""The ``make demo`` walk-through: emulator in-process, a 60k-row fetch, one write, one login.

Everything goes through the real stack — ``build_client`` → 4D adapter → HTTP → the
emulator — so what it prints is what pyERP would see against its server.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import TextIO

from legacy_adapters._progress import ProgressBar
from legacy_adapters.bootstrap import build_client

__all__ = ["run_demo"]

_TABLE = "Artikel_Variante"


def run_demo(
    *, rows: int = 60_000, workers: int = 2, progress: bool = True, out: TextIO | None = None
) -> int:
    """Run the demo, printing to ``out`` (stdout); return 0 when every check passed."""
    from fourd_emulator import EmulatorConfig, serve  # noqa: PLC0415 - demo-only dependency

    stream = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    say(f"Starting the 4D emulator with {rows:,} rows per big table ...")
    with (
        serve(EmulatorConfig(rows=rows)) as server,
        tempfile.TemporaryDirectory(prefix="legacy-api-demo-") as session_dir,
    ):
        say(f"  emulator at {server.base_url}")
        client = build_client(
            {
                "environments": {"live": server.base_url},
                "session_store": "file",
                "session_dir": session_dir,
                "workers": workers,
            }
        )
        say(f"Fetching {_TABLE} with {workers} workers (one snapshot, pages of 1000) ...")
        bar = ProgressBar(_TABLE, sys.stderr) if progress else None
        started = time.perf_counter()
        try:
            frame = client.fetch_frame(_TABLE, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        elapsed = time.perf_counter() - started
        say(f"  shape {frame.shape} in {elapsed:.1f}s ({len(frame) / elapsed:,.0f} rows/s)")
        columns = [c for c in ("__KEY", "Nummer", "Bezeichnung", "created_date") if c in frame]
        say(frame[columns].head(5).to_string(index=False))

        key = str(frame["__KEY"].iloc[0])
        new_name = f"Demo {time.strftime('%H:%M:%S')}"
        say(f"Updating {_TABLE}[{key}].Bezeichnung to {new_name!r} ...")
        saved = client.push_field(_TABLE, key, "Bezeichnung", new_name)
        back = client.get_record(_TABLE, key)["Bezeichnung"]
        say(f"  saved with __STAMP {saved.stamp}; read back: {back!r}")

        stats = server.stats()
        logins = stats["sessions_created"]
        say(
            f"The emulator counted {logins} session(s) created, {stats['requests_total']} "
            f"requests, {stats['rows_sent']:,} rows sent."
        )
    ok = len(frame) == rows and back == new_name and logins == 1
    say("Demo OK: one login for the whole run." if ok else "Demo FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())
