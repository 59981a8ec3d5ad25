"""Client configuration: ``ClientConfig`` and ``load_config`` (mapping > env > TOML > defaults).

Django settings are read elsewhere (``legacy_adapters.django``); this module serves
scripts, the CLI and the ``wsz_api`` shim. Nothing here connects or builds adapters —
``legacy_adapters.bootstrap.build_client`` does.

Accepted shapes (mapping and TOML file alike)::

    default_environment = "live"
    backend = "fourd"            # or "memory", or a plugin's name
    page_size = 1000
    workers = 4
    retries = 3                  # retries after the first attempt
    [environments]
    live = "http://wsz-db:8080"  # or {url = "...", username = "...", password = "..."}
    [session]
    store = "file"               # memory | file | redis | django | a plugin's name
    dir = "/var/lib/legacy-api"
    redis_url = "redis://localhost:6379/0"
    key = "<Fernet key>"         # encrypts stored sessions at rest
    [timeouts]
    connect = 5
    read = 60
    [credentials.live]
    username = "api"
    password = "..."
    [budget]                     # the deployment's request budget (ADR 0028); off by default
    max_concurrent = 8           # requests in flight at once, every process together
    rate = 20                    # requests started per second (token bucket)
    burst = 40                   # the bucket's size (default: the rate)
    wait = 30                    # seconds a request waits for a permit (BudgetExhausted)
    [budget.test]                # per-environment overrides
    max_concurrent = 2
    [cache]                      # the read cache (ADR 0030): table = TTL seconds; off by default
    Artikel_Tags = 3600
    [cache.test]                 # per-environment overrides (0: not cached there)
    Artikel_Tags = 0

Flat keys (``session_store``, ``session_dir``, ``connect_timeout`` …) work too.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from legacy_core.budget import BudgetLimits
from legacy_core.errors import ConfigurationError, InvalidQuery
from legacy_core.model import Environment, validate_identifier

__all__ = [
    "ENV_VARIABLES",
    "ClientConfig",
    "check_cache_setting",
    "load_config",
    "parse_cache_spec",
]

_STORES_NEEDING = {"redis": "redis_url"}


def _str_dict(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _credentials(value: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for env, item in dict(value).items():
        if isinstance(item, Mapping):
            username, password = item.get("username"), item.get("password", "")
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            username, password = item
        else:
            msg = f"credentials for {env!r} must be {{username, password}}"
            raise ConfigurationError(msg, environment=str(env))
        if not isinstance(username, str) or not username or not isinstance(password, str):
            msg = f"credentials for {env!r}: username must be a non-empty str, password a str"
            raise ConfigurationError(msg, environment=str(env))
        out[str(env)] = (username, password)
    return out


def _int_at_least(low: int) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            msg = f"config {attribute.name} must be an integer >= {low}, got {value!r}"
            raise ConfigurationError(msg)

    return check


def _positive_number(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        msg = f"config {attribute.name} must be a number > 0, got {value!r}"
        raise ConfigurationError(msg)


def _non_negative_number(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        msg = f"config {attribute.name} must be a number >= 0, got {value!r}"
        raise ConfigurationError(msg)


_BUDGET_KEYS = ("max_concurrent", "rate", "burst")


def _optional_at_least(low: float, *, integer: bool) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        kind = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or value < low:
            what = "an integer" if integer else "a number"
            msg = f"config {attribute.name} must be {what} >= {low:g} or unset, got {value!r}"
            raise ConfigurationError(msg)

    return check


def _budget_overrides(value: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for env, item in dict(value).items():
        if not isinstance(item, Mapping):
            msg = f"budget override for {env!r} must be a table of {', '.join(_BUDGET_KEYS)}"
            raise ConfigurationError(msg, environment=str(env))
        unknown = sorted(set(item) - set(_BUDGET_KEYS))
        if unknown:
            msg = f"budget override for {env!r}: unknown keys {unknown} (known: {_BUDGET_KEYS})"
            raise ConfigurationError(msg, environment=str(env))
        out[str(env)] = dict(item)
    return out


def _cache_ttl(table: str, value: object, where: str) -> float:
    try:
        validate_identifier(table, "cached table")
    except InvalidQuery as exc:
        msg = f"cache{where}: {exc.args[0]}"
        raise ConfigurationError(msg, table=table) from None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # an env var's text; not a number: refused below
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        msg = f"cache{where}: the TTL of {table} must be seconds >= 0, got {value!r}"
        raise ConfigurationError(msg, table=table)
    return float(value)


def check_cache_setting(value: object) -> dict[str, Any]:
    """``{table: ttl}`` plus ``{environment: {table: ttl}}`` overrides, checked."""
    if isinstance(value, str):
        value = parse_cache_spec(value, "cache")
    if not isinstance(value, Mapping):
        msg = f"cache must map table names to TTL seconds, not {type(value).__name__}"
        raise ConfigurationError(msg)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            out[str(key)] = {str(t): _cache_ttl(str(t), v, f"[{key}]") for t, v in item.items()}
        else:
            out[str(key)] = _cache_ttl(str(key), item, "")
    return out


def parse_cache_spec(raw: str, name: str) -> dict[str, float]:
    """``"Artikel_Tags=3600,Artikel_Familie=600"`` (an env var) as ``{table: ttl}``."""
    out: dict[str, float] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        table, sep, ttl = part.partition("=")
        if not sep:
            msg = f"{name}: {part.strip()!r} is not TABLE=SECONDS (e.g. Artikel_Tags=3600)"
            raise ConfigurationError(msg)
        out[table.strip()] = _cache_ttl(table.strip(), ttl.strip(), f" ({name})")
    return out


@attrs.frozen
class ClientConfig:
    """Everything ``build_client`` needs; secrets (``session_key``, passwords) never print."""

    environments: Mapping[str, str] = attrs.field(converter=_str_dict)
    """Environment name -> base URL."""
    default_environment: str = "live"
    backend: str = "fourd"
    session_store: str = "file"
    session_dir: str | None = None
    redis_url: str | None = attrs.field(default=None, repr=False)
    """May carry a password (``redis://:pw@host``): kept out of reprs."""
    django_cache_alias: str = "default"
    session_key: str | None = attrs.field(default=None, repr=False)
    connect_timeout: float = attrs.field(default=5.0, validator=_positive_number)
    read_timeout: float = attrs.field(default=60.0, validator=_positive_number)
    retries: int = attrs.field(default=3, validator=_int_at_least(0))
    page_size: int = attrs.field(default=1000, validator=_int_at_least(1))
    workers: int = attrs.field(default=1, validator=_int_at_least(1))
    verify_tls: bool = True
    max_request_size: int = attrs.field(default=2_000_000, validator=_int_at_least(1024))
    schema_ttl: float = attrs.field(default=3600.0, validator=_non_negative_number)
    """Seconds a table's schema (``$catalog/{Table}``) stays cached per environment; the
    field-name checks and ``describe`` use it (0: fetch it for every use)."""
    credentials: Mapping[str, tuple[str, str]] = attrs.field(
        factory=dict, converter=_credentials, repr=False
    )
    max_concurrent: int | None = attrs.field(
        default=None, validator=_optional_at_least(1, integer=True)
    )
    """Requests in flight at once per environment, for every process sharing the session
    store (ADR 0028); None: no cap."""
    rate: float | None = attrs.field(
        default=None, validator=_optional_at_least(0.001, integer=False)
    )
    """Requests started per second per environment, for the whole deployment; None: no rate."""
    burst: int | None = attrs.field(default=None, validator=_optional_at_least(1, integer=True))
    """The rate's bucket size (default: the rate, at least 1)."""
    budget_wait: float = attrs.field(default=30.0, validator=_non_negative_number)
    """Seconds a request waits for a budget permit before BudgetExhausted."""
    budget_lease: float = attrs.field(default=120.0, validator=_positive_number)
    """Seconds a permit lives if its process dies before giving it back."""
    budget_overrides: Mapping[str, Mapping[str, Any]] = attrs.field(
        factory=dict, converter=_budget_overrides
    )
    """Per environment: ``{"test": {"max_concurrent": 2}}`` over the three settings above."""
    cache: Mapping[str, Any] = attrs.field(factory=dict, converter=check_cache_setting)
    """The read cache (ADR 0030): ``{"Artikel_Tags": 3600}`` caches that table's reads for
    an hour; ``{"test": {"Artikel_Tags": 0}}`` overrides it per environment (0: off)."""
    cache_max_bytes: int = attrs.field(default=4_000_000, validator=_int_at_least(1))
    """Results whose stored form is larger are not cached (logged)."""
    cache_wait: float = attrs.field(default=10.0, validator=_non_negative_number)
    """Seconds a miss waits for another process's fetch of the same read, then reads 4D."""
    shared_breaker: bool | None = None
    """Keep circuit-breaker state in the session store so every process sees an outage at
    once; None means "on with the redis store" (the only store with server-side time)."""

    @property
    def uses_shared_breaker(self) -> bool:
        """Whether breakers are shared through the (Redis) session store."""
        if self.shared_breaker is None:
            return self.session_store == "redis"
        return self.shared_breaker

    def __attrs_post_init__(self) -> None:
        if not self.environments:
            msg = (
                "no environment configured: set LEGACY_API_LIVE_URL (and LEGACY_API_TEST_URL), "
                "name a TOML file in LEGACY_API_CONFIG, or pass environments={...}"
            )
            raise ConfigurationError(msg)
        self.environment_objects()  # validates names and URLs
        if self.default_environment not in self.environments:
            msg = (
                f"default environment {self.default_environment!r} is not configured "
                f"(configured: {', '.join(sorted(self.environments))})"
            )
            raise ConfigurationError(msg, environment=self.default_environment)
        unknown = sorted(set(self.credentials) - set(self.environments))
        if unknown:
            msg = f"credentials given for unconfigured environment(s): {', '.join(unknown)}"
            raise ConfigurationError(msg)
        unknown = sorted(set(self.budget_overrides) - set(self.environments))
        if unknown:
            msg = f"budget given for unconfigured environment(s): {', '.join(unknown)}"
            raise ConfigurationError(msg)
        self.budget_limits()  # validates the overrides
        unknown = sorted(k for k, v in self.cache.items() if isinstance(v, Mapping))
        unknown = [k for k in unknown if k not in self.environments]
        if unknown:
            msg = f"cache given for unconfigured environment(s): {', '.join(unknown)}"
            raise ConfigurationError(msg)
        needed = _STORES_NEEDING.get(self.session_store)
        if needed is not None and not getattr(self, needed):
            msg = (
                f"session store {self.session_store!r} needs {needed} (LEGACY_API_{needed.upper()})"
            )
            raise ConfigurationError(msg)

    def environment_objects(self) -> dict[str, Environment]:
        """Return the configured environments as core values (timeouts and TLS applied)."""
        return {
            name: Environment(
                name,
                url,
                verify_tls=self.verify_tls,
                connect_timeout=float(self.connect_timeout),
                read_timeout=float(self.read_timeout),
            )
            for name, url in self.environments.items()
        }

    def budget_limits(self) -> dict[str, BudgetLimits]:
        """The request budget of every limited environment (empty: no budget at all)."""
        out: dict[str, BudgetLimits] = {}
        for name in self.environments:
            values: dict[str, Any] = {k: getattr(self, k) for k in _BUDGET_KEYS}
            values.update(self.budget_overrides.get(name, {}))
            try:
                limits = BudgetLimits(**values, lease=float(self.budget_lease))
            except ValueError as exc:
                msg = f"budget of {name!r}: {exc}"
                raise ConfigurationError(msg, environment=name) from None
            if limits.active:
                out[name] = limits
        return out

    def cache_tables(self) -> dict[str, dict[str, float]]:
        """Per environment, the cached tables and their TTLs (empty: no read cache)."""
        common = {t: v for t, v in self.cache.items() if not isinstance(v, Mapping)}
        out: dict[str, dict[str, float]] = {}
        for name in self.environments:
            tables = {**common, **self.cache.get(name, {})} if name in self.cache else common
            tables = {t: ttl for t, ttl in tables.items() if ttl > 0}
            if tables:
                out[name] = tables
        return out

    def with_url(self, url: str, environment: str | None = None) -> ClientConfig:
        """Return this configuration with one environment pointed at ``url`` (CLI ``--url``)."""
        name = environment or self.default_environment
        return attrs.evolve(self, environments={**self.environments, name: url})


# -- loading ---------------------------------------------------------------------------

ENV_VARIABLES: dict[str, tuple[str, ...]] = {
    # field path -> variables, first one set wins (new names before pyERP's old ones)
    "environments.live": ("LEGACY_API_LIVE_URL", "LEGACY_ERP_API_LIVE"),
    "environments.test": ("LEGACY_API_TEST_URL", "LEGACY_ERP_API_TEST"),
    "default_environment": ("LEGACY_API_DEFAULT_ENV", "LEGACY_API_DEFAULT_ENVIRONMENT"),
    "backend": ("LEGACY_API_BACKEND",),
    "session_store": ("LEGACY_API_SESSION_STORE",),
    "session_dir": ("LEGACY_API_SESSION_DIR",),
    "redis_url": ("LEGACY_API_REDIS_URL",),
    "session_key": ("LEGACY_API_SESSION_KEY",),
    "connect_timeout": ("LEGACY_API_CONNECT_TIMEOUT",),
    "read_timeout": ("LEGACY_API_READ_TIMEOUT", "LEGACY_API_REQUEST_TIMEOUT"),
    "retries": ("LEGACY_API_RETRIES", "LEGACY_API_MAX_RETRIES"),
    "page_size": ("LEGACY_API_PAGE_SIZE",),
    "workers": ("LEGACY_API_WORKERS",),
    "schema_ttl": ("LEGACY_API_SCHEMA_TTL",),
    "verify_tls": ("LEGACY_API_VERIFY_TLS",),
    "shared_breaker": ("LEGACY_API_SHARED_BREAKER",),
    "max_concurrent": ("LEGACY_API_MAX_CONCURRENT",),
    "rate": ("LEGACY_API_RATE",),
    "burst": ("LEGACY_API_BURST",),
    "budget_wait": ("LEGACY_API_BUDGET_WAIT",),
    "cache": ("LEGACY_API_CACHE",),
    "cache_max_bytes": ("LEGACY_API_CACHE_MAX_BYTES",),
    "cache_wait": ("LEGACY_API_CACHE_WAIT",),
}
"""Which environment variables set which setting; credentials are
``LEGACY_API_{ENV}_USERNAME`` / ``LEGACY_API_{ENV}_PASSWORD``; per-environment budgets
``LEGACY_API_{ENV}_MAX_CONCURRENT`` / ``_RATE`` / ``_BURST``; per-environment cached
tables ``LEGACY_API_{ENV}_CACHE``."""

_FIELDS = {a.name for a in attrs.fields(ClientConfig)}
_INTS = {"retries", "page_size", "workers", "max_request_size", "max_concurrent", "burst"}
_INTS |= {"cache_max_bytes"}
_FLOATS = {"connect_timeout", "read_timeout", "schema_ttl", "rate", "budget_wait"}
_FLOATS |= {"cache_wait"}
_BOOLS = {"verify_tls", "shared_breaker"}
_SECTIONS: dict[str, dict[str, str]] = {
    "session": {
        "store": "session_store",
        "dir": "session_dir",
        "directory": "session_dir",
        "redis_url": "redis_url",
        "key": "session_key",
        "django_cache_alias": "django_cache_alias",
    },
    "timeouts": {"connect": "connect_timeout", "read": "read_timeout"},
}


def load_config(
    mapping: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ClientConfig:
    """Build the configuration: ``mapping`` over env vars over the TOML file over defaults.

    The TOML file is the one ``LEGACY_API_CONFIG`` names (in ``environ``). Unknown keys,
    bad values and a missing or unreadable file raise ConfigurationError saying which.
    """
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = env.get("LEGACY_API_CONFIG")
    if path:
        _merge(merged, _normalise(_read_toml(path), f"config file {path}"))
    top = _normalise(mapping, "config mapping") if mapping is not None else {}
    # Credentials from env vars apply to environments named by any layer.
    named = {**merged.get("environments", {}), **top.get("environments", {})}
    _merge(merged, _from_environ(env, named))
    _merge(merged, top)
    merged.setdefault("environments", {})
    return ClientConfig(**merged)


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with Path(path).expanduser().open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        msg = f"LEGACY_API_CONFIG names {path!r}, which does not exist"
        raise ConfigurationError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"config file {path!r} is not valid TOML: {exc}"
        raise ConfigurationError(msg) from None
    except OSError as exc:
        msg = f"cannot read config file {path!r}: {exc.strerror}"
        raise ConfigurationError(msg) from None


def _normalise(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Turn the nested forms into ClientConfig's flat field names."""
    out: dict[str, Any] = {}
    known = sorted(_FIELDS | set(_SECTIONS) | {"timeout", "budget"})
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                msg = f"{source}: [{key}] must be a table"
                raise ConfigurationError(msg)
            for sub, sub_value in value.items():
                target = _SECTIONS[key].get(sub)
                if target is None:
                    _unknown(f"{key}.{sub}", [f"{key}.{k}" for k in _SECTIONS[key]], source)
                out[target] = sub_value  # type: ignore[index]
        elif key == "budget":
            _budget(value, out, source)
        elif key == "timeout":
            out["read_timeout"] = value
        elif key == "environments":
            _environments(value, out, source)
        elif key == "credentials":
            out.setdefault("credentials", {}).update(_credentials(_mapping(value, key, source)))
        elif key in _FIELDS:
            out[key] = value
        else:
            _unknown(key, known, source)
    return out


def _environments(value: object, out: dict[str, Any], source: str) -> None:
    envs = out.setdefault("environments", {})
    for name, item in _mapping(value, "environments", source).items():
        if isinstance(item, str):
            envs[name] = item
        elif isinstance(item, Mapping) and isinstance(item.get("url"), str):
            envs[name] = item["url"]
            if "username" in item:
                creds = _credentials({name: item})
                out.setdefault("credentials", {}).update(creds)
        else:
            msg = f"{source}: environment {name!r} must be a URL or {{url = ...}}"
            raise ConfigurationError(msg, environment=str(name))


def _budget(value: object, out: dict[str, Any], source: str) -> None:
    """``[budget]``: the three limits, ``wait``, ``lease`` and ``[budget.ENV]`` overrides."""
    flat = {"wait": "budget_wait", "lease": "budget_lease"}
    for key, item in _mapping(value, "budget", source).items():
        if key in _BUDGET_KEYS:
            out[key] = item
        elif key in flat:
            out[flat[key]] = item
        elif isinstance(item, Mapping):
            out.setdefault("budget_overrides", {})[key] = dict(item)
        else:
            _unknown(f"budget.{key}", [f"budget.{k}" for k in (*_BUDGET_KEYS, *flat)], source)


def _mapping(value: object, key: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{source}: {key} must be a table/mapping, not {type(value).__name__}"
        raise ConfigurationError(msg)
    return value


def _unknown(key: str, known: list[str], source: str) -> None:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    msg = f"{source}: unknown setting {key!r}{hint}"
    raise ConfigurationError(msg)


def _from_environ(env: Mapping[str, str], named: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target, names in ENV_VARIABLES.items():
        found = next(((n, env[n]) for n in names if env.get(n, "").strip()), None)
        if found is None:
            continue
        name, raw = found
        value = _parse(target, name, raw.strip())
        if target.startswith("environments."):
            out.setdefault("environments", {})[target.split(".", 1)[1]] = value
        else:
            out[target] = value
    known_envs = {*named, *out.get("environments", {})}
    for env_name in sorted(known_envs):
        prefix = f"LEGACY_API_{env_name.upper().replace('-', '_')}_"
        for setting in _BUDGET_KEYS:
            raw = env.get(prefix + setting.upper(), "").strip()
            if raw:
                parsed = _parse(setting, prefix + setting.upper(), raw)
                out.setdefault("budget_overrides", {}).setdefault(env_name, {})[setting] = parsed
        raw = env.get(prefix + "CACHE", "").strip()
        if raw:
            out.setdefault("cache", {})[env_name] = parse_cache_spec(raw, prefix + "CACHE")
        username = env.get(prefix + "USERNAME")
        if username:
            password = env.get(prefix + "PASSWORD", "")
            out.setdefault("credentials", {})[env_name] = (username, password)
    return out


def _parse(target: str, name: str, raw: str) -> Any:
    try:
        if target in _INTS:
            return int(raw)
        if target in _FLOATS:
            return float(raw)
    except ValueError:
        kind = "an integer" if target in _INTS else "a number"
        msg = f"{name} must be {kind}, got {raw!r}"
        raise ConfigurationError(msg) from None
    if target == "cache":
        return parse_cache_spec(raw, name)
    if target in _BOOLS:
        lowered = raw.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        msg = f"{name} must be true or false, got {raw!r}"
        raise ConfigurationError(msg)
    return raw


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if key in {"environments", "credentials"}:
            into.setdefault(key, {}).update(value)
        elif key == "cache":
            merged = into.setdefault(key, {})
            for name, item in check_cache_setting(value).items():
                if isinstance(item, Mapping) and isinstance(merged.get(name), Mapping):
                    merged[name] = {**merged[name], **item}
                else:
                    merged[name] = item
        elif key == "budget_overrides":
            for env_name, limits in value.items():
                into.setdefault(key, {}).setdefault(env_name, {}).update(limits)
        else:
            into[key] = value
