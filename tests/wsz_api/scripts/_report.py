"""Helpers the caller scripts share: print one JSON line describing what they saw."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any


def frame_summary(frame: Any) -> dict[str, Any]:
    """The shape of a DataFrame: type, rows, columns, the types of a few values."""
    first = frame.iloc[0].to_dict() if len(frame) else {}
    return {
        "type": type(frame).__name__,
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "types": {k: type(v).__name__ for k, v in first.items()},
        "first": {k: first[k] for k in ("__KEY", "created_date", "Preise") if k in first},
    }


def digest(value: str) -> str:
    """A short hash of a secret, so the test can compare cookies without seeing them."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def report(**data: Any) -> None:
    """Print the script's findings as one JSON line on stdout."""
    json.dump(data, sys.stdout, default=str)
    sys.stdout.write("\n")
