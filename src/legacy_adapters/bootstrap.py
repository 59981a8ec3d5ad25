"""The composition root: ``build_client(config)`` wires adapters picked by name into a LegacyClient.

The only place that knows how the pieces fit: transport → ``FourDLogin`` →
``SharedSessionProvider`` (store by name) → backend (by name) → ``LegacyClient``. Adapters
are looked up in the plugin registry (``legacy_core.plugins``); the built-in plugin is
registered explicitly, third parties through the ``legacy_api`` entry-point group.
Nothing connects here: the first request logs in.

Factory keyword arguments (a factory receives those of these names its signature accepts):

- ``backend``: ``environments`` (name -> Environment), ``sessions`` (SessionProvider),
  ``transport`` (Transport), ``default_environment``, ``max_request_size``,
  ``schema_ttl``, ``clock``,
  ``config`` (the ClientConfig).
- ``session_store``: ``directory`` (``session_dir``, when set), ``client`` (``redis_url``),
  ``alias`` (``django_cache_alias``), ``clock``, ``config``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from legacy_adapters import builtin_plugin
from legacy_adapters.config import ClientConfig, load_config
from legacy_adapters.observe import enable_from_environment
from legacy_core._log import get_logger
from legacy_core.budget import RequestBudget
from legacy_core.cache import ReadCache
from legacy_core.clock import SystemClock
from legacy_core.errors import ConfigurationError
from legacy_core.model import Environment
from legacy_core.plugins import AdapterRegistry, LazyFactory, get_registry
from legacy_core.ports import Clock, FieldWriter, SessionProvider, SessionStore, TableReader
from legacy_core.resilience import CircuitBreaker, RetryPolicy
from legacy_core.service import LegacyClient

if TYPE_CHECKING:
    from legacy_core._async import AsyncLegacyClient

__all__ = ["build_async_client", "build_client", "build_session_provider", "build_store"]

_log = get_logger()


def _registry(registry: AdapterRegistry | None) -> AdapterRegistry:
    return registry if registry is not None else get_registry([builtin_plugin])


def _call_with_accepted(
    factory: Callable[..., object], pool: Mapping[str, Callable[[], Any]]
) -> object:
    """Call ``factory`` with the pool's arguments its signature names (built only if needed)."""
    target = factory.load() if isinstance(factory, LazyFactory) else factory
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature: no arguments
        parameters = {}  # type: ignore[assignment]
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    kwargs = {name: make() for name, make in pool.items() if takes_all or name in parameters}
    return target(**kwargs)


def build_store(
    config: ClientConfig, *, clock: Clock | None = None, registry: AdapterRegistry | None = None
) -> SessionStore:
    """Build the session store named by ``config.session_store`` (no connection is made)."""
    pool: dict[str, Callable[[], Any]] = {
        "clock": lambda: clock or SystemClock(),
        "config": lambda: config,
        "alias": lambda: config.django_cache_alias,
    }
    if config.session_dir:
        pool["directory"] = lambda: config.session_dir
    if config.redis_url:
        pool["client"] = lambda: config.redis_url
    factory = _registry(registry).factory("session_store", config.session_store)
    store = _call_with_accepted(factory, pool)
    if not isinstance(store, SessionStore):
        kind = type(store).__name__
        msg = f"session store {config.session_store!r} built a {kind}, not a SessionStore"
        raise ConfigurationError(msg)
    return store


def build_session_provider(
    config: ClientConfig,
    transport: Any,
    *,
    store: SessionStore | None = None,
    clock: Clock | None = None,
    registry: AdapterRegistry | None = None,
) -> SessionProvider:
    """Build the shared session provider over ``store`` (or the configured one), 4D login."""
    from legacy_adapters.fourd import Credentials, FourDLogin  # noqa: PLC0415 - only for fourd
    from legacy_core.sessions import SharedSessionProvider  # noqa: PLC0415

    credentials = {
        env: Credentials(username, password)
        for env, (username, password) in config.credentials.items()
    }
    login = FourDLogin(transport, credentials=credentials or None)
    codec = None
    if config.session_key:
        from legacy_adapters.stores import FernetCodec  # noqa: PLC0415 - cryptography is heavy

        codec = FernetCodec(config.session_key)
    return SharedSessionProvider(
        store if store is not None else build_store(config, clock=clock, registry=registry),
        login,
        clock=clock or SystemClock(),
        logout=login.logout,
        codec=codec,
    )


