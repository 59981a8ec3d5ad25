"""The Celery app the sync tests start real workers of (``celery -A tests.sync.celery_app``).

Its broker, result backend and the sync settings come from the environment the test
fixture gives the worker process; the tasks come from ``legacy_adapters.sync.celery``.
"""

from __future__ import annotations

import os

from celery import Celery

import legacy_adapters.sync.celery  # noqa: F401 - registers the shared sync tasks

app = Celery(
    "legacy_api_sync_tests",
    broker=os.environ["LEGACY_API_TEST_CELERY_URL"],
    backend=os.environ["LEGACY_API_TEST_CELERY_URL"],
)
app.conf.update(
    result_extended=True,  # the tests read each result's retries count
    worker_prefetch_multiplier=1,
    task_acks_late=False,
    broker_connection_retry_on_startup=True,
)
