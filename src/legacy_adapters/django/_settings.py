"""The ``LEGACY_API`` settings dict: its documented defaults and its parsing into a value.

Parsing collects problems instead of raising on the first, so the system checks can
report all of them; :func:`load_settings` raises for the composition root. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from legacy_adapters.config import ClientConfig, check_cache_setting
from legacy_core.errors import ConfigurationError

__all__ = ["DEFAULTS", "SETTING", "LegacyApiSettings", "Problem", "load_settings", "parse_settings"]

SETTING = "LEGACY_API"

#: The documented defaults of every key of ``settings.LEGACY_API``.
DEFAULTS: Mapping[str, Any] = {
    "ENVIRONMENTS": {},  # {"live": "http://wsz-db:8080", "test": "http://wsz-db-test:8080"}
    "DEFAULT_ENVIRONMENT": "live",
    "BACKEND": "fourd",  # adapter name (fourd, memory, recorded, or a plugin's)
    "SESSION_STORE": "django",  # django | redis | file | memory (or a plugin's)
    "CACHE_ALIAS": "default",  # for SESSION_STORE="django"
    "REDIS_URL": None,  # for SESSION_STORE="redis"
    "SESSION_DIR": None,  # for SESSION_STORE="file" (None: the per-user default)
    "SESSION_KEY": None,  # Fernet key: sessions encrypted at rest (required when not DEBUG)
    "TIMEOUTS": {"CONNECT": 5.0, "READ": 30.0},  # seconds; a number sets READ
    "RETRIES": 3,  # retries after the first attempt (pyERP's LEGACY_API_MAX_RETRIES)
    "PAGE_SIZE": 1000,  # rows per request when paging
    "WORKERS": 1,  # parallel page requests per read
    "SCHEMA_TTL": 3600.0,  # seconds a table's $catalog schema is cached (0: never)
    "VERIFY_TLS": True,
    "CREDENTIALS": {},  # {"live": {"username": "api", "password": "..."}}: $directory/login
    # The request budget shared by every process (ADR 0028); off while empty:
    # {"MAX_CONCURRENT": 8, "RATE": 20, "BURST": 40, "WAIT": 30, "LEASE": 120,
    #  "test": {"MAX_CONCURRENT": 2}}  (an environment's name: its own limits)
    "BUDGET": {},
    "CACHE": {},  # read cache (ADR 0030): {"Artikel_Tags": 3600, "test": {"Artikel_Tags": 0}}
    "CACHE_MAX_BYTES": 4_000_000,  # larger results are not cached
    "CACHE_WAIT": 10.0,  # seconds a miss waits for another process's fetch, then reads 4D
}

#: ``BUDGET`` keys and the ``ClientConfig`` fields they set.
_BUDGET_FIELDS: Mapping[str, str] = {
    "MAX_CONCURRENT": "max_concurrent",
    "RATE": "rate",
    "BURST": "burst",
    "WAIT": "budget_wait",
    "LEASE": "budget_lease",
}
_BUDGET_LIMITS = ("MAX_CONCURRENT", "RATE", "BURST")


@attrs.frozen
class Problem:
    """One thing wrong with the settings: which key, what, and how to fix it."""

    key: str
    message: str
    hint: str = ""
    code: str = "E001"
    """The system check id suffix: E001 invalid value, E002 no URL, E003 bad URL, E006 default."""


@attrs.frozen
class LegacyApiSettings:
    """``settings.LEGACY_API`` merged with :data:`DEFAULTS` and checked."""

    environments: Mapping[str, str]
    default_environment: str = "live"
    backend: str = "fourd"
    session_store: str = "django"
    cache_alias: str = "default"
    redis_url: str | None = attrs.field(default=None, repr=False)
    session_dir: str | None = None
    session_key: str | None = attrs.field(default=None, repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    page_size: int = 1000
    workers: int = 1
    schema_ttl: float = 3600.0
    verify_tls: bool = True
    credentials: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict, repr=False)
    budget: Mapping[str, Any] = attrs.field(factory=dict)
    """``BUDGET`` as ``ClientConfig`` fields (``max_concurrent``, ``budget_overrides`` …)."""
    cache: Mapping[str, Any] = attrs.field(factory=dict)
    cache_max_bytes: int = 4_000_000
    cache_wait: float = 10.0

    def client_config(self) -> ClientConfig:
        """Return the same configuration as the project-wide ``ClientConfig``."""
        return ClientConfig(
            environments=self.environments,
            default_environment=self.default_environment,
            backend=self.backend,
            session_store=self.session_store,
            session_dir=self.session_dir,
            redis_url=self.redis_url,
            django_cache_alias=self.cache_alias,
            session_key=self.session_key,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries=self.retries,
            page_size=self.page_size,
            workers=self.workers,
            schema_ttl=self.schema_ttl,
            verify_tls=self.verify_tls,
            credentials=self.credentials,
            **self.budget,
            cache=self.cache,
            cache_max_bytes=self.cache_max_bytes,
            cache_wait=self.cache_wait,
        )


def _read_cache(merged: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``CACHE``, checked as ``ClientConfig`` checks it (table names, TTLs, environments)."""
    try:
        cache = check_cache_setting(merged["CACHE"])
    except ConfigurationError as exc:
        problems.append(Problem("CACHE", str(exc).splitlines()[0], "{'Artikel_Tags': 3600}"))
        return {}
    envs = merged["ENVIRONMENTS"] if isinstance(merged["ENVIRONMENTS"], Mapping) else {}
    for name, item in cache.items():
        if isinstance(item, Mapping) and name not in envs:
            problems.append(Problem("CACHE", f"CACHE[{name!r}]: no such environment"))
    return cache


