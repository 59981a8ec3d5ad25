"""Read-only admin views of the sync bookkeeping: checkpoints (one per mapping), runs, outbox.

The rows are written by the runs only; editing one by hand would break the exactly-once
bookkeeping of ADR 0031, so every view here is read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import SyncCheckpoint, SyncConflict, SyncEvent, SyncOutgoing, SyncRun

__all__ = [
    "SyncCheckpointAdmin",
    "SyncConflictAdmin",
    "SyncEventAdmin",
    "SyncOutgoingAdmin",
    "SyncRunAdmin",
]


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SyncCheckpoint)
class SyncCheckpointAdmin(_ReadOnly):
    """The mappings that ran, with their 4D table, model and watermark."""

    list_display = ("mapping", "table", "model", "position", "runs", "updated_at")
    search_fields = ("mapping", "table", "model")
    exclude = ("seen",)


@admin.register(SyncRun)
class SyncRunAdmin(_ReadOnly):
    """Every run: when, full or incremental, rows and changes, requests, the error if any."""

    list_display = (
        "mapping",
        "started_at",
        "finished_at",
        "full",
        "rows_read",
        "created",
        "updated",
        "deleted",
        "requests",
        "error",
    )
    list_filter = ("mapping", "full")
    date_hierarchy = "started_at"


@admin.register(SyncEvent)
class SyncEventAdmin(_ReadOnly):
    """The outbox of change events."""

    list_display = ("id", "mapping", "kind", "key", "stamp", "created_at")
    list_filter = ("mapping", "kind")
    search_fields = ("key",)


@admin.register(SyncOutgoing)
class SyncOutgoingAdmin(_ReadOnly):
    """Local changes for write-back, with what became of each."""

    list_display = ("id", "mapping", "key", "status", "attempts", "stamp", "changed_at", "error")
    list_filter = ("mapping", "status")
    search_fields = ("key",)


@admin.register(SyncConflict)
class SyncConflictAdmin(_ReadOnly):
    """Parked write-back conflicts (resolve them in code: ``DjangoChanges.resolve``)."""

    list_display = ("id", "mapping", "key", "base_stamp", "remote_stamp", "resolved", "created_at")
    list_filter = ("mapping", "resolved")
    search_fields = ("key",)
