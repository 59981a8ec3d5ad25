"""pyERP's sync YAML files (``pyerp/sync/config/*.yaml``) as Django sync mappings.

Each top-level entry with a ``source`` and a ``loader`` becomes one mapping named after
the entry (the name its ``dependencies`` use). What the engine applies: the table, the
environment, the page size, ``field_mappings``, ``unique_field`` (the key), the model,
``update_strategy``, ``incremental`` and ``dependencies``. Keys the engine knows but does
not apply (pyERP's Python transformers and validators, filters, schedules) are listed
in ``YamlLoad.notes``; keys nobody knows are an error (or, with ``strict=False``,
listed in ``YamlLoad.unknown``): a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from legacy_core.errors import ConfigurationError
from legacy_core.sync import (
    FieldMap,
    GlobalStampWatermark,
    ModifiedWatermark,
    SyncMapping,
    TimestampWatermark,
    Watermark,
)

__all__ = ["YamlLoad", "load_yaml"]

# Every key of pyERP's files, by where it sits: True = applied, else why it is not.
_NOT_APPLIED = "not applied"
_SCHEMA: dict[str, Any] = {
    "name": True,
    "description": True,
    "source": {
        "type": True,
        "extractor_class": "the engine reads through legacy_api's own client",
        "config": {
            "environment": True,
            "table_name": True,
            "page_size": True,
            "all_records": "every run reads every page it needs",
            "filters": "the engine copies whole tables (a filtered copy cannot detect deletes)",
        },
    },
    "transformer": {
        "type": True,
        "class": "pyERP's transformer classes are Python: declare FieldMap transforms",
        "config": {
            "field_mappings": True,
            "custom_transformers": "Python transformers: declare FieldMap(transform=...)",
            "validation_rules": "validators: put them in the model or a transform",
        },
    },
    "loader": {
        "type": True,
        "class": "the Django sink replaces pyERP's loader",
        "config": {
            "app_name": True,
            "model_name": True,
            "unique_field": True,
            "update_strategy": True,
        },
    },
    "schedule": {
        "frequency": "schedules belong to Celery beat (settings)",
        "time": "schedules belong to Celery beat (settings)",
        "dependencies": "schedule dependencies: use the entry's dependencies",
    },
    "incremental": {
        "enabled": True,
        "timestamp_field": True,
        "timestamp_filter_format": "the engine builds its own filter (watermark + overlap)",
        "full_sync_fallback": "the first run and --full are full copies",
    },
    "dependencies": True,
    "trigger_type": True,
    "config": "only for entries that are not table syncs",
}

# pyERP's "update_or_create" is the upsert every 4D change gets here.
_STRATEGIES = {
    "newest_wins": "newest_wins",
    "legacy_wins": "legacy_wins",
    "local_wins": "local_wins",
    "manual": "manual",
    "update_or_create": "legacy_wins",
}


@attrs.frozen
class YamlLoad:
    """The mappings a YAML file declares, what was not applied, and unknown keys."""

    path: str
    mappings: list[Any]
    """The :class:`~legacy_adapters.django.sync.DjangoMapping` of each table entry."""
    notes: list[str]
    unknown: list[str]


def _walk(value: Any, schema: Any, where: str, notes: list[str], unknown: list[str]) -> None:
    if not isinstance(schema, dict) or not isinstance(value, Mapping):
        return
    for key, sub in value.items():
        path = f"{where}.{key}"
        if key not in schema:
            unknown.append(path)
        elif isinstance(schema[key], str):
            notes.append(f"{path}: {_NOT_APPLIED} ({schema[key]})")
        else:
            _walk(sub, schema[key], path, notes, unknown)


def _watermark(name: str, entry: str, table: str) -> Watermark:
    if name == "__TIMESTAMP":
        return TimestampWatermark()
    if name == "__GlobalStamp":
        return GlobalStampWatermark()
    if name.endswith("_date"):
        base = name.removesuffix("_date")
        return ModifiedWatermark(date_field=name, time_field=f"{base}_time")
    msg = (
        f"{entry}: incremental.timestamp_field {name!r} is neither a *_date field (read with "
        "its *_time pair), __TIMESTAMP nor __GlobalStamp: declare the mapping in Python"
    )
    raise ConfigurationError(msg, table=table)


def _section(entry: Mapping[str, Any], *names: str) -> Mapping[str, Any]:
    value: Any = entry
    for n in names:
        value = value.get(n) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _mapping(name: str, entry: Mapping[str, Any], label: str) -> Any:
    from .sync import DjangoMapping  # noqa: PLC0415 - sync imports this module

    where = f"{label}: {name}"
    source = _section(entry, "source", "config")
    table = source.get("table_name")
    if not isinstance(table, str) or not table:
        msg = f"{where}: source.config.table_name is missing"
        raise ConfigurationError(msg)
    if _section(entry, "source").get("type", "api") != "api":
        msg = f"{where}: source.type must be api (a 4D table)"
        raise ConfigurationError(msg, table=table)
    loader = _section(entry, "loader", "config")
    if _section(entry, "loader").get("type", "django_model") != "django_model":
        msg = f"{where}: loader.type must be django_model"
        raise ConfigurationError(msg, table=table)
    fields = _section(entry, "transformer", "config").get("field_mappings")
    if not isinstance(fields, Mapping) or not fields:
        msg = f"{where}: transformer.config.field_mappings is missing or empty"
        raise ConfigurationError(msg, table=table)
    maps = [FieldMap(str(s), str(t)) for s, t in fields.items()]
    unique = loader.get("unique_field")
    key = next((m.source for m in maps if m.target == unique), None)
    if key is None:
        msg = f"{where}: loader.config.unique_field {unique!r} is not a target of field_mappings"
        raise ConfigurationError(msg, table=table)
    app, model = loader.get("app_name"), loader.get("model_name")
    if not app or not model:
        msg = f"{where}: loader.config needs app_name and model_name"
        raise ConfigurationError(msg, table=table)
    strategy = str(loader.get("update_strategy", "newest_wins"))
    if strategy not in _STRATEGIES:
        msg = (
            f"{where}: loader.config.update_strategy {strategy!r} is not one of "
            f"{', '.join(_STRATEGIES)}"
        )
        raise ConfigurationError(msg, table=table)
    incremental = _section(entry, "incremental")
    watermark = _watermark(str(incremental.get("timestamp_field", "modified_date")), where, table)
    depends = entry.get("dependencies") or []
    if not isinstance(depends, list):
        msg = f"{where}: dependencies must be a list of entry names"
        raise ConfigurationError(msg, table=table)
    return DjangoMapping(
        SyncMapping(table, watermark=watermark, key=key, fields=maps, name=name),
        model=f"{app}.{model}",
        after=tuple(str(d) for d in depends),
        update_strategy=_STRATEGIES[strategy],  # type: ignore[arg-type]
        incremental=bool(incremental.get("enabled", True)),
        environment=source.get("environment"),
        batch_size=int(source.get("page_size", 500)),
    )


def load_yaml(path: str | Path, *, strict: bool = True) -> YamlLoad:
    """The Django sync mappings of one of pyERP's sync YAML files.

    ConfigurationError for a file that cannot be read, an entry the engine cannot run,
    and (``strict``) keys that no pyERP file uses; ``notes`` say what was not applied.
    """
    try:
        import yaml  # noqa: PLC0415 - PyYAML: the django extra (pyERP has it)
    except ImportError:
        msg = "loading sync YAML files needs PyYAML: pip install 'legacy-api[django]'"
        raise ConfigurationError(msg) from None
    label = Path(path).name
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read sync YAML {path}: {exc.strerror or exc}"
        raise ConfigurationError(msg) from None
    except yaml.YAMLError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        msg = f"sync YAML {label} is not valid YAML: {first}"
        raise ConfigurationError(msg) from None
    if not isinstance(data, Mapping) or not data:
        msg = f"sync YAML {label}: expected entries (name: {{source, transformer, loader}})"
        raise ConfigurationError(msg)
    notes: list[str] = []
    unknown: list[str] = []
    mappings = []
    for name, entry in data.items():
        if not isinstance(entry, Mapping):
            unknown.append(f"{name} (not an entry)")
            continue
        _walk(entry, _SCHEMA, str(name), notes, unknown)
        if "source" not in entry or "loader" not in entry:
            notes.append(f"{name}: skipped (not a table sync: no source and loader)")
            continue
        mappings.append(_mapping(str(name), entry, label))
    if unknown and strict:
        msg = f"sync YAML {label}: unknown keys: {', '.join(unknown)}"
        raise ConfigurationError(msg)
    return YamlLoad(str(path), mappings, notes, unknown)
