"""Tests of legacy_core.plugins and hookspecs: the adapter registry, lazy factories, discovery."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import threading
import types
from collections.abc import Iterator

import pytest

from legacy_adapters import builtin_plugin
from legacy_adapters.memory import MemoryBackend
from legacy_core import plugins
from legacy_core.clock import ManualClock
from legacy_core.errors import ConfigurationError
from legacy_core.hookspecs import hookimpl
from legacy_core.plugins import AdapterRegistry, LazyFactory, get_registry


def make_acme_backend(**kwargs: object) -> dict[str, object]:
    """A third-party backend factory for the tests."""
    return {"backend": "acme", **kwargs}


class AcmePlugin:
    """A third-party plugin adding one backend and one session store."""

    @hookimpl
    def legacy_register_adapters(self, register):
        register("backend", "acme", make_acme_backend)
        register("session_store", "acme-kv", LazyFactory("legacy_core.clock:ManualClock"))


@pytest.fixture
def registry() -> AdapterRegistry:
    """A registry with the built-ins only (installed entry points are not consulted)."""
    return AdapterRegistry.load([builtin_plugin], entry_points=False)


@pytest.fixture
def with_acme(registry: AdapterRegistry) -> Iterator[AdapterRegistry]:
    """The registry with AcmePlugin registered for the duration of one test."""
    registry.register_plugin(AcmePlugin(), name="acme")
    try:
        yield registry
    finally:
        registry.unregister_plugin("acme")


class FakeDistribution:
    """Just enough of importlib.metadata.Distribution for pluggy's entry-point loader."""

    def __init__(self, name: str, *entry_points: importlib.metadata.EntryPoint) -> None:
        self.metadata = {"name": name, "version": "1.0"}
        self.entry_points = entry_points


def installed(monkeypatch: pytest.MonkeyPatch, *dists: FakeDistribution) -> None:
    """Pretend that exactly ``dists`` are installed (pluggy reads ``distributions()``)."""
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: list(dists))


def entry_point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group="legacy_api")


