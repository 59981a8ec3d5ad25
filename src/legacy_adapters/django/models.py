"""The sync bookkeeping of the Django sink: checkpoints, pending versions, outbox, run log.

These rows are written in the same transaction as each batch's rows (ADR 0034), so the
checkpoint, the outbox and the synced model never disagree after a crash.
"""

# Without the django-stubs mypy plugin every model field would need a written-out type.
# mypy: disable-error-code="var-annotated"

from __future__ import annotations

from django.db import models

__all__ = [
    "SyncCheckpoint",
    "SyncConflict",
    "SyncEvent",
    "SyncOutgoing",
    "SyncPending",
    "SyncRun",
]


class SyncCheckpoint(models.Model):
    """Where one mapping stands: the watermark position and the versions met near it."""

    mapping = models.CharField(max_length=200, unique=True)
    table = models.CharField(max_length=200, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="", help_text="app_label.Model")
    position = models.BigIntegerField(null=True, blank=True)
    deleted_position = models.BigIntegerField(null=True, blank=True)
    runs = models.IntegerField(default=0)
    seen = models.JSONField(default=list)
    fence = models.BigIntegerField(
        null=True, blank=True, help_text="newest fencing token of a locked run (ADR 0035)"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("mapping",)
        verbose_name = "sync checkpoint"

    def __str__(self) -> str:
        """The mapping's name."""
        return str(self.mapping)


class SyncPending(models.Model):
    """A version applied by a run that has not finished (skipped when the run resumes)."""

    mapping = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    stamp = models.BigIntegerField()
    position = models.BigIntegerField()

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=("mapping", "key", "stamp"), name="legacy_api_syncpending_version"
            ),
        )
        verbose_name = "pending sync version"

    def __str__(self) -> str:
        """The version."""
        return f"{self.mapping}[{self.key}]@{self.stamp}"


class SyncEvent(models.Model):
    """The outbox: one row per change a committed batch made (exactly once)."""

    mapping = models.CharField(max_length=200, db_index=True)
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=255)
    stamp = models.BigIntegerField(null=True, blank=True)
    changed = models.JSONField(default=list)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)
        verbose_name = "sync event"

    def __str__(self) -> str:
        """Kind, mapping and key."""
        return f"{self.kind} {self.mapping}[{self.key}]"


class SyncRun(models.Model):
    """One run of a mapping: when, what it did, or the error that stopped it."""

    mapping = models.CharField(max_length=200, db_index=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    full = models.BooleanField(null=True, blank=True)
    rows_read = models.IntegerField(null=True, blank=True)
    created = models.IntegerField(null=True, blank=True)
    updated = models.IntegerField(null=True, blank=True)
    deleted = models.IntegerField(null=True, blank=True)
    requests = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-started_at",)
        verbose_name = "sync run"

    def __str__(self) -> str:
        """Mapping and start."""
        return f"{self.mapping} {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def ok(self) -> bool:
        """True when the run finished without an error."""
        return self.finished_at is not None and not self.error


class SyncOutgoing(models.Model):
    """A local change to push to 4D (write-back, ADR 0036): 4D field names to values."""

    mapping = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    values = models.JSONField(default=dict)
    base_stamp = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField()
    status = models.CharField(max_length=10, default="pending")
    attempts = models.IntegerField(default=0)
    stamp = models.BigIntegerField(null=True, blank=True, help_text="4D's stamp after it")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = (
            models.Index(fields=("mapping", "status", "id"), name="legacy_api_outgoing_todo"),
        )
        verbose_name = "outgoing sync change"

    def __str__(self) -> str:
        """Mapping, key and status."""
        return f"{self.mapping}[{self.key}] {self.status}"


class SyncConflict(models.Model):
    """A parked write-back conflict: the local change and 4D's version it met."""

    mapping = models.CharField(max_length=200, db_index=True)
    key = models.CharField(max_length=255)
    local = models.JSONField(default=dict)
    remote = models.JSONField(default=dict)
    base_stamp = models.BigIntegerField(null=True, blank=True)
    remote_stamp = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField()
    outgoing = models.ForeignKey(
        SyncOutgoing, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved = models.BooleanField(default=False)
    resolution = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        verbose_name = "sync conflict"

    def __str__(self) -> str:
        """Mapping and key."""
        return f"conflict {self.mapping}[{self.key}]"
