"""Celery tasks for the sync engine: one mapping, all mappings in order, a beat schedule.

Needs the ``celery`` extra (Celery 5 and redis-py). Importing this module registers two
shared tasks on every Celery app of the process::

    legacy_api.sync.run_mapping(name, full=False)   # one mapping, under its Redis lock
    legacy_api.sync.run_all(full=False)             # every mapping, parents first (a chain)

With ``legacy_api_sync_to = "django"`` the tasks run the Django mappings of
``settings.LEGACY_API_SYNC_MAPPINGS`` (what ``manage.py legacy_api_sync`` runs) into their
models through the DjangoSink, fenced, each run logged in a ``SyncRun`` row.
``legacy_api_sync_batch_task`` names a Celery task sent once per batch with its events
(:class:`CeleryBatchTask`).

Settings are read from the Celery app's configuration (``app.conf``), then from the
environment (the upper-case name), then the defaults; ``beat_schedule(app.conf)`` builds
the periodic entries. ADR 0035 has the lock, the fence and the retry rules.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import celery
import redis
from celery.schedules import crontab

from legacy_adapters.bootstrap import build_client
from legacy_core._log import get_logger
from legacy_core.errors import ConfigurationError, LegacyError, StaleRun
from legacy_core.resilience import RetryPolicy
from legacy_core.service import LegacyClient
from legacy_core.sync import ChangeEvent, SyncMapping, run_order

from . import open_sink
from ._lock import RunLock
from ._runner import RunSummary, SyncRunner

__all__ = [
    "DJANGO",
    "CeleryBatchTask",
    "SyncSettings",
    "beat_schedule",
    "load_mappings",
    "retry_countdown",
    "run_all",
    "run_locked",
    "run_locked_django",
    "run_mapping",
]

_log = get_logger()

RUN_MAPPING = "legacy_api.sync.run_mapping"
RUN_ALL = "legacy_api.sync.run_all"
DJANGO = "django"
"""``legacy_api_sync_to`` value: the Django mappings into their models (ADR 0035)."""


def _setting(conf: Mapping[str, Any], key: str, default: Any) -> Any:
    value = conf.get(key)
    if value is None:
        value = os.environ.get(key.upper())
    return default if value is None or value == "" else value


def _number(conf: Mapping[str, Any], key: str, default: float) -> float:
    value = _setting(conf, key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f"setting {key} must be a number of seconds, not {value!r}"
        raise ConfigurationError(msg) from None
    if number < 0:
        msg = f"setting {key} must not be negative, not {value!r}"
        raise ConfigurationError(msg)
    return number


def _clock_time(value: str, key: str) -> tuple[int, int]:
    try:
        moment = dt.time.fromisoformat(value)
    except ValueError:
        msg = f"setting {key} must be a time of day like 02:30, not {value!r}"
        raise ConfigurationError(msg) from None
    return moment.hour, moment.minute


@attrs.frozen
class SyncSettings:
    """The sync tasks' settings (``app.conf`` key, or its upper-case environment variable).

    ``legacy_api_sync_mappings``: the module (``pkg.mod`` or ``pkg.mod:NAME``) whose
    ``MAPPINGS`` (or ``NAME``) is a sequence of SyncMapping, or a callable returning one.
    ``legacy_api_sync_to``: the sink (``sqlite:PATH`` or ``postgresql://...``), or
    ``django``: the Django mappings of ``settings.LEGACY_API_SYNC_MAPPINGS`` into their
    models (``legacy_api_sync_mappings`` is then not needed).
    ``legacy_api_sync_batch_task``: a task name sent once per batch with its events.
    ``legacy_api_sync_redis_url``: the lock's Redis (default ``LEGACY_API_REDIS_URL``,
    else the broker when it is Redis).
    """

    mappings: str
    to: str = attrs.field(repr=False)  # a PostgreSQL URL may carry a password
    redis_url: str = attrs.field(repr=False)
    lock_ttl: float = 60.0
    lock_wait: float = 0.0
    lock_renew: float | None = None
    incremental_every: float = 300.0
    full_at: tuple[int, int] = (2, 30)
    batch_size: int = 500
    max_retries: int = 5
    batch_task: str | None = None

    @property
    def django(self) -> bool:
        """True when the tasks run the Django mappings (``legacy_api_sync_to = "django"``)."""
        return self.to == DJANGO

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> SyncSettings:
        """Read the settings; a missing or malformed one is a ConfigurationError naming it."""
        to = _setting(conf, "legacy_api_sync_to", None)
        # Django mappings come from settings.LEGACY_API_SYNC_MAPPINGS, like the command's.
        mappings = _setting(conf, "legacy_api_sync_mappings", "" if to == DJANGO else None)
        broker = str(conf.get("broker_url") or "")
        redis_url = _setting(
            conf,
            "legacy_api_sync_redis_url",
            os.environ.get("LEGACY_API_REDIS_URL")
            or (broker if broker.startswith(("redis://", "rediss://")) else None),
        )
        for key, value in (
            ("legacy_api_sync_mappings", mappings),
            ("legacy_api_sync_to", to),
            ("legacy_api_sync_redis_url", redis_url),
        ):
            if value is None or (not value and key != "legacy_api_sync_mappings"):
                msg = f"the Celery sync tasks need the setting {key} (or ${key.upper()})"
                raise ConfigurationError(msg)
        ttl = _number(conf, "legacy_api_sync_lock_ttl", 60.0)
        renew = _setting(conf, "legacy_api_sync_lock_renew", None)
        renew_every = None if renew is None else _number(conf, "legacy_api_sync_lock_renew", 0)
        if ttl <= 0 or (renew_every is not None and renew_every >= ttl):
            msg = (
                "setting legacy_api_sync_lock_ttl must be above 0 seconds and above "
                "legacy_api_sync_lock_renew (a lock renewed less often than it lives expires)"
            )
            raise ConfigurationError(msg)
        return cls(
            mappings=str(mappings),
            to=str(to),
            redis_url=str(redis_url),
            lock_ttl=ttl,
            lock_wait=_number(conf, "legacy_api_sync_lock_wait", 0.0),
            lock_renew=renew_every,
            incremental_every=_number(conf, "legacy_api_sync_incremental_every", 300.0),
            full_at=_clock_time(
                str(_setting(conf, "legacy_api_sync_full_at", "02:30")), "legacy_api_sync_full_at"
            ),
            batch_size=int(_number(conf, "legacy_api_sync_batch_size", 500)) or 500,
            max_retries=int(_number(conf, "legacy_api_sync_max_retries", 5)),
            batch_task=_setting(conf, "legacy_api_sync_batch_task", None),
        )


def load_mappings(path: str) -> dict[str, SyncMapping]:
    """The mappings ``path`` names (``pkg.mod`` → ``MAPPINGS``, ``pkg.mod:NAME``), by name.

    Checked on load: names are unique, every ``after`` names a known mapping, no cycles.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import the sync mappings module {module_name!r}: {exc}"
        raise ConfigurationError(msg) from exc
    found = getattr(module, attribute or "MAPPINGS", None)
    if callable(found) and not isinstance(found, type):
        found = found()
    if not isinstance(found, Sequence) or not all(isinstance(m, SyncMapping) for m in found):
        msg = f"{path}: expected a sequence of SyncMapping (MAPPINGS), got {type(found).__name__}"
        raise ConfigurationError(msg)
    return {m.name: m for m in run_order(found)}


