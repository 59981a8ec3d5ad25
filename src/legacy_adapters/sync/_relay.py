"""The outbox relay: a sink's committed events published to a Redis stream or a RabbitMQ queue.

A run's events are written to ``_legacy_sync_events`` in the batch's own transaction
(ADR 0031). The relay reads the events after its cursor, publishes them, and only then
moves the cursor (``_legacy_sync_relay``, one row per relay name). A crash between the
sink's commit and the publish, or in the middle of a publish, therefore loses nothing: the
next relay run sends them again. Delivery is at least once; every message carries the
idempotency id ``mapping:key:stamp:kind`` so a consumer drops the repeats (ADR 0036).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import attrs

from legacy_core.errors import ConfigurationError, SinkError

from ._base import EVENTS

__all__ = [
    "RELAY",
    "OutboxEvent",
    "OutboxRelay",
    "Publisher",
    "RabbitQueuePublisher",
    "RedisStreamPublisher",
    "idempotency_id",
]

RELAY = "_legacy_sync_relay"


def idempotency_id(mapping: str, key: str, stamp: int | None, kind: str) -> str:
    """The id one version's event keeps across re-deliveries: ``mapping:key:stamp:kind``."""
    return f"{mapping}:{key}:{'' if stamp is None else stamp}:{kind}"


@attrs.frozen
class OutboxEvent:
    """One committed event of the outbox, as published."""

    id: int
    mapping: str
    kind: str
    key: str
    stamp: int | None
    changed: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def idempotency_id(self) -> str:
        """``mapping:key:stamp:kind``: equal for a re-delivery of this event."""
        return idempotency_id(self.mapping, self.key, self.stamp, self.kind)

    def body(self) -> str:
        """The message body: the event as JSON, with its idempotency id and outbox id."""
        return json.dumps(
            {
                "idempotency_id": self.idempotency_id,
                "outbox_id": self.id,
                "mapping": self.mapping,
                "kind": self.kind,
                "key": self.key,
                "stamp": self.stamp,
                "changed": self.changed,
                "before": self.before,
                "after": self.after,
            },
            sort_keys=True,
            default=str,
            ensure_ascii=False,
        )


