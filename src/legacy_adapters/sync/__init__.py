"""Incremental sync of 4D tables into SQLite or PostgreSQL: the runner and the sinks (ADR 0031).

The planning (mappings, checkpoints, events) is pure, in ``legacy_core.sync``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from legacy_core.errors import ConfigurationError
from legacy_core.service import LegacyClient
from legacy_core.sync import ChangeEvent, SyncMapping

from ._base import Batch, Column, Sink, encode_value, storage_class
from ._changes import (
    CONFLICTS,
    OUTGOING,
    ChangeSource,
    Conflict,
    ConflictStore,
    MemoryChanges,
    SqlChanges,
    changes_of,
)
from ._postgres import PostgresSink
from ._relay import (
    RELAY,
    OutboxEvent,
    OutboxRelay,
    Publisher,
    RabbitQueuePublisher,
    RedisStreamPublisher,
    idempotency_id,
)
from ._runner import RunSummary, SyncRunner
from ._sqlite import SqliteSink
from ._writeback import WriteBack, WriteBackSummary

__all__ = [
    "CONFLICTS",
    "OUTGOING",
    "RELAY",
    "Batch",
    "ChangeSource",
    "Column",
    "Conflict",
    "ConflictStore",
    "MemoryChanges",
    "OutboxEvent",
    "OutboxRelay",
    "PostgresSink",
    "Publisher",
    "RabbitQueuePublisher",
    "RedisStreamPublisher",
    "RunSummary",
    "Sink",
    "SqlChanges",
    "SqliteSink",
    "SyncRunner",
    "WriteBack",
    "WriteBackSummary",
    "changes_of",
    "encode_value",
    "idempotency_id",
    "open_sink",
    "storage_class",
    "sync_table",
]


def open_sink(target: str) -> Sink:
    """The sink a ``--to`` value names: ``sqlite:PATH`` or ``postgresql://...``."""
    if target.startswith("sqlite:"):
        path = target.removeprefix("sqlite:").removeprefix("///")
        if not path:
            msg = "--to sqlite:PATH needs a file path"
            raise ConfigurationError(msg)
        return SqliteSink(Path(path))
    if target.startswith(("postgresql://", "postgres://")):
        return PostgresSink(target)
    msg = f"unknown sync target {target.split(':', 1)[0]!r}: use sqlite:PATH or postgresql://..."
    raise ConfigurationError(msg)


def sync_table(
    client: LegacyClient,
    mapping: SyncMapping | str,
    to: str | Sink,
    *,
    on_events: Callable[[Sequence[ChangeEvent]], None] | None = None,
    batch_size: int = 500,
    environment: str | None = None,
) -> RunSummary:
    """Run one sync of ``mapping`` (or a table name, with the default mapping) into ``to``."""
    if isinstance(mapping, str):
        mapping = SyncMapping(mapping)
    sink = open_sink(to) if isinstance(to, str) else to
    try:
        runner = SyncRunner(client, mapping, sink, batch_size=batch_size, environment=environment)
        if on_events is not None:
            runner.add_handler(on_events)
        return runner.run()
    finally:
        if isinstance(to, str):
            sink.close()