def retry_countdown(
    error: BaseException, retries: int, policy: RetryPolicy | None = None
) -> float | None:
    """Seconds until a Celery retry of a run that failed with ``error``, or None: no retry.

    Only what the client marks retryable (a ``transient`` LegacyError: ServerBusy and
    BudgetExhausted, timeouts, an open breaker, no free licence), after the client already
    spent its own in-line attempts; never a user or configuration error, a sink error or
    a stale run. The wait is the client policy's backoff for attempt ``retries + 1``,
    which honours ``retry_after`` (the server's or the budget's), capped at its
    ``max_retry_after``.
    """
    if not isinstance(error, LegacyError) or not error.transient:
        return None
    policy = policy or RetryPolicy()
    return max(policy.backoff(retries + 1, error), 0.0)


_state_lock = threading.Lock()
_clients: dict[str, LegacyClient] = {}
_redis: dict[str, redis.Redis[bytes]] = {}


def _client() -> LegacyClient:
    """One LegacyClient per worker process, from legacy-api's own configuration.

    With ``session_store = "redis"`` every worker process shares one 4D session and the
    request budget (ADR 0028); the client's retries and breaker apply inside each run.
    """
    with _state_lock:
        key = str(os.getpid())  # a forked pool child builds its own connections
        if key not in _clients:
            _clients[key] = build_client()
        return _clients[key]


def _redis_client(url: str) -> redis.Redis[bytes]:
    with _state_lock:
        key = f"{os.getpid()}:{url}"
        if key not in _redis:
            _redis[key] = redis.Redis.from_url(url)
        return _redis[key]


