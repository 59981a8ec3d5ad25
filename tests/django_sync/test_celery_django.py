"""The Celery sync tasks into Django models on a real worker (ADR 0035, Django section).

The worker is a ``celery -A tests.django_sync.celery_app worker`` subprocess (prefork,
Redis broker) with Django set up on the throw-away PostgreSQL database; it reads the
emulator over HTTP. Its ``legacy_api_sync_batch_task`` records every batch in Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.sync._celery_worker import celery_worker
from tests.sync.conftest import Fourd

from fourd_emulator import EmulatorServer

from .test_django_sink import VARIANTE_FIELDS, django_rows, fourd_variante

celery = pytest.importorskip("celery")
redis = pytest.importorskip("redis")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
RUN_MAPPING = "legacy_api.sync.run_mapping"


@pytest.fixture(scope="module")
def redis_base(redis_url: str) -> str:
    """``redis://host:port`` of the session's private redis-server."""
    return redis_url.rsplit("/", 1)[0]


@pytest.fixture(scope="module")
def worker(
    server: EmulatorServer,
    redis_base: str,
    pg_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process with Django on the test database, serving the tasks."""
    log = tmp_path_factory.mktemp("celery-django-log") / "worker.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        "DJANGO_SETTINGS_MODULE": "tests.django_sync.celery_settings",
        "LEGACY_TEST_DJANGO_DB": pg_database,
        "LEGACY_TEST_LIVE_URL": server.base_url,
        "LEGACY_TEST_REDIS_URL": f"{redis_base}/6",
        "LEGACY_TEST_CACHE_ALIAS": "legacy",
        "LEGACY_API_TEST_CELERY_URL": f"{redis_base}/3",
        "LEGACY_API_SYNC_REDIS_URL": f"{redis_base}/4",
        "LEGACY_API_TEST_BATCHES_URL": f"{redis_base}/5",
    }
    with celery_worker(
        "tests.django_sync.celery_app", env, log, "--pool", "prefork", "--concurrency", "1"
    ) as proc:
        yield proc


@pytest.fixture(scope="module")
def app(redis_base: str) -> Iterator[Any]:
    """A Celery app of this test process that sends tasks to the worker and reads results."""
    sender = celery.Celery("sender", broker=f"{redis_base}/3", backend=f"{redis_base}/3")
    yield sender
    sender.close()


@pytest.fixture
def fourd(
    emulator: EmulatorServer, worker: subprocess.Popen[bytes], redis_base: str
) -> Iterator[Fourd]:
    """The reset emulator over plain HTTP; no run locks or recorded batches left over."""
    for db in (4, 5):
        with redis.Redis.from_url(f"{redis_base}/{db}") as r:
            r.flushdb()
    f = Fourd(emulator)
    yield f
    f.http.close()
    assert worker.poll() is None, "the worker died during the test"


def recorded_batches(
    redis_base: str, events: int, timeout: float = 60
) -> list[list[dict[str, Any]]]:
    """The batches the worker's batch task recorded, once they hold ``events`` events."""
    deadline = time.monotonic() + timeout
    with redis.Redis.from_url(f"{redis_base}/5") as r:
        while True:
            batches = [json.loads(b) for b in r.lrange("batches", 0, -1)]
            if sum(map(len, batches)) >= events or time.monotonic() > deadline:
                time.sleep(0.5)  # a repeat sent late would show here
                return [json.loads(b) for b in r.lrange("batches", 0, -1)]
            time.sleep(0.1)


@pytest.mark.usefixtures("db_access")
def test_task_runs_django_mapping_fenced_and_sends_each_batch_once(
    app: Any, fourd: Fourd, redis_base: str
) -> None:
    """run_mapping on the worker fills the model like 4D, fenced, logged, each batch sent once."""
    from tests.django_sync.products.models import Variante  # noqa: PLC0415

    from legacy_adapters.django.models import SyncCheckpoint, SyncRun  # noqa: PLC0415

    first = app.send_task(RUN_MAPPING, args=("variante",)).get(timeout=120)
    assert "ran" == first["status"]
    expected = fourd_variante(fourd)
    assert expected == django_rows(Variante, VARIANTE_FIELDS)
    assert first["fence"] == SyncCheckpoint.objects.get(mapping="variante").fence
    run = SyncRun.objects.get(mapping="variante")
    assert run.ok
    assert len(expected) == run.created

    batches = recorded_batches(redis_base, len(expected))
    keys = [e["key"] for batch in batches for e in batch]
    assert sorted(expected) == sorted(keys)  # every row's event, none twice
    assert all(0 < len(batch) <= 200 for batch in batches)  # VARIANTE.batch_size
    assert {"created"} == {e["kind"] for batch in batches for e in batch}

    changed = sorted(expected)[0]
    fourd.update("Artikel_Variante", {"__KEY": changed, "Bezeichnung": "per Celery"})
    second = app.send_task(RUN_MAPPING, args=("variante",)).get(timeout=120)
    assert "ran" == second["status"]
    assert second["fence"] > first["fence"]
    assert "per Celery" == Variante.objects.get(legacy_key=changed).bezeichnung
    assert second["fence"] == SyncCheckpoint.objects.get(mapping="variante").fence
    assert 2 == SyncRun.objects.filter(mapping="variante").count()
    later = recorded_batches(redis_base, len(expected) + 1)[len(batches) :]
    assert [[("updated", changed)]] == [[(e["kind"], e["key"]) for e in b] for b in later]


def test_django_run_order_honours_both_afters() -> None:
    """A DjangoMapping runs after the names of its own ``after`` and its SyncMapping's."""
    from legacy_adapters.django.sync import DjangoMapping, run_order  # noqa: PLC0415
    from legacy_core.errors import ConfigurationError  # noqa: PLC0415
    from legacy_core.sync import SyncMapping  # noqa: PLC0415

    a = DjangoMapping(SyncMapping("T", name="a", after=["b"]), model="products.Variante")
    b = DjangoMapping(SyncMapping("T", name="b"), model="products.Variante", after=["c"])
    c = DjangoMapping(SyncMapping("T", name="c"), model="products.Variante")
    assert ["c", "b", "a"] == [m.name for m in run_order([a, b, c])]
    with pytest.raises(ConfigurationError, match="cycle"):
        run_order([a, attrs_evolve(b, after=["a"]), c])


def attrs_evolve(m: Any, **changes: Any) -> Any:
    """``m`` with ``changes`` (attrs.evolve)."""
    import attrs  # noqa: PLC0415

    return attrs.evolve(m, **changes)


@pytest.mark.usefixtures("db_access")
def test_stale_lock_holder_is_refused_in_the_django_sink(
    emulator: EmulatorServer, redis_url: str
) -> None:
    """A run whose Redis fence is older than the checkpoint's returns stale and writes no row."""
    from tests.django_sync.products.models import Variante  # noqa: PLC0415
    from tests.sync.conftest import make_client  # noqa: PLC0415

    from legacy_adapters.django.models import SyncCheckpoint, SyncRun  # noqa: PLC0415
    from legacy_adapters.sync._lock import RunLock  # noqa: PLC0415
    from legacy_adapters.sync.celery import run_locked_django  # noqa: PLC0415

    from .mappings import VARIANTE  # noqa: PLC0415

    newer = 10**9  # a newer run's token, far above any this Redis has handed out
    SyncCheckpoint.objects.create(mapping="variante", fence=newer)
    with redis.Redis.from_url(redis_url) as r:
        out = run_locked_django(
            VARIANTE, lock=RunLock(r, "variante", ttl=30), client=make_client(emulator)
        )
        assert r.get("legacy_api:sync:lock:variante") is None  # released
    assert "stale" == out["status"]
    assert out["fence"] < newer
    assert 0 == Variante.objects.count()
    assert newer == SyncCheckpoint.objects.get(mapping="variante").fence
    assert SyncRun.objects.get(mapping="variante").error.startswith("StaleRun")
