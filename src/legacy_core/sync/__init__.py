"""Incremental sync planning: mappings, checkpoints, read plans and change events (pure).

The runner and the sinks live in ``legacy_adapters.sync``; ADR 0031 has the algorithm.
"""

from __future__ import annotations

from ._checkpoint import Checkpoint, ReadPlan, Version, plan_read, select_new
from ._conflicts import (
    CONFLICT_POLICIES,
    ConflictPolicy,
    Decision,
    LocalChange,
    decide,
    position_of_datetime,
    same_values,
)
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
    "CONFLICT_POLICIES",
    "ChangeEvent",
    "Checkpoint",
    "ConflictPolicy",
    "Decision",
    "DeleteDetection",
    "EventHandler",
    "EventKind",
    "FieldMap",
    "GlobalStampWatermark",
    "LocalChange",
    "ModifiedWatermark",
    "ReadPlan",
    "SyncMapping",
    "TimestampWatermark",
    "Version",
    "Watermark",
    "decide",
    "diff_rows",
    "plan_read",
    "position_of_datetime",
    "position_of_moment",
    "run_order",
    "same_values",
    "select_new",
]
