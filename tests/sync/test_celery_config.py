"""The Celery tasks' configuration: settings, the beat schedule, the registry, retry rules."""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("celery")

from celery.schedules import crontab

from legacy_adapters.sync.celery import (
    SyncSettings,
    beat_schedule,
    load_mappings,
    retry_countdown,
)
from legacy_core.errors import (
    BudgetExhausted,
    ConfigurationError,
    ServerBusy,
    StaleRun,
    UnknownTable,
)
from legacy_core.resilience import RetryPolicy

BASE = {
    "legacy_api_sync_mappings": "tests.sync.celery_mappings",
    "legacy_api_sync_to": "sqlite:/tmp/x.db",
    "broker_url": "redis://127.0.0.1:1/0",
}


def test_beat_schedule_defaults_to_five_minutes_and_a_nightly_full_run() -> None:
    """By default: run_all incrementally every 300 s, and with full=True at 02:30."""
    entries = beat_schedule({})
    inc, full = entries["legacy-api-sync-incremental"], entries["legacy-api-sync-full"]
    assert ("legacy_api.sync.run_all", {"full": False}) == (inc["task"], inc["kwargs"])
    assert dt.timedelta(minutes=5) == inc["schedule"]
    assert ("legacy_api.sync.run_all", {"full": True}) == (full["task"], full["kwargs"])
    assert crontab(hour=2, minute=30) == full["schedule"]


def test_beat_schedule_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``legacy_api_sync_incremental_every`` and ``_full_at`` (conf or environment) apply."""
    entries = beat_schedule({"legacy_api_sync_incremental_every": 60})
    assert dt.timedelta(seconds=60) == entries["legacy-api-sync-incremental"]["schedule"]
    assert 60 == entries["legacy-api-sync-incremental"]["options"]["expires"]
    monkeypatch.setenv("LEGACY_API_SYNC_FULL_AT", "23:05")
    assert crontab(hour=23, minute=5) == beat_schedule({})["legacy-api-sync-full"]["schedule"]


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("legacy_api_sync_full_at", "25:00", "time of day"),
        ("legacy_api_sync_incremental_every", "soon", "number of seconds"),
        ("legacy_api_sync_incremental_every", 0, "above 0"),
    ],
)
def test_bad_schedule_settings_name_the_setting(key: str, value: object, needle: str) -> None:
    """A malformed schedule setting is a ConfigurationError naming the key."""
    with pytest.raises(ConfigurationError, match=f"{key}.*{needle}|{needle}"):
        beat_schedule({key: value})


def test_settings_need_mappings_and_a_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``legacy_api_sync_mappings`` or ``_to`` the tasks refuse to run, naming the key."""
    for var in ("LEGACY_API_SYNC_MAPPINGS", "LEGACY_API_SYNC_TO", "LEGACY_API_SYNC_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("LEGACY_API_REDIS_URL",):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="legacy_api_sync_to"):
        SyncSettings.from_conf({"legacy_api_sync_mappings": "x"})
    settings = SyncSettings.from_conf(BASE)
    assert "redis://127.0.0.1:1/0" == settings.redis_url  # the Redis broker by default
    assert (60.0, 0.0, 500) == (settings.lock_ttl, settings.lock_wait, settings.batch_size)
    assert "x.db" not in repr(settings)  # a sink URL may carry a password
    with pytest.raises(ConfigurationError, match="legacy_api_sync_lock_ttl must be above 0"):
        SyncSettings.from_conf(
            {**BASE, "legacy_api_sync_lock_ttl": 10, "legacy_api_sync_lock_renew": 20}
        )


def test_registry_loads_in_dependency_order() -> None:
    """The registry module's MAPPINGS come back by name, parents first."""
    got = load_mappings("tests.sync.celery_mappings")
    assert ["Artikel_Familie", "Artikel_Variante", "missing_table"] == list(got)
    with pytest.raises(ConfigurationError, match="cannot import the sync mappings module"):
        load_mappings("tests.sync.no_such_module")
    with pytest.raises(ConfigurationError, match="expected a sequence of SyncMapping"):
        load_mappings("tests.sync.celery_mappings:SyncMapping")


def test_only_transient_errors_are_retried_with_the_policy_wait() -> None:
    """ServerBusy waits its retry_after; user, sink and stale-run errors are never retried."""
    policy = RetryPolicy(base=0.01, cap=0.02, max_retry_after=60)
    busy = ServerBusy("503", table="Kunden", status=503, retry_after=7.0)
    wait = retry_countdown(busy, 0, policy)
    assert wait is not None
    assert 7.0 <= wait <= 7.02
    budget = retry_countdown(BudgetExhausted("no permit", retry_after=2.0), 3, policy)
    assert budget is not None
    assert 2.0 <= budget <= 2.02
    assert retry_countdown(UnknownTable("no table", table="Nope", status=404), 0, policy) is None
    assert retry_countdown(ConfigurationError("bad"), 0, policy) is None
    assert retry_countdown(StaleRun("newer run"), 0, policy) is None
    assert retry_countdown(ValueError("not ours"), 0, policy) is None


def test_django_settings_with_the_celery_namespace_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pyERP's ``config_from_object(settings, namespace="CELERY")``: CELERY_LEGACY_API_SYNC_*."""
    from celery import Celery  # noqa: PLC0415 - local to this test

    class DjangoSettings:
        CELERY_BROKER_URL = "redis://127.0.0.1:1/3"
        CELERY_LEGACY_API_SYNC_MAPPINGS = "tests.sync.celery_mappings"
        CELERY_LEGACY_API_SYNC_TO = "sqlite:/tmp/pyerp.db"
        CELERY_LEGACY_API_SYNC_FULL_AT = "04:15"

    monkeypatch.delenv("LEGACY_API_REDIS_URL", raising=False)
    app = Celery("pyerp")
    app.config_from_object(DjangoSettings, namespace="CELERY")
    settings = SyncSettings.from_conf(app.conf)
    assert ("tests.sync.celery_mappings", "sqlite:/tmp/pyerp.db") == (
        settings.mappings,
        settings.to,
    )
    assert "redis://127.0.0.1:1/3" == settings.redis_url
    assert crontab(hour=4, minute=15) == beat_schedule(app.conf)["legacy-api-sync-full"]["schedule"]


def test_django_sink_needs_no_mappings_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """``legacy_api_sync_to = "django"`` reads no mappings module; the batch task is kept."""
    for var in ("LEGACY_API_SYNC_MAPPINGS", "LEGACY_API_SYNC_TO", "LEGACY_API_SYNC_BATCH_TASK"):
        monkeypatch.delenv(var, raising=False)
    conf = {"legacy_api_sync_to": "django", "broker_url": "redis://127.0.0.1:1/0"}
    settings = SyncSettings.from_conf({**conf, "legacy_api_sync_batch_task": "pyerp.on_batch"})
    assert (True, "pyerp.on_batch") == (settings.django, settings.batch_task)
    assert not SyncSettings.from_conf(BASE).django
    with pytest.raises(ConfigurationError, match="legacy_api_sync_mappings"):
        SyncSettings.from_conf({**BASE, "legacy_api_sync_mappings": None})
