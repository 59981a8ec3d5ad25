"""Incremental sync of 4D tables into Django models (ADR 0031, ADR 0034).

Declare a :class:`DjangoMapping` in Python (a :class:`~legacy_core.sync.SyncMapping` and
the target model) or load pyERP's YAML files with :func:`load_yaml`; list them in
``settings.LEGACY_API_SYNC_MAPPINGS`` for ``manage.py legacy_api_sync``; run one with
:func:`run_mapping`. Each run leaves a :class:`~legacy_adapters.django.models.SyncRun` row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
from django.apps import apps
from django.db import models
from django.utils import timezone
from django.utils.module_loading import import_string

from legacy_adapters.sync import RunSummary, SyncRunner
from legacy_core.errors import ConfigurationError
from legacy_core.service import LegacyClient
from legacy_core.sync import ChangeEvent, SyncMapping
from legacy_core.sync import run_order as core_run_order

from ._sink import DjangoSink
from ._yaml import YamlLoad, load_yaml
from .signals import legacy_sync_batch

__all__ = [
    "DjangoMapping",
    "DjangoSink",
    "UpdateStrategy",
    "YamlLoad",
    "configured_mappings",
    "legacy_sync_batch",
    "load_yaml",
    "run_mapping",
    "run_order",
]

UpdateStrategy = Literal["newest_wins", "legacy_wins", "local_wins", "manual"]
UPDATE_STRATEGIES = ("newest_wins", "legacy_wins", "local_wins", "manual")


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@attrs.frozen
class DjangoMapping:
    """A sync mapping and the Django model it fills.

    ``model`` is a model class or ``"app_label.Model"``; ``columns`` names model fields
    for sink columns that differ (see :class:`DjangoSink`); ``after`` names the mappings
    that must run first (parents before variants); ``update_strategy`` is kept for the
    write-back (a read sync applies every 4D change); ``incremental`` False makes every
    run a full copy; ``environment`` the 4D environment (default: the client's).
    """

    mapping: SyncMapping
    model: type[models.Model] | str
    columns: Mapping[str, str] = attrs.field(factory=dict)
    soft_delete: str | None = "legacy_deleted"
    after: tuple[str, ...] = attrs.field(default=(), converter=_names)
    update_strategy: UpdateStrategy = "newest_wins"
    incremental: bool = True
    environment: str | None = None
    batch_size: int = 500

    def __attrs_post_init__(self) -> None:
        if self.update_strategy not in UPDATE_STRATEGIES:
            msg = (
                f"mapping {self.name}: update_strategy must be one of "
                f"{', '.join(UPDATE_STRATEGIES)}, not {self.update_strategy!r}"
            )
            raise ConfigurationError(msg, table=self.mapping.table)

    @property
    def name(self) -> str:
        """The mapping's (and its checkpoint's) name."""
        return self.mapping.name

    def resolve_model(self) -> type[models.Model]:
        """The model class; ConfigurationError when ``app_label.Model`` is not installed."""
        if not isinstance(self.model, str):
            return self.model
        try:
            return apps.get_model(self.model)
        except (LookupError, ValueError):
            msg = f"mapping {self.name}: model {self.model} is not installed"
            raise ConfigurationError(msg, table=self.mapping.table) from None

    def sink(self, *, full: bool = False, using: str | None = None) -> DjangoSink:
        """The Django sink of this mapping (``full``: the next run copies everything)."""
        # A mapping that copies __KEY/__STAMP into a field of its own (pyERP's
        # ``__KEY: legacy_id``) keeps the system column in that field too.
        system = {
            f.source: f.target
            for f in self.mapping.fields
            if f.source in {"__KEY", "__STAMP"} and f.target != f.source
        }
        return DjangoSink(
            self.resolve_model(),
            using=using,
            columns={**system, **self.columns},
            soft_delete=self.soft_delete,
            full=full or not self.incremental,
        )


def run_mapping(
    mapping: DjangoMapping,
    *,
    full: bool = False,
    client: LegacyClient | None = None,
    handlers: Iterable[Callable[[Sequence[ChangeEvent]], None]] = (),
    using: str | None = None,
    fence: int | None = None,
    sink_lock: bool = True,
) -> RunSummary:
    """Run ``mapping`` once into its model, logged in a ``SyncRun`` row; the run's summary.

    ``client`` defaults to the app's (``get_client``); ``handlers`` get each batch's events
    before its commit. An error is recorded in the row and raised again. ``fence`` is a
    deployment-wide lock's fencing token (the Celery tasks', ADR 0035): the sink refuses
    it once a newer one committed; such a caller may leave the sink's own lock off.
    """
    from .models import SyncRun  # noqa: PLC0415 - models need the app registry

    sink = mapping.sink(full=full, using=using)
    if client is None:
        from . import get_client  # noqa: PLC0415 - the app's client, built on first use

        client = get_client(mapping.environment)
    with sink.errors("run log"):  # no migrate yet: a SinkError, not a traceback
        run = SyncRun.objects.using(sink.using).create(
            mapping=mapping.name, started_at=timezone.now(), full=full or None
        )
    runner = SyncRunner(
        client,
        mapping.mapping,
        sink,
        handlers=list(handlers),
        batch_size=mapping.batch_size,
        environment=mapping.environment,
        fence=fence,
        sink_lock=sink_lock,
    )
    try:
        summary = runner.run()
    except BaseException as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        run.error = f"{type(exc).__name__}: {first}"[:2000]
        run.finished_at = timezone.now()
        with sink.errors("run log"):
            run.save(using=sink.using, update_fields=["error", "finished_at"])
        raise
    run.finished_at = timezone.now()
    run.full = summary.full
    run.rows_read = summary.rows_read
    run.created = summary.created
    run.updated = summary.updated
    run.deleted = summary.deleted
    run.requests = summary.requests
    with sink.errors("run log"):
        run.save(using=sink.using)
    return summary


def run_order(mappings: Sequence[DjangoMapping]) -> list[DjangoMapping]:
    """``mappings`` so that each runs after those its ``after`` names (ties: given order).

    The order is :func:`legacy_core.sync.run_order`'s (one rule for every sync): a
    DjangoMapping runs after the names of its own ``after`` and of its SyncMapping's.
    """
    by_name = {m.name: m for m in mappings}
    plans = [
        attrs.evolve(m.mapping, after=tuple(dict.fromkeys((*m.mapping.after, *m.after))))
        for m in mappings
    ]
    return [by_name[p.name] for p in core_run_order(plans)]


def _entries(value: Any) -> list[DjangoMapping]:
    if isinstance(value, DjangoMapping):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = list(value)
        if all(isinstance(v, DjangoMapping) for v in items):
            return items
    msg = f"not a DjangoMapping or a list of them: {type(value).__name__}"
    raise ConfigurationError(msg)


def configured_mappings(extra_yaml: Iterable[str | Path] = ()) -> dict[str, DjangoMapping]:
    """The mappings of ``settings.LEGACY_API_SYNC_MAPPINGS`` and of ``extra_yaml``, by name.

    Each setting entry is a dotted path to a :class:`DjangoMapping` (or a list of them)
    or the path of a pyERP YAML file (``.yaml``/``.yml``).
    """
    from django.conf import settings  # noqa: PLC0415 - read at call time (override_settings)

    entries = list(getattr(settings, "LEGACY_API_SYNC_MAPPINGS", ()))
    out: dict[str, DjangoMapping] = {}
    found: list[DjangoMapping] = []
    for entry in [*entries, *(Path(p) for p in extra_yaml)]:
        text = str(entry)
        if isinstance(entry, Path) or text.endswith((".yaml", ".yml")):
            found.extend(load_yaml(text).mappings)
            continue
        try:
            value = import_string(text)
        except ImportError as exc:
            msg = f"LEGACY_API_SYNC_MAPPINGS: cannot import {text}: {exc}"
            raise ConfigurationError(msg) from None
        try:
            found.extend(_entries(value))
        except ConfigurationError as exc:
            msg = f"LEGACY_API_SYNC_MAPPINGS: {text}: {exc}"
            raise ConfigurationError(msg) from None
    for m in found:
        if m.name in out:
            msg = f"two sync mappings are named {m.name}"
            raise ConfigurationError(msg, table=m.mapping.table)
        out[m.name] = m
    return out