class TestAdapterRegistry:
    def test_builtins_register_every_adapter_by_name(self, registry):
        """The built-in plugin provides two backends and four session stores."""
        assert ["fourd", "memory"] == registry.names("backend")
        assert ["django", "file", "memory", "redis"] == registry.names("session_store")

    def test_a_builtin_factory_imports_its_adapter_when_loaded(self, registry):
        """The memory backend's factory resolves to the adapter's public class."""
        factory = registry.factory("backend", "memory")
        assert isinstance(factory, LazyFactory)
        assert MemoryBackend is factory.load()

    @pytest.mark.parametrize(("kind", "name"), sorted(builtin_plugin.BUILTIN_ADAPTERS))
    def test_every_builtin_target_exists(self, registry, kind, name):
        """Each built-in name resolves to a callable in the adapter packages."""
        target = registry.factory(kind, name).load()
        assert callable(target)
        assert target.__module__.startswith("legacy_adapters.")

    def test_a_typo_names_the_known_adapters_and_the_closest(self, registry):
        """An unknown name raises ConfigurationError listing the known names and plugins."""
        with pytest.raises(ConfigurationError) as info:
            registry.factory("session_store", "rdis")
        assert (
            "unknown session_store 'rdis' (did you mean 'redis'?); "
            "known: django, file, memory, redis; plugins: legacy_adapters.builtin_plugin"
        ) == str(info.value)

    def test_an_unknown_kind_is_a_configuration_error(self, registry):
        """Asking for a kind nobody can register names the kinds."""
        with pytest.raises(ConfigurationError, match="kinds are: backend, session_store"):
            registry.factory("login", "info")

    def test_a_third_party_plugin_adds_adapters_until_unregistered(self, registry):
        """A registered plugin's adapters are found; after unregistering they are gone."""
        registry.register_plugin(AcmePlugin(), name="acme")
        try:
            assert ["acme", "fourd", "memory"] == registry.names("backend")
            assert {"backend": "acme", "url": "x"} == registry.create("backend", "acme", url="x")
            assert isinstance(registry.create("session_store", "acme-kv", now=5.0), ManualClock)
        finally:
            registry.unregister_plugin("acme")
        assert ["fourd", "memory"] == registry.names("backend")

    def test_entries_say_where_each_adapter_comes_from(self, with_acme):
        """Each entry records the factory's origin for error messages."""
        entries = with_acme.entries()
        assert f"{__name__}:make_acme_backend" == entries["backend"]["acme"].origin
        assert (
            "legacy_adapters.stores:RedisSessionStore" == entries["session_store"]["redis"].origin
        )

    def test_duplicate_names_are_refused_naming_both_origins(self, registry):
        """Two plugins claiming the same backend name make every lookup fail loudly."""

        class Clash:
            @hookimpl
            def legacy_register_adapters(self, register):
                register("backend", "memory", make_acme_backend)

        registry.register_plugin(Clash(), name="clash")
        try:
            with pytest.raises(ConfigurationError) as info:
                registry.factory("backend", "fourd")
        finally:
            registry.unregister_plugin("clash")
        message = str(info.value)
        assert message.startswith("backend 'memory' is registered twice: by ")
        assert "legacy_adapters.memory:MemoryBackend" in message
        assert "make_acme_backend" in message

    @pytest.mark.parametrize(
        ("kind", "name", "factory", "match"),
        [
            ("reader", "x", make_acme_backend, "unknown adapter kind 'reader'"),
            ("backend", "Bad Name", make_acme_backend, "invalid backend name 'Bad Name'"),
            ("backend", "", make_acme_backend, "invalid backend name ''"),
            ("backend", "x", "not callable", "factory must be callable, not str"),
        ],
    )
    def test_bad_registrations_are_refused(self, registry, kind, name, factory, match):
        """Unknown kinds, invalid names and non-callables are configuration errors."""

        class Bad:
            @hookimpl
            def legacy_register_adapters(self, register):
                register(kind, name, factory)

        registry.register_plugin(Bad(), name="bad")
        try:
            with pytest.raises(ConfigurationError, match=match):
                registry.entries()
        finally:
            registry.unregister_plugin("bad")

    def test_a_misspelt_hook_is_caught_and_not_left_registered(self, registry):
        """check_pending rejects an unknown hook name and suggests the right one."""

        class Typo:
            @hookimpl
            def legacy_register_adapter(self, register):
                register("backend", "typo", make_acme_backend)

        with pytest.raises(ConfigurationError, match="did you mean 'legacy_register_adapters'"):
            registry.register_plugin(Typo(), name="typo")
        assert ["legacy_adapters.builtin_plugin"] == registry.plugin_names()

    def test_a_hook_with_wrong_arguments_is_refused(self, registry):
        """A hook implementation asking for an argument the spec lacks is refused."""

        class WrongArgs:
            @hookimpl
            def legacy_register_adapters(self, registrar):
                registrar("backend", "wrong", make_acme_backend)

        with pytest.raises(ConfigurationError, match="registrar"):
            registry.register_plugin(WrongArgs(), name="wrong")

    def test_a_plugin_name_cannot_be_taken_twice(self, with_acme):
        """Registering a second plugin under a taken name is a configuration error."""
        with pytest.raises(ConfigurationError, match="already registered"):
            with_acme.register_plugin(AcmePlugin(), name="acme")

    def test_unregistering_an_unknown_plugin_is_an_error(self, registry):
        """Unregistering a name nobody registered says so."""
        with pytest.raises(ConfigurationError, match="no plugin is registered as 'ghost'"):
            registry.unregister_plugin("ghost")

    def test_importing_the_builtin_plugin_imports_no_adapter(self):
        """The built-in plugin's factories are lazy: no adapter, redis or django on import."""
        code = (
            "import sys, legacy_adapters.builtin_plugin\n"
            "print(sorted(m for m in sys.modules if m.startswith("
            "('legacy_adapters.', 'redis', 'django', 'requests'))))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert "['legacy_adapters.builtin_plugin']" == out.strip()


class TestLazyFactory:
    @pytest.mark.parametrize("target", ["", "module", "a.b:", ":attr", "a b:c", "a:b c"])
    def test_a_malformed_target_is_refused(self, target):
        """Targets must look like ``package.module:attribute``."""
        with pytest.raises(ConfigurationError, match=r"package\.module:attribute"):
            LazyFactory(target)

    def test_the_target_is_imported_only_when_called(self, tmp_path, monkeypatch):
        """Building the factory imports nothing; calling it imports and calls the target."""
        (tmp_path / "lazy_target_mod.py").write_text("def build(x):\n    return ('built', x)\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "lazy_target_mod", raising=False)
        factory = LazyFactory("lazy_target_mod:build")
        assert "lazy_target_mod" not in sys.modules
        assert ("built", 3) == factory(3)
        assert "lazy_target_mod" in sys.modules

    def test_a_missing_module_names_the_extra_to_install(self):
        """A missing dependency becomes a ConfigurationError telling which extra to install."""
        with pytest.raises(ConfigurationError) as info:
            LazyFactory("legacy_no_such_module:Store", extra="redis")()
        assert "pip install 'legacy-api[redis]'" in str(info.value)
        assert isinstance(info.value.__cause__, ImportError)

    def test_a_missing_attribute_is_a_configuration_error(self):
        """A target that does not exist in its module is named."""
        with pytest.raises(ConfigurationError, match=r"legacy_core\.clock:NoClock does not exist"):
            LazyFactory("legacy_core.clock:NoClock").load()

    def test_a_target_that_is_not_callable_is_refused(self):
        """A constant is not a factory."""
        with pytest.raises(ConfigurationError, match="is not callable: str"):
            LazyFactory("legacy_core.hookspecs:PROJECT").load()

    def test_repr_names_the_target(self):
        """The repr is short and names the dotted path."""
        assert "<LazyFactory legacy_core.clock:ManualClock>" == repr(
            LazyFactory("legacy_core.clock:ManualClock")
        )


class TestEntryPointDiscovery:
    def test_third_party_plugins_are_found_through_entry_points(self, monkeypatch):
        """An installed distribution's ``legacy_api`` entry point adds its adapters."""
        module = types.ModuleType("acme_legacy_plugin")
        module.plugin = AcmePlugin()  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "acme_legacy_plugin", module)
        installed(
            monkeypatch,
            FakeDistribution("acme-legacy", entry_point("acme", "acme_legacy_plugin:plugin")),
            FakeDistribution("unrelated", importlib.metadata.EntryPoint("x", "y", "other")),
        )
        registry = AdapterRegistry.load([builtin_plugin])
        assert ["acme", "legacy_adapters.builtin_plugin"] == registry.plugin_names()
        assert "acme" in registry.names("backend")

    def test_a_builtin_also_announced_as_an_entry_point_is_registered_once(self, monkeypatch):
        """The package's own ``builtin`` entry point and the explicit built-in do not clash."""
        installed(
            monkeypatch,
            FakeDistribution(
                "legacy-api", entry_point("builtin", "legacy_adapters.builtin_plugin")
            ),
        )
        registry = AdapterRegistry.load([builtin_plugin])
        assert ["builtin"] == registry.plugin_names()
        assert ["fourd", "memory"] == registry.names("backend")

    def test_a_plugin_that_fails_to_import_is_a_configuration_error(self, monkeypatch):
        """A broken installed plugin stops start-up with a message naming the group."""
        installed(monkeypatch, FakeDistribution("broken", entry_point("broken", "no_such_mod_x")))
        with pytest.raises(ConfigurationError, match="'legacy_api' entry-point group failed"):
            AdapterRegistry.load([builtin_plugin])

    def test_entry_points_can_be_skipped(self, monkeypatch):
        """With ``entry_points=False`` only the built-ins are registered."""
        installed(monkeypatch, FakeDistribution("broken", entry_point("broken", "no_such_mod_x")))
        registry = AdapterRegistry.load([builtin_plugin], entry_points=False)
        assert ["legacy_adapters.builtin_plugin"] == registry.plugin_names()

    def test_the_installed_package_announces_its_builtin_plugin(self):
        """This distribution's real metadata names builtin_plugin in the ``legacy_api`` group."""
        found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="legacy_api")}
        assert "legacy_adapters.builtin_plugin" == found["builtin"]
        assert "builtin" in AdapterRegistry.load().plugin_names()


class TestGetRegistry:
    def test_one_registry_per_process_with_builtins_added_once(self, monkeypatch):
        """Every call returns the same registry; built-ins passed again are not duplicated."""
        monkeypatch.setattr(plugins._DEFAULT, "registry", None)
        installed(monkeypatch)
        first = get_registry()
        assert [] == first.plugin_names()
        second = get_registry([builtin_plugin])
        third = get_registry([builtin_plugin])
        assert first is second is third
        assert ["legacy_adapters.builtin_plugin"] == third.plugin_names()

    def test_concurrent_first_calls_build_one_registry(self, monkeypatch):
        """Eight threads racing for the first registry all get the same one."""
        monkeypatch.setattr(plugins._DEFAULT, "registry", None)
        installed(monkeypatch)
        barrier = threading.Barrier(8)
        seen: list[AdapterRegistry] = []

        def worker() -> None:
            barrier.wait()
            seen.append(get_registry([builtin_plugin]))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 1 == len({id(r) for r in seen})
        assert 8 == len(seen)
