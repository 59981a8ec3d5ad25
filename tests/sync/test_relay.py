"""The outbox relay to a private Redis stream and the local RabbitMQ: nothing lost or invented."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fourd_emulator import EmulatorServer
from legacy_adapters.sync import (
    OutboxEvent,
    OutboxRelay,
    RedisStreamPublisher,
    SqliteSink,
    SyncRunner,
)
from legacy_adapters.testing import RedisServerError, private_redis_server
from legacy_core.service import LegacyClient
from legacy_core.sync import SyncMapping

from .conftest import Fourd

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"
MAPPING = SyncMapping(TABLE, fields=["Bezeichnung", "Nummer", "modified_date", "modified_time"])


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """$REDIS_URL (disposable) or a private redis-server for this module."""
    try:
        with private_redis_server() as url:
            yield url
    except RedisServerError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))


@pytest.fixture
def rdb(redis_url: str) -> Iterator[Any]:
    """A client on a flushed database (flushed again afterwards)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def outbox_ids(path: str) -> list[str]:
    """The idempotency ids of the sink's outbox, computed here from its columns."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT mapping, key, stamp, kind FROM _legacy_sync_events ORDER BY id")
        return [f"{m}:{k}:{'' if s is None else s}:{kind}" for m, k, s, kind in rows]
    finally:
        db.close()


def stream_ids(rdb: Any, stream: str) -> list[str]:
    """The idempotency ids in ``stream``, in order."""
    return [f[b"idempotency_id"].decode() for _id, f in rdb.xrange(stream)]


def sync_with_changes(client: LegacyClient, fourd: Fourd, sink: SqliteSink) -> None:
    """A full copy, then an incremental run with two updates and a delete."""
    SyncRunner(client, MAPPING, sink, batch_size=500).run()
    keys = [r["__KEY"] for r in fourd.records(TABLE)[:3]]
    fourd.update(TABLE, {"__KEY": keys[0], "Bezeichnung": "relay one"})
    fourd.update(TABLE, {"__KEY": keys[1], "Nummer": 99})
    fourd.delete(TABLE, keys[2])
    SyncRunner(client, MAPPING, sink, batch_size=500).run()


class _CrashAfter:
    """A publisher that hands ``n`` events to ``inner`` and then dies, like a killed process."""

    def __init__(self, inner: RedisStreamPublisher, n: int) -> None:
        self.inner = inner
        self.n = n

    def publish(self, events: Sequence[OutboxEvent]) -> None:
        self.inner.publish(events[: self.n])
        raise ConnectionError("relay crashed mid-publish")

    def close(self) -> None:
        self.inner.close()


def test_redis_stream_gets_every_event_once_per_id_across_a_crash(
    client: LegacyClient,
    fourd: Fourd,
    emulator: EmulatorServer,
    tmp_path: Path,
    rdb: Any,
    redis_url: str,
) -> None:
    """Events committed before a crash are published later; repeats carry the same id."""
    del emulator
    sink = SqliteSink(tmp_path / "relay.db")
    try:
        sync_with_changes(client, fourd, sink)  # committed, never published: the "crash"
        expected = outbox_ids(sink.path)
        stream = f"test:{uuid.uuid4().hex}"
        publisher = RedisStreamPublisher(redis_url, stream=stream)
        crashing = OutboxRelay(sink, _CrashAfter(publisher, 7), name="redis", batch_size=300)
        with pytest.raises(ConnectionError):
            crashing.run()
        assert 7 == rdb.xlen(stream)
        assert 0 == crashing.cursor()
        relay = OutboxRelay(sink, publisher, name="redis", batch_size=300)
        sent = relay.run()
        ids = stream_ids(rdb, stream)
        assert sent == len(expected)
        assert list(dict.fromkeys(ids)) == expected  # de-duplicated: all, in order
        assert 7 == len(ids) - len(set(ids))  # the crashed batch's head, sent twice
        assert 0 == relay.run()  # nothing new: nothing sent again
        last = json.loads(rdb.xrange(stream)[-1][1][b"event"])
        assert ("deleted", None) == (last["kind"], last["after"])
        publisher.close()
    finally:
        sink.close()


def _rabbit_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def test_rabbitmq_queue_gets_every_event(
    client: LegacyClient, fourd: Fourd, emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The relay publishes every outbox event to a uniquely named durable queue."""
    del emulator
    kombu = pytest.importorskip("kombu")
    if not _rabbit_up():
        pytest.skip("RabbitMQ is not reachable at 127.0.0.1:5672")
    from legacy_adapters.sync import RabbitQueuePublisher  # noqa: PLC0415

    queue = f"legacy_api_test_{uuid.uuid4().hex}"
    sink = SqliteSink(tmp_path / "relay.db")
    conn = kombu.Connection("amqp://guest:guest@127.0.0.1:5672//")
    publisher = RabbitQueuePublisher(queue=queue)
    try:
        sync_with_changes(client, fourd, sink)
        expected = outbox_ids(sink.path)
        assert len(expected) == OutboxRelay(sink, publisher, name="amqp").run()
        got: list[str] = []
        with conn.SimpleQueue(queue) as q:
            while len(got) < len(expected):
                message = q.get(timeout=5)
                got.append(message.properties["message_id"])
                body = json.loads(message.body)
                assert body["idempotency_id"] == got[-1]
                message.ack()
        assert expected == got
    finally:
        publisher.close()
        with conn.channel() as channel:
            channel.queue_delete(queue)
            channel.exchange_delete(queue)  # SimpleQueue's own direct exchange
        conn.release()
        sink.close()


_KILLED_RELAY = """
import os, sys
from legacy_adapters.sync import OutboxRelay, RedisStreamPublisher, SqliteSink

class DiesAfterPublish(RedisStreamPublisher):
    def publish(self, events):
        super().publish(events)
        os._exit(9)  # the process dies after the broker got the batch, before the cursor moved

sink = SqliteSink(sys.argv[1])
OutboxRelay(sink, DiesAfterPublish(sys.argv[2], stream=sys.argv[3]), name="redis",
            batch_size=50).run()
"""


def test_a_relay_process_killed_after_publishing_loses_nothing(
    client: LegacyClient,
    fourd: Fourd,
    emulator: EmulatorServer,
    tmp_path: Path,
    rdb: Any,
    redis_url: str,
) -> None:
    """A relay process dying between publish and cursor: the next relay resends that batch."""
    del emulator
    sink = SqliteSink(tmp_path / "relay.db")
    try:
        sync_with_changes(client, fourd, sink)
        expected = outbox_ids(sink.path)
        stream = f"test:{uuid.uuid4().hex}"
        proc = subprocess.run(
            [sys.executable, "-c", _KILLED_RELAY, sink.path, redis_url, stream],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert 9 == proc.returncode, proc.stderr
        assert 50 == rdb.xlen(stream)
        publisher = RedisStreamPublisher(redis_url, stream=stream)
        relay = OutboxRelay(sink, publisher, name="redis", batch_size=50)
        assert 0 == relay.cursor()
        assert len(expected) == relay.run()
        ids = stream_ids(rdb, stream)
        assert list(dict.fromkeys(ids)) == expected
        assert ids[:50] == ids[50:100]  # only the killed batch came twice
        publisher.close()
    finally:
        sink.close()
