"""The adapter registry: plugins announce adapter factories by kind and name (ADR 0003).

A pluggy ``PluginManager`` for the ``legacy_api`` project; built-in plugins are passed in
explicitly by the composition root (``legacy_core`` cannot import ``legacy_adapters``);
third parties are found through the ``legacy_api`` entry-point group. Lookups are typed
wrappers that raise ConfigurationError naming the known adapters. Nothing here imports an
adapter until its factory is called.
"""

from __future__ import annotations

import difflib
import importlib
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy

from legacy_core import hookspecs
from legacy_core.errors import ConfigurationError
from legacy_core.hookspecs import KINDS, PROJECT

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterEntry",
    "AdapterRegistry",
    "LazyFactory",
    "get_registry",
    "load_plugins",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = PROJECT

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@attrs.frozen(repr=False)
class LazyFactory:
    """A factory named by ``"package.module:attribute"``, imported only when first called.

    ``extra`` names the ``pip install legacy-api[extra]`` that provides its dependencies,
    so a missing one is reported as a configuration problem with the fix.
    """

    target: str = attrs.field()
    extra: str | None = None

    @target.validator
    def _check_target(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not _TARGET.match(value):
            msg = f"factory target must look like 'package.module:attribute', not {value!r}"
            raise ConfigurationError(msg)

    def __repr__(self) -> str:
        return f"<LazyFactory {self.target}>"

    def load(self) -> Callable[..., object]:
        """Import and return the target callable."""
        module_name, _, qualname = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except ImportError as exc:
            hint = (
                f"; install it with: pip install 'legacy-api[{self.extra}]'" if self.extra else ""
            )
            msg = f"cannot import adapter factory {self.target}: {exc}{hint}"
            raise ConfigurationError(msg) from exc
        except AttributeError as exc:
            msg = f"adapter factory {self.target} does not exist: {exc}"
            raise ConfigurationError(msg) from exc
        if not callable(obj):
            msg = f"adapter factory {self.target} is not callable: {type(obj).__name__}"
            raise ConfigurationError(msg)
        return obj  # type: ignore[no-any-return]

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        """Import the target and call it with the arguments."""
        return self.load()(*args, **kwargs)


@attrs.frozen
class AdapterEntry:
    """One registered adapter: its kind, name, factory and which code registered it."""

    kind: str
    name: str
    factory: Callable[..., object] = attrs.field(eq=False)
    origin: str


def make_plugin_manager() -> pluggy.PluginManager:
    """Return a fresh plugin manager that knows the ``legacy_api`` hook specs."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(
    pm: pluggy.PluginManager, builtins: Iterable[object] = (), *, entry_points: bool = True
) -> None:
    """Register the installed entry-point plugins (optional) and the ``builtins``.

    Entry points load first: this distribution announces its built-in plugin there too,
    and a built-in already registered that way is not registered again. Finally
    ``check_pending`` rejects hook implementations with a misspelt name.
    """
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except pluggy.PluginValidationError as exc:
            raise _invalid_plugin(exc) from exc
        except (ImportError, AttributeError) as exc:
            msg = f"a plugin of the {ENTRY_POINT_GROUP!r} entry-point group failed to load: {exc}"
            raise ConfigurationError(msg) from exc
    for plugin in builtins:
        if not pm.is_registered(plugin):
            _register(pm, plugin, None)
    _check_pending(pm)


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> str:
    try:
        registered = pm.register(plugin, name)
    except pluggy.PluginValidationError as exc:
        raise _invalid_plugin(exc) from exc
    except ValueError as exc:
        # pluggy: the name or the plugin object is registered already.
        msg = f"cannot register plugin {name or plugin!r}: {exc}"
        raise ConfigurationError(msg) from exc
    if registered is None:
        msg = f"plugin {name!r} is blocked and cannot be registered"
        raise ConfigurationError(msg)
    return registered


def _check_pending(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _invalid_plugin(exc) from exc


def _invalid_plugin(exc: pluggy.PluginValidationError) -> ConfigurationError:
    text = str(exc)
    found = re.search(r"unknown hook '(\w+)'", text)
    if found:
        specs = [n for n in dir(hookspecs) if n.startswith("legacy_")]
        close = difflib.get_close_matches(found.group(1), specs, n=1)
        if close:
            text += f"; did you mean {close[0]!r}?"
    msg = f"invalid {PROJECT} plugin {exc.plugin!r}: {text}"
    return ConfigurationError(msg)


def _origin(factory: Callable[..., object]) -> str:
    if isinstance(factory, LazyFactory):
        return factory.target
    module = getattr(factory, "__module__", None) or "?"
    qualname = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}:{qualname}"


@attrs.define
class AdapterRegistry:
    """Adapter factories by kind and name, collected from the registered plugins.

    Every lookup asks the plugins afresh (a handful of calls, made at composition time),
    so registering or unregistering a plugin takes effect at once.
    """

    plugin_manager: pluggy.PluginManager = attrs.field(factory=make_plugin_manager)

    @classmethod
    def load(cls, builtins: Iterable[object] = (), *, entry_points: bool = True) -> AdapterRegistry:
        """Build a registry with ``builtins`` and (unless disabled) the installed plugins."""
        registry = cls()
        load_plugins(registry.plugin_manager, builtins, entry_points=entry_points)
        return registry

    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Register one more plugin (a module or object with hook implementations)."""
        registered = _register(self.plugin_manager, plugin, name)
        try:
            _check_pending(self.plugin_manager)
        except ConfigurationError:
            self.plugin_manager.unregister(name=registered)
            raise
        return registered

    def unregister_plugin(self, name: str) -> None:
        """Remove the plugin registered under ``name``."""
        if not self.plugin_manager.has_plugin(name):
            msg = f"no plugin is registered as {name!r}"
            raise ConfigurationError(msg)
        self.plugin_manager.unregister(name=name)

    def plugin_names(self) -> list[str]:
        """Return the names of the registered plugins, sorted."""
        return sorted(name for name, _ in self.plugin_manager.list_name_plugin())

    def entries(self) -> dict[str, dict[str, AdapterEntry]]:
        """Every registered adapter, by kind then name; duplicates raise ConfigurationError."""
        found: dict[str, dict[str, AdapterEntry]] = {kind: {} for kind in KINDS}

        # Wider parameter types than the Register protocol: plugins are third-party input.
        def register(kind: object, name: object, factory: object) -> None:
            if not isinstance(kind, str) or kind not in found:
                msg = f"unknown adapter kind {kind!r} for {name!r}; kinds are: {', '.join(KINDS)}"
                raise ConfigurationError(msg)
            if not isinstance(name, str) or not _NAME.match(name):
                msg = f"invalid {kind} name {name!r}: lowercase letters, digits, '_', '-', '.'"
                raise ConfigurationError(msg)
            if not callable(factory):
                msg = f"{kind} {name!r}: factory must be callable, not {type(factory).__name__}"
                raise ConfigurationError(msg)
            entry = AdapterEntry(kind=kind, name=name, factory=factory, origin=_origin(factory))
            if (previous := found[kind].get(name)) is not None:
                msg = (
                    f"{kind} {name!r} is registered twice: by {previous.origin} "
                    f"and by {entry.origin}; uninstall or rename one of the plugins"
                )
                raise ConfigurationError(msg)
            found[kind][name] = entry

        self.plugin_manager.hook.legacy_register_adapters(register=register)
        return found

    def names(self, kind: str) -> list[str]:
        """Return the registered names of ``kind``, sorted."""
        return sorted(self._of_kind(kind, self.entries()))

    def factory(self, kind: str, name: str) -> Callable[..., object]:
        """Return the factory of adapter ``name`` of ``kind``.

        An unknown name raises ConfigurationError naming the known ones, the closest
        match and the registered plugins.
        """
        of_kind = self._of_kind(kind, self.entries())
        entry = of_kind.get(name)
        if entry is None:
            known = sorted(of_kind)
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = (
                f"unknown {kind} {name!r}{hint}; known: {', '.join(known) or '(none)'}; "
                f"plugins: {', '.join(self.plugin_names()) or '(none)'}"
            )
            raise ConfigurationError(msg)
        return entry.factory

    def create(self, kind: str, name: str, /, *args: Any, **kwargs: Any) -> object:
        """Look up adapter ``name`` of ``kind`` and call its factory with the arguments."""
        return self.factory(kind, name)(*args, **kwargs)

    @staticmethod
    def _of_kind(kind: str, entries: dict[str, dict[str, AdapterEntry]]) -> dict[str, AdapterEntry]:
        if kind not in entries:
            msg = f"unknown adapter kind {kind!r}; kinds are: {', '.join(KINDS)}"
            raise ConfigurationError(msg)
        return entries[kind]


@attrs.define
class _Default:
    registry: AdapterRegistry | None = None
    lock: threading.Lock = attrs.field(factory=threading.Lock)


_DEFAULT = _Default()


def get_registry(builtins: Iterable[object] = ()) -> AdapterRegistry:
    """Return the process-wide registry, built on first use (entry points loaded once).

    ``builtins`` not yet registered are added on every call, so the composition root can
    pass its built-in plugins each time without caring who came first. Thread-safe.
    """
    with _DEFAULT.lock:
        if _DEFAULT.registry is None:
            _DEFAULT.registry = AdapterRegistry.load(builtins)
        else:
            load_plugins(_DEFAULT.registry.plugin_manager, builtins, entry_points=False)
        return _DEFAULT.registry