class Publisher(Protocol):
    """Sends a batch of events; returns only once the broker has them (else raises)."""

    def publish(self, events: Sequence[OutboxEvent]) -> None:
        """Publish ``events`` in order."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class OutboxRelay:
    """Publishes a sink's outbox events after its cursor, then moves the cursor.

    ``name`` names the cursor (one per destination: two relays of one outbox to two
    brokers keep their own). ``run()`` publishes everything committed so far.
    """

    def __init__(
        self, sink: object, publisher: Publisher, *, name: str, batch_size: int = 500
    ) -> None:
        from ._postgres import PostgresSink  # noqa: PLC0415
        from ._sqlite import SqliteSink  # noqa: PLC0415

        if isinstance(sink, SqliteSink):
            self._db: Any = sink._db
            dialect: Literal["sqlite", "postgres"] = "sqlite"
        elif isinstance(sink, PostgresSink):
            self._db = sink._db
            dialect = "postgres"
        else:
            msg = f"{type(sink).__name__} has no event outbox to relay"
            raise ConfigurationError(msg)
        self._mark = "?" if dialect == "sqlite" else "%s"
        self._where = repr(sink)
        self.publisher = publisher
        self.name = name
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._exec(
            f"CREATE TABLE IF NOT EXISTS {RELAY} (name TEXT PRIMARY KEY, "
            "last_id BIGINT NOT NULL, published BIGINT NOT NULL DEFAULT 0, "
            "updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("?", self._mark)
        try:
            with self._lock:
                cur = self._db.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()] if cur.description is not None else []
        except Exception as exc:
            msg = f"{self._where}: event relay {self.name}: {type(exc).__name__}: {exc}"
            raise SinkError(msg) from exc

    def cursor(self) -> int:
        """The id of the last event published (0 before the first)."""
        rows = self._exec(f"SELECT last_id FROM {RELAY} WHERE name = ?", (self.name,))
        return int(rows[0][0]) if rows else 0

    def _batch(self, after: int) -> list[OutboxEvent]:
        try:
            rows = self._exec(
                f"SELECT id, mapping, kind, key, stamp, changed, before, after FROM {EVENTS} "
                f"WHERE id > ? ORDER BY id LIMIT {int(self.batch_size)}",
                (after,),
            )
        except SinkError:
            if not self._exec(
                "SELECT 1 FROM sqlite_master WHERE name = ?"
                if self._mark == "?"
                else "SELECT 1 FROM information_schema.tables WHERE table_name = ?",
                (EVENTS,),
            ):
                return []  # no run yet: no outbox
            raise
        return [
            OutboxEvent(
                int(r[0]),
                r[1],
                r[2],
                str(r[3]),
                None if r[4] is None else int(r[4]),
                list(_json(r[5]) or []),
                _json(r[6]),
                _json(r[7]),
            )
            for r in rows
        ]

    def run(self) -> int:
        """Publish every event after the cursor, batch by batch; the number published."""
        total = 0
        last = self.cursor()
        while True:
            batch = self._batch(last)
            if not batch:
                return total
            self.publisher.publish(batch)  # raises: the cursor stays, the batch goes again
            last = batch[-1].id
            self._exec(
                f"INSERT INTO {RELAY} (name, last_id, published) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id, "
                f"published = {RELAY}.published + excluded.published, "
                "updated_at = CURRENT_TIMESTAMP",
                (self.name, last, len(batch)),
            )
            total += len(batch)


class RedisStreamPublisher:
    """XADD per event to a Redis stream (redis-py, the ``redis`` extra), in one pipeline.

    Fields: ``idempotency_id``, ``mapping``, ``kind``, ``key``, ``stamp`` and ``event`` (the
    JSON body). ``maxlen`` trims the stream approximately (None: never).
    """

    def __init__(
        self,
        url: str | Any = "redis://127.0.0.1:6379/0",
        *,
        stream: str = "legacy_api:sync:events",
        maxlen: int | None = None,
    ) -> None:
        import redis  # noqa: PLC0415 - the redis extra, on use

        self._own = isinstance(url, str)
        self.redis: Any = redis.Redis.from_url(url) if isinstance(url, str) else url
        self.stream = stream
        self.maxlen = maxlen

    def publish(self, events: Sequence[OutboxEvent]) -> None:
        """XADD every event in one transaction-less pipeline (at least once)."""
        pipe = self.redis.pipeline(transaction=False)
        for e in events:
            fields = {
                "idempotency_id": e.idempotency_id,
                "mapping": e.mapping,
                "kind": e.kind,
                "key": e.key,
                "stamp": "" if e.stamp is None else str(e.stamp),
                "event": e.body(),
            }
            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        pipe.execute()

    def close(self) -> None:
        """Close the connection pool (when this publisher made it)."""
        if self._own:
            self.redis.close()


class RabbitQueuePublisher:
    """Publishes each event to a durable RabbitMQ queue with publisher confirms (kombu).

    Needs ``pip install 'legacy-api[amqp]'``. Messages are persistent, JSON, with the
    idempotency id as ``message_id``; ``publish`` returns once the broker confirmed them.
    """

    def __init__(
        self, url: str = "amqp://guest:guest@127.0.0.1:5672//", *, queue: str = "legacy_api.sync"
    ) -> None:
        try:
            import kombu  # noqa: PLC0415 - the amqp extra, on use
        except ImportError as exc:
            msg = "the RabbitMQ relay needs kombu: pip install 'legacy-api[amqp]'"
            raise ConfigurationError(msg) from exc
        self._kombu: Any = kombu  # untyped library: kept as Any
        self.queue: Any = self._kombu.Queue(queue, durable=True)
        self._conn: Any = self._kombu.Connection(url, transport_options={"confirm_publish": True})
        self._producer: Any = None

    def publish(self, events: Sequence[OutboxEvent]) -> None:
        """Publish ``events`` in order; each waits for the broker's confirm."""
        if self._producer is None:
            self._producer = self._kombu.Producer(self._conn.channel())
        publish = self._conn.ensure(self._producer, self._producer.publish, max_retries=3)
        for e in events:
            publish(
                e.body(),
                routing_key=self.queue.name,
                declare=[self.queue],
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=e.idempotency_id,
                headers={"idempotency_id": e.idempotency_id, "kind": e.kind},
                serializer=None,
            )

    def close(self) -> None:
        """Close the connection."""
        self._conn.release()