def build_client(
    config: ClientConfig | Mapping[str, Any] | None = None,
    *,
    transport: Any = None,
    store: SessionStore | None = None,
    sessions: SessionProvider | None = None,
    backend: object = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    breakers: Mapping[str, CircuitBreaker] | Callable[[str], CircuitBreaker] | None = None,
    registry: AdapterRegistry | None = None,
    **overrides: Any,
) -> LegacyClient:
    """Build the LegacyClient for ``config`` (default: ``load_config()``), connecting nothing.

    ``config`` may be a ClientConfig or a mapping for ``load_config``; ``overrides`` are
    ClientConfig fields replacing the loaded ones (``page_size=…``). Any component can be
    passed in instead of built — tests inject a transport, a store or a whole backend.
    ``with build_client() as client:`` closes the connections it opened on exit.
    """
    cfg = _config(config, overrides)
    if transport is not None and inspect.iscoroutinefunction(getattr(transport, "send", None)):
        msg = (
            f"{type(transport).__name__} is an async transport: build the client with "
            "legacy_api.build_async_client() to use it"
        )
        raise ConfigurationError(msg)
    parts = _Parts(cfg, clock or SystemClock(), store, sessions, registry)
    closers: list[Callable[[], None]] = []

    def data_transport() -> Any:
        if transport is not None:
            return transport  # the caller's: the caller closes it
        made = _transport(cfg)
        closers.append(made.close)
        return made

    def close_made() -> None:  # the transport may be built after the client (lazily)
        for close in closers:
            close()

    built_backend = parts.backend(backend, data_transport, None)
    client = LegacyClient(
        built_backend,
        built_backend,
        **parts.client_options(retry, breakers),
        closers=(close_made,),
    )
    _built("sync", cfg)
    return client


def build_async_client(
    config: ClientConfig | Mapping[str, Any] | None = None,
    *,
    transport: Any = None,
    login_transport: Any = None,
    store: SessionStore | None = None,
    sessions: SessionProvider | None = None,
    backend: object = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    breakers: Mapping[str, CircuitBreaker] | Callable[[str], CircuitBreaker] | None = None,
    registry: AdapterRegistry | None = None,
    **overrides: Any,
) -> AsyncLegacyClient:
    """Build the AsyncLegacyClient for ``config``, exactly as :func:`build_client` does.

    The same configuration, stores, breakers and plugins; the 4D requests go through
    ``transport`` (default: an httpx ``AsyncClient`` per environment), the logins and
    logouts of the shared session provider through ``login_transport`` (default: a small
    pooled requests transport; they run on a worker thread). Pass ``sessions=`` a sync
    client's ``sessions`` to share its provider in-process; across processes the store
    shares the session anyway. Use it as ``async with client:``.
    """
    from legacy_adapters.aio import AsyncioDriver  # noqa: PLC0415 - asyncio only when used
    from legacy_core._async import AsyncLegacyClient  # noqa: PLC0415

    cfg = _config(config, overrides)
    clock = clock or SystemClock()
    parts = _Parts(cfg, clock, store, sessions, registry)
    closers: list[Callable[[], Awaitable[None]]] = []

    def data_transport() -> Any:
        if transport is not None:
            return transport
        from legacy_adapters.fourd import HttpxAsyncTransport  # noqa: PLC0415 - httpx

        made = HttpxAsyncTransport(pool_size=max(cfg.workers, 4), verify=cfg.verify_tls)
        closers.append(made.aclose)
        return made

    def session_transport() -> Any:
        if login_transport is not None:
            return login_transport
        made = _transport(attrs.evolve(cfg, workers=1))
        closers.append(_closing(made))
        return made

    built_backend = parts.backend(backend, data_transport, session_transport)
    client = AsyncLegacyClient(
        built_backend,
        built_backend,
        **parts.client_options(retry, breakers),
        driver=AsyncioDriver(clock=clock),
        closers=tuple(closers),
    )
    _built("async", cfg)
    return client