def run_locked(
    mapping: SyncMapping,
    *,
    client: LegacyClient,
    to: str,
    lock: RunLock,
    full: bool = False,
    batch_size: int = 500,
    handlers: Sequence[Callable[[Sequence[ChangeEvent]], None]] = (),
) -> dict[str, Any]:
    """One run of ``mapping`` into ``to`` under ``lock``; what happened, as a JSON-able dict.

    ``status`` is ``ran`` (with the run's summary and fence), ``skipped`` (another run
    holds the lock: nothing was read) or ``stale`` (this run's lock expired and a newer
    run committed: the sink refused this one's batch, the newer checkpoint stands).
    """

    def body(fence: int | None) -> RunSummary:
        sink = open_sink(to)
        try:
            runner = SyncRunner(
                client,
                mapping,
                sink,
                batch_size=batch_size,
                fence=fence,
                sink_lock=False,  # the fenced Redis lock is the deployment's one lock
                full=full,
            )
            for handler in handlers:
                runner.add_handler(handler)
            return runner.run()
        finally:
            sink.close()

    return _under_lock(mapping.name, lock, body)


def run_locked_django(
    mapping: Any,
    *,
    lock: RunLock,
    client: LegacyClient | None = None,
    full: bool = False,
    handlers: Sequence[Callable[[Sequence[ChangeEvent]], None]] = (),
) -> dict[str, Any]:
    """:func:`run_locked` for a ``DjangoMapping``: its DjangoSink fenced, a ``SyncRun`` row.

    ``client`` defaults to the Django app's (``LEGACY_API`` settings), as for
    ``manage.py legacy_api_sync``.
    """
    from legacy_adapters.django.sync import run_mapping as run_django  # noqa: PLC0415

    def body(fence: int | None) -> RunSummary:
        return run_django(
            mapping, full=full, client=client, handlers=handlers, fence=fence, sink_lock=False
        )

    return _under_lock(mapping.name, lock, body)


def _under_lock(
    name: str, lock: RunLock, body: Callable[[int | None], RunSummary]
) -> dict[str, Any]:
    started = time.time()
    if not lock.acquire():
        newest = lock.holder_fence()
        _log.info("sync_run_skipped", mapping=name, holder_fence=newest)
        return {
            "mapping": name,
            "status": "skipped",
            "reason": "another run of this mapping holds the lock",
            "holder_fence": newest,
            "started": started,
            "finished": time.time(),
        }
    fence = lock.fence
    try:
        summary = body(fence)
    except StaleRun as exc:
        _log.warning("sync_run_stale", mapping=name, fence=fence, error=str(exc))
        return {
            "mapping": name,
            "status": "stale",
            "fence": fence,
            "error": str(exc).splitlines()[0],
            "started": started,
            "finished": time.time(),
        }
    finally:
        lock.release()
    out = attrs.asdict(summary)
    out.update(status="ran", fence=fence, started=started, finished=time.time())
    _log.info("sync_run_done", mapping=name, fence=fence, summary=summary.line())
    return out


@attrs.frozen
class CeleryBatchTask:
    """An event handler sending the Celery task ``name`` once per batch with its events.

    The task gets one argument: the batch's events as JSON-able dicts (``mapping``,
    ``kind``, ``key``, ``stamp``, ``changed``, ``before``, ``after``). Like every handler
    it is called just before the batch commits, so a crash in between sends that batch
    again on the next run (at least once; ``mapping:key:stamp:kind`` tells repeats).
    Register it like any handler (``SyncRunner(handlers=[...])``, ``add_handler``) or
    with the ``legacy_api_sync_batch_task`` setting of the Celery tasks.
    """

    name: str
    app: celery.Celery | None = None
    queue: str | None = None

    def __call__(self, events: Sequence[ChangeEvent], /) -> None:
        """Send the task with ``events``."""
        app = self.app or celery.current_app
        payload = [
            json.loads(json.dumps(attrs.asdict(e, recurse=False), default=str)) for e in events
        ]
        app.send_task(self.name, args=(payload,), queue=self.queue)


def _handlers(settings: SyncSettings, app: celery.Celery) -> list[CeleryBatchTask]:
    return [CeleryBatchTask(settings.batch_task, app=app)] if settings.batch_task else []


def _django_mappings() -> dict[str, Any]:
    """The Django mappings of ``settings.LEGACY_API_SYNC_MAPPINGS``, parents first."""
    from legacy_adapters.django.sync import configured_mappings  # noqa: PLC0415
    from legacy_adapters.django.sync import run_order as django_order  # noqa: PLC0415

    return {m.name: m for m in django_order(list(configured_mappings().values()))}


