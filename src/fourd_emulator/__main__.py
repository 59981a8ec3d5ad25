"""``python -m fourd_emulator``: run the emulator in the foreground."""

from __future__ import annotations

from fourd_emulator.cli import main

raise SystemExit(main())
