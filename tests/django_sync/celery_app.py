"""The Celery app of the Django sync worker tests (``celery -A tests.django_sync.celery_app``).

Like pyERP's: Django set up first (``DJANGO_SETTINGS_MODULE`` and the database name come
from the environment the test fixture gives the worker), then the shared sync tasks, and a
task recording each batch it is sent (``legacy_api_sync_batch_task``) in a Redis list.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from celery import Celery

import django

django.setup()

import legacy_adapters.sync.celery  # noqa: E402, F401 - registers the shared sync tasks

RECORD_BATCH = "tests.django_sync.record_batch"

app = Celery(
    "legacy_api_django_sync_tests",
    broker=os.environ["LEGACY_API_TEST_CELERY_URL"],
    backend=os.environ["LEGACY_API_TEST_CELERY_URL"],
)
app.conf.update(
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    legacy_api_sync_to="django",
    legacy_api_sync_batch_task=RECORD_BATCH,
)


@app.task(name=RECORD_BATCH)
def record_batch(events: list[dict[str, Any]]) -> int:
    """Append the batch's events (as sent) to the test's Redis list; their number."""
    with redis.Redis.from_url(os.environ["LEGACY_API_TEST_BATCHES_URL"]) as r:
        r.rpush("batches", json.dumps(events))
    return len(events)
