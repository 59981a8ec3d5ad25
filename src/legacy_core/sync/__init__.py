"""Incremental sync planning: mappings, checkpoints, read plans and change events (pure).

The runner and the sinks live in ``legacy_adapters.sync``; ADR 0031 has the algorithm.
"""

from __future__ import annotations

from ._checkpoint import Checkpoint, ReadPlan, Version, plan_read, select_new
from ._events import ChangeEvent, EventHandler, EventKind, diff_rows
from ._mapping import (
    COLUMN_KINDS,
    DeleteDetection,
    FieldMap,
    GlobalStampWatermark,
    ModifiedWatermark,
    SyncMapping,
    TimestampWatermark,
    Watermark,
    position_of_moment,
    run_order,
)

__all__ = [
    "COLUMN_KINDS",
    "ChangeEvent",
    "Checkpoint",
    "DeleteDetection",
    "EventHandler",
    "EventKind",
    "FieldMap",
    "GlobalStampWatermark",
    "ModifiedWatermark",
    "ReadPlan",
    "SyncMapping",
    "TimestampWatermark",
    "Version",
    "Watermark",
    "diff_rows",
    "plan_read",
    "position_of_moment",
    "run_order",
    "select_new",
]