@attrs.define
class _Parts:
    """The pieces both builders assemble the same way, each made at most once."""

    cfg: ClientConfig
    clock: Clock
    store: SessionStore | None
    sessions: SessionProvider | None
    registry: AdapterRegistry | None
    built: dict[str, Any] = attrs.field(factory=dict)
    environments: dict[str, Environment] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.environments = self.cfg.environment_objects()

    def the_store(self) -> SessionStore:
        # One store for sessions and shared breakers: one Redis pool, one set of keys.
        if self.store is not None:
            return self.store
        if "store" not in self.built:
            self.built["store"] = build_store(self.cfg, clock=self.clock, registry=self.registry)
        return self.built["store"]  # type: ignore[no-any-return]

    def budget(self) -> RequestBudget | None:
        """The shared request budget over the session store (None when nothing is limited)."""
        limits = self.cfg.budget_limits()
        if not limits:
            return None
        if "budget" not in self.built:
            from legacy_adapters.stores import budget_store  # noqa: PLC0415 - only when limited

            self.built["budget"] = RequestBudget(
                budget_store(self.the_store(), self.clock),
                limits,
                wait=self.cfg.budget_wait,
                clock=self.clock,
            )
        return self.built["budget"]  # type: ignore[no-any-return]

    def read_cache(self) -> ReadCache | None:
        """The read cache over the session store (None when no table is cached, ADR 0030)."""
        tables = self.cfg.cache_tables()
        if not tables:
            return None
        if "cache" not in self.built:
            from legacy_adapters.stores import cache_store  # noqa: PLC0415 - only when cached

            self.built["cache"] = ReadCache(
                cache_store(self.the_store()),
                tables,
                max_bytes=self.cfg.cache_max_bytes,
                wait=self.cfg.cache_wait,
                clock=self.clock,
            )
        return self.built["cache"]  # type: ignore[no-any-return]

    def backend(
        self,
        backend: object,
        transport: Callable[[], Any],
        login_transport: Callable[[], Any] | None,
    ) -> Any:
        """The given backend, or the configured one over ``transport`` (built lazily)."""
        cfg, built = self.cfg, self.built
        if backend is None:

            def the_transport() -> Any:
                if "transport" not in built:
                    built["transport"] = transport()
                return built["transport"]

            def the_sessions() -> SessionProvider:
                if "sessions" not in built:
                    logins = login_transport() if login_transport is not None else the_transport()
                    built["sessions"] = self.sessions or build_session_provider(
                        cfg,
                        logins,
                        store=self.the_store(),
                        clock=self.clock,
                        registry=self.registry,
                    )
                return built["sessions"]  # type: ignore[no-any-return]

            pool: dict[str, Callable[[], Any]] = {
                "environments": lambda: self.environments,
                "sessions": the_sessions,
                "transport": the_transport,
                "default_environment": lambda: cfg.default_environment,
                "max_request_size": lambda: cfg.max_request_size,
                "schema_ttl": lambda: cfg.schema_ttl,
                "clock": lambda: self.clock,
                "config": lambda: cfg,
                "budget": self.budget,
            }
            factory = _registry(self.registry).factory("backend", cfg.backend)
            backend = _call_with_accepted(factory, pool)
        if not isinstance(backend, TableReader) or not isinstance(backend, FieldWriter):
            kind = type(backend).__name__
            msg = f"backend {cfg.backend!r} built a {kind}, not a TableReader and FieldWriter"
            raise ConfigurationError(msg)
        return backend

    def client_options(
        self,
        retry: RetryPolicy | None,
        breakers: Mapping[str, CircuitBreaker] | Callable[[str], CircuitBreaker] | None,
    ) -> dict[str, Any]:
        """The keyword arguments of either client."""
        cfg, clock, environments = self.cfg, self.clock, self.environments
        if retry is None:
            retry = RetryPolicy(attempts=cfg.retries + 1, clock=clock)
        if breakers is None and cfg.uses_shared_breaker:
            breakers = _shared_breakers(self.the_store(), environments, clock)
        return {
            "environments": environments,
            "default_environment": cfg.default_environment,
            "clock": clock,
            "retry": retry
            if retry is not None
            else RetryPolicy(attempts=cfg.retries + 1, clock=clock),
            "breakers": breakers,
            "page_size": cfg.page_size,
            "workers": cfg.workers,
            # Explicit: the provider the backend factory asked for (None when it asked none).
            "sessions": self.built.get("sessions", self.sessions),
            "read_cache": self.read_cache(),
        }


def _built(kind: str, cfg: ClientConfig) -> None:
    # LEGACY_API_METRICS / LEGACY_API_TRACING: process-wide, installed once (ADR 0021).
    observed = enable_from_environment()
    _log.info(
        "legacy_api.client.built",
        kind=kind,
        observe=observed or None,
        backend=cfg.backend,
        session_store=cfg.session_store,
        environments=sorted(cfg.environments),
        default_environment=cfg.default_environment,
        shared_breaker=cfg.uses_shared_breaker,
    )


def _closing(transport: Any) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        transport.close()

    return close


def _shared_breakers(
    store: SessionStore, environments: Mapping[str, Environment], clock: Clock
) -> Callable[[str], CircuitBreaker]:
    """Breakers whose state lives in Redis, with Redis's clock, shared by every process."""
    from legacy_adapters.stores import RedisSessionStore, StoreBreakerState  # noqa: PLC0415

    if not isinstance(store, RedisSessionStore):
        msg = (
            f"shared_breaker needs the redis session store, not {type(store).__name__}: "
            "set LEGACY_API_SESSION_STORE=redis or LEGACY_API_SHARED_BREAKER=false"
        )
        raise ConfigurationError(msg)

    def make(name: str) -> CircuitBreaker:
        environment = environments.get(name)
        if environment is None:
            msg = f"no breaker for unconfigured environment {name!r}"
            raise ConfigurationError(msg, environment=name)
        state = StoreBreakerState.for_environment(store, environment)
        return CircuitBreaker(name=name, clock=clock, state=state)

    return make


def _config(config: object, overrides: Mapping[str, Any]) -> ClientConfig:
    if isinstance(config, ClientConfig):
        if not overrides:
            return config
        try:
            return attrs.evolve(config, **overrides)
        except TypeError as exc:
            msg = f"unknown build_client override: {exc}"
            raise ConfigurationError(msg) from None
    if config is not None and not isinstance(config, Mapping):
        msg = f"config must be a ClientConfig or a mapping, not {type(config).__name__}"
        raise ConfigurationError(msg)
    return load_config({**(config or {}), **overrides})


def _transport(config: ClientConfig) -> Any:
    from legacy_adapters.fourd import RequestsTransport  # noqa: PLC0415 - requests only when used

    # One pooled connection per worker thread, and a few spare for the session provider.
    return RequestsTransport(pool_size=max(config.workers, 4), verify=config.verify_tls)