def _lock_for(settings: SyncSettings, name: str) -> RunLock:
    return RunLock(
        _redis_client(settings.redis_url),
        name,
        ttl=settings.lock_ttl,
        wait=settings.lock_wait,
        renew_every=settings.lock_renew,
    )


@celery.shared_task(bind=True, name=RUN_MAPPING)
def run_mapping(self: celery.Task, name: str, full: bool = False) -> dict[str, Any]:  # type: ignore[type-arg]
    """Run the mapping ``name`` once (``full``: a whole copy) under its deployment-wide lock.

    A transient 4D error (ServerBusy, a timeout, an expired session the client could not
    renew) is retried by Celery after the client policy's backoff (``retry_after`` when
    the server or the budget gave one), at most ``legacy_api_sync_max_retries`` times;
    any other error fails the task at once.
    """
    settings = SyncSettings.from_conf(self.app.conf)
    mappings: Mapping[str, Any] = (
        _django_mappings() if settings.django else load_mappings(settings.mappings)
    )
    if name not in mappings:
        where = "LEGACY_API_SYNC_MAPPINGS" if settings.django else settings.mappings
        msg = f"no sync mapping named {name!r} in {where} (known: {sorted(mappings)})"
        raise ConfigurationError(msg)
    handlers = _handlers(settings, self.app)
    client: LegacyClient | None = None
    try:
        if settings.django:
            from legacy_adapters.django import get_client  # noqa: PLC0415

            client = get_client(mappings[name].environment)
            out = run_locked_django(
                mappings[name],
                client=client,
                lock=_lock_for(settings, name),
                full=full,
                handlers=handlers,
            )
        else:
            client = _client()
            out = run_locked(
                mappings[name],
                client=client,
                to=settings.to,
                lock=_lock_for(settings, name),
                full=full,
                batch_size=settings.batch_size,
                handlers=handlers,
            )
    except LegacyError as exc:
        countdown = retry_countdown(
            exc, self.request.retries, client.retry if client is not None else None
        )
        if countdown is None:
            raise
        _log.warning(
            "sync_run_retry", mapping=name, countdown=round(countdown, 3), error=type(exc).__name__
        )
        raise self.retry(exc=exc, countdown=countdown, max_retries=settings.max_retries) from exc
    out.update(pid=os.getpid(), retries=self.request.retries)
    return out


@celery.shared_task(bind=True, name=RUN_ALL)
def run_all(self: celery.Task, full: bool = False) -> dict[str, Any]:  # type: ignore[type-arg]
    """Run every mapping once, parents before variants: a chain of ``run_mapping`` tasks.

    A mapping runs only after the ones before it finished (ran or skipped); a failed one
    stops the chain, so a variant never runs on top of a parent that failed. Returns the
    order and the chain's task ids.
    """
    settings = SyncSettings.from_conf(self.app.conf)
    order = list(_django_mappings() if settings.django else load_mappings(settings.mappings))
    if not order:
        return {"order": [], "tasks": []}
    signatures = [
        self.app.signature(RUN_MAPPING, args=(n,), kwargs={"full": full}, immutable=True)
        for n in order
    ]
    result = celery.chain(*signatures).apply_async()
    ids: list[str] = []
    node: Any = result
    while node is not None:
        ids.append(node.id)
        node = node.parent
    return {"order": order, "tasks": ids[::-1]}


def beat_schedule(conf: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Celery beat entries: every mapping incrementally every 5 minutes, a full copy nightly.

    ``legacy_api_sync_incremental_every`` (seconds, default 300) and
    ``legacy_api_sync_full_at`` (``HH:MM`` in the beat's time zone, default 02:30) change
    them. An incremental run not started within its period expires rather than piling up
    behind a slow one; one that meets a run in progress skips (the lock).
    """
    conf = conf if conf is not None else {}
    every = _number(conf, "legacy_api_sync_incremental_every", 300.0)
    if every <= 0:
        msg = "setting legacy_api_sync_incremental_every must be above 0 seconds"
        raise ConfigurationError(msg)
    hour, minute = _clock_time(
        str(_setting(conf, "legacy_api_sync_full_at", "02:30")), "legacy_api_sync_full_at"
    )
    return {
        "legacy-api-sync-incremental": {
            "task": RUN_ALL,
            "schedule": dt.timedelta(seconds=every),
            "kwargs": {"full": False},
            "options": {"expires": every},
        },
        "legacy-api-sync-full": {
            "task": RUN_ALL,
            "schedule": crontab(hour=hour, minute=minute),
            "kwargs": {"full": True},
        },
    }
