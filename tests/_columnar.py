"""Comparing a value read as an Arrow column with the same value from the row decoder."""

from __future__ import annotations

from typing import Any


def same(columnar: Any, row: Any, *, nan_is_none: bool = False) -> bool:
    """Equal values: a struct lists absent attributes as None; NaN is a frame's None if asked."""
    if isinstance(row, dict) and isinstance(columnar, dict):
        extra = set(columnar) - set(row)
        return all(columnar[k] is None for k in extra) and all(
            same(columnar.get(k), v, nan_is_none=nan_is_none) for k, v in row.items()
        )
    if isinstance(row, list) and isinstance(columnar, list):
        if len(row) != len(columnar):
            return False
        return all(same(a, b, nan_is_none=nan_is_none) for a, b in zip(columnar, row, strict=True))
    if nan_is_none and isinstance(row, float) and row != row:
        return columnar is None
    return bool(columnar == row) and (row is None) == (columnar is None)