def _number(value: object, key: str, problems: list[Problem], *, integer: bool, low: float) -> Any:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value < low:  # type: ignore[operator]
        kind = "a whole number" if integer else "a number"
        problems.append(Problem(key, f"{key} must be {kind} >= {low:g}, got {value!r}"))
        return None
    return value


def _url_problem(name: str, url: object) -> Problem | None:
    key = f"ENVIRONMENTS[{name!r}]"
    if not isinstance(url, str) or not url.strip():
        return Problem(
            key, f"environment {name!r} has no URL", "e.g. 'http://wsz-db:8080'", code="E002"
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return Problem(
            key,
            f"environment {name!r}: {url!r} is not an http(s) URL",
            "e.g. 'http://wsz-db:8080'",
            code="E003",
        )
    if parts.username or parts.password:
        return Problem(
            key,
            f"environment {name!r}: the URL must not contain credentials",
            "credentials in URLs end up in logs; configure a login instead",
            code="E003",
        )
    if parts.path.rstrip("/") or parts.query:
        return Problem(
            key,
            f"environment {name!r}: give the server's base URL without a path ({url!r})",
            "the client adds /rest/ itself",
            code="E003",
        )
    return None


def _timeouts(value: object, problems: list[Problem]) -> tuple[float, float]:
    connect, read = DEFAULTS["TIMEOUTS"]["CONNECT"], DEFAULTS["TIMEOUTS"]["READ"]
    if isinstance(value, Mapping):
        unknown = set(value) - {"CONNECT", "READ"}
        if unknown:
            problems.append(Problem("TIMEOUTS", f"unknown TIMEOUTS keys {sorted(unknown)}"))
        connect = _number(value.get("CONNECT", connect), "TIMEOUTS.CONNECT", problems,
                          integer=False, low=0.001) or connect  # fmt: skip
        read = _number(value.get("READ", read), "TIMEOUTS.READ", problems,
                       integer=False, low=0.001) or read  # fmt: skip
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        connect = _number(value[0], "TIMEOUTS[0]", problems, integer=False, low=0.001) or connect
        read = _number(value[1], "TIMEOUTS[1]", problems, integer=False, low=0.001) or read
    else:
        read = _number(value, "TIMEOUTS", problems, integer=False, low=0.001) or read
    return float(connect), float(read)


def _environments(environments: object, default: object, problems: list[Problem]) -> dict[str, str]:
    urls: dict[str, str] = {}
    if not isinstance(environments, Mapping) or not environments:
        problems.append(
            Problem(
                "ENVIRONMENTS",
                "no environments are configured",
                "ENVIRONMENTS = {'live': 'http://wsz-db:8080', 'test': 'http://…'}",
                code="E002",
            )
        )
        return urls
    for name, url in environments.items():
        problem = _url_problem(str(name), url)
        if problem is not None:
            problems.append(problem)
        else:
            urls[str(name)] = str(url).strip().rstrip("/")
    if default not in environments:
        problems.append(
            Problem(
                "DEFAULT_ENVIRONMENT",
                f"DEFAULT_ENVIRONMENT {default!r} is not one of ENVIRONMENTS "
                f"{sorted(map(str, environments))}",
                code="E006",
            )
        )
    return urls


def _names(merged: Mapping[str, Any], problems: list[Problem]) -> None:
    for key in ("BACKEND", "SESSION_STORE", "CACHE_ALIAS"):
        if not isinstance(merged[key], str) or not merged[key]:
            problems.append(Problem(key, f"{key} must be a name, got {merged[key]!r}"))
    for key in ("REDIS_URL", "SESSION_DIR", "SESSION_KEY"):
        if merged[key] is not None and not isinstance(merged[key], str):
            problems.append(Problem(key, f"{key} must be a str or None"))
    if merged["SESSION_STORE"] == "redis" and not merged["REDIS_URL"]:
        problems.append(
            Problem(
                "REDIS_URL", "SESSION_STORE 'redis' needs REDIS_URL", "e.g. redis://host:6379/0"
            )
        )


def _budget(value: object, environments: object, problems: list[Problem]) -> dict[str, Any]:
    """``BUDGET`` as ClientConfig fields; the values themselves are ClientConfig's to check."""
    if not isinstance(value, Mapping):
        problems.append(Problem("BUDGET", f"BUDGET must be a dict, got {value!r}"))
        return {}
    names = set(map(str, environments)) if isinstance(environments, Mapping) else set()
    out: dict[str, Any] = {}
    overrides: dict[str, dict[str, Any]] = {}
    for key, item in value.items():
        if key in _BUDGET_FIELDS:
            out[_BUDGET_FIELDS[key]] = item
        elif str(key) in names and isinstance(item, Mapping):
            unknown = sorted(set(item) - set(_BUDGET_LIMITS))
            if unknown:
                problems.append(
                    Problem(
                        f"BUDGET[{key!r}]", f"unknown keys {unknown}", f"known: {_BUDGET_LIMITS}"
                    )
                )
            overrides[str(key)] = {
                _BUDGET_FIELDS[k]: v for k, v in item.items() if k in _BUDGET_LIMITS
            }
        else:
            problems.append(
                Problem(
                    "BUDGET",
                    f"unknown BUDGET key {key!r}",
                    f"known: {sorted(_BUDGET_FIELDS)}, or an environment's name with a dict of "
                    f"{', '.join(_BUDGET_LIMITS)}",
                )
            )
    if overrides:
        out["budget_overrides"] = overrides
    return out


def parse_settings(raw: object) -> tuple[LegacyApiSettings | None, list[Problem]]:
    """Merge ``raw`` (the ``LEGACY_API`` value) with the defaults; return it and the problems."""
    problems: list[Problem] = []
    if raw is None:
        problems.append(Problem(SETTING, f"settings.{SETTING} is not set", "see docs/migration.md"))
        return None, problems
    if not isinstance(raw, Mapping):
        problems.append(Problem(SETTING, f"settings.{SETTING} must be a dict, got {raw!r}"))
        return None, problems
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        problems.append(
            Problem(SETTING, f"unknown {SETTING} keys {unknown}", f"known: {sorted(DEFAULTS)}")
        )
    merged = {**DEFAULTS, **raw}

    urls = _environments(merged["ENVIRONMENTS"], merged["DEFAULT_ENVIRONMENT"], problems)
    default = merged["DEFAULT_ENVIRONMENT"]
    _names(merged, problems)
    connect, read = _timeouts(merged["TIMEOUTS"], problems)
    retries = _number(merged["RETRIES"], "RETRIES", problems, integer=True, low=0)
    page_size = _number(merged["PAGE_SIZE"], "PAGE_SIZE", problems, integer=True, low=1)
    workers = _number(merged["WORKERS"], "WORKERS", problems, integer=True, low=1)
    schema_ttl = _number(merged["SCHEMA_TTL"], "SCHEMA_TTL", problems, integer=False, low=0)
    budget = _budget(merged["BUDGET"], merged["ENVIRONMENTS"], problems)
    if not isinstance(merged["CREDENTIALS"], Mapping):
        problems.append(Problem("CREDENTIALS", "CREDENTIALS must map environments to logins"))
    if not isinstance(merged["VERIFY_TLS"], bool):
        problems.append(Problem("VERIFY_TLS", "VERIFY_TLS must be True or False"))
    cache = _read_cache(merged, problems)
    max_bytes = _number(merged["CACHE_MAX_BYTES"], "CACHE_MAX_BYTES", problems, integer=True, low=1)
    wait = _number(merged["CACHE_WAIT"], "CACHE_WAIT", problems, integer=False, low=0)
    if problems:
        return None, problems
    return (
        LegacyApiSettings(
            environments=urls,
            default_environment=str(default),
            backend=merged["BACKEND"],
            session_store=merged["SESSION_STORE"],
            cache_alias=merged["CACHE_ALIAS"],
            redis_url=merged["REDIS_URL"],
            session_dir=merged["SESSION_DIR"],
            session_key=merged["SESSION_KEY"],
            connect_timeout=connect,
            read_timeout=read,
            retries=retries,
            page_size=page_size,
            workers=workers,
            schema_ttl=float(schema_ttl),
            verify_tls=merged["VERIFY_TLS"],
            credentials=merged["CREDENTIALS"],
            budget=budget,
            cache=cache,
            cache_max_bytes=max_bytes,
            cache_wait=float(wait),
        ),
        [],
    )


def load_settings() -> LegacyApiSettings:
    """Read ``settings.LEGACY_API``; ConfigurationError listing every problem."""
    from django.conf import settings  # noqa: PLC0415 - Django is an optional extra

    parsed, problems = parse_settings(getattr(settings, SETTING, None))
    if parsed is None:
        lines = "; ".join(p.message for p in problems)
        msg = f"settings.{SETTING} is invalid: {lines} (run `manage.py check` for hints)"
        raise ConfigurationError(msg)
    return parsed
