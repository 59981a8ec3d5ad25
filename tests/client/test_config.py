"""Configuration loading and the composition root."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from legacy_adapters import builtin_plugin
from legacy_adapters.bootstrap import build_client
from legacy_adapters.config import ClientConfig, load_config
from legacy_adapters.memory import MemoryBackend, MemoryTable
from legacy_core.errors import ConfigurationError
from legacy_core.hookspecs import Register, hookimpl
from legacy_core.plugins import AdapterRegistry
from legacy_core.service import LegacyClient

LIVE = "http://live.example:8080"
TEST = "http://test.example:8080"


def write_toml(tmp_path: Path, text: str) -> str:
    """Write a TOML file and return its path."""
    path = tmp_path / "legacy.toml"
    path.write_text(text)
    return str(path)


class TestLoadConfig:
    """load_config: mapping over env vars over TOML over defaults."""

    def test_defaults(self):
        """With only a URL, every other setting has its default."""
        config = load_config(environ={"LEGACY_API_LIVE_URL": LIVE})
        assert {"live": LIVE} == config.environments
        assert ("live", "fourd", "file", 1000, 1, 3) == (
            config.default_environment,
            config.backend,
            config.session_store,
            config.page_size,
            config.workers,
            config.retries,
        )

    def test_environment_variables(self):
        """The documented variables set their settings."""
        config = load_config(
            environ={
                "LEGACY_API_LIVE_URL": LIVE,
                "LEGACY_API_TEST_URL": TEST,
                "LEGACY_API_DEFAULT_ENV": "test",
                "LEGACY_API_SESSION_STORE": "redis",
                "LEGACY_API_REDIS_URL": "redis://localhost:1/0",
                "LEGACY_API_SESSION_DIR": "/tmp/s",
                "LEGACY_API_SESSION_KEY": "k" * 44,
                "LEGACY_API_PAGE_SIZE": "500",
                "LEGACY_API_TEST_USERNAME": "api",
                "LEGACY_API_TEST_PASSWORD": "pw",
            }
        )
        assert {"live": LIVE, "test": TEST} == config.environments
        assert ("test", "redis", "/tmp/s", 500) == (
            config.default_environment,
            config.session_store,
            config.session_dir,
            config.page_size,
        )
        assert {"test": ("api", "pw")} == config.credentials

    def test_pyerp_names(self):
        """pyERP's old variable names are accepted."""
        config = load_config(
            environ={
                "LEGACY_ERP_API_LIVE": LIVE,
                "LEGACY_ERP_API_TEST": TEST,
                "LEGACY_API_DEFAULT_ENVIRONMENT": "test",
                "LEGACY_API_REQUEST_TIMEOUT": "30",
                "LEGACY_API_MAX_RETRIES": "5",
            }
        )
        assert ({"live": LIVE, "test": TEST}, "test", 30.0, 5) == (
            config.environments,
            config.default_environment,
            config.read_timeout,
            config.retries,
        )

    def test_env_credentials_for_mapping_environment(self):
        """LEGACY_API_{ENV}_USERNAME applies to an environment the mapping names."""
        config = load_config(
            {"environments": {"staging": LIVE}, "default_environment": "staging"},
            environ={"LEGACY_API_STAGING_USERNAME": "api", "LEGACY_API_STAGING_PASSWORD": "pw"},
        )
        assert {"staging": ("api", "pw")} == config.credentials

    def test_new_names_win_over_old(self):
        """LEGACY_API_LIVE_URL wins over LEGACY_ERP_API_LIVE."""
        config = load_config(environ={"LEGACY_API_LIVE_URL": LIVE, "LEGACY_ERP_API_LIVE": TEST})
        assert LIVE == config.environments["live"]

    def test_toml_file(self, tmp_path: Path):
        """The file named by LEGACY_API_CONFIG supplies nested settings."""
        path = write_toml(
            tmp_path,
            f"""
            workers = 4
            [environments]
            live = "{LIVE}"
            test = {{ url = "{TEST}", username = "api", password = "pw" }}
            [session]
            store = "memory"
            [timeouts]
            connect = 2
            read = 20
            """,
        )
        config = load_config(environ={"LEGACY_API_CONFIG": path})
        assert (4, "memory", 2, 20) == (
            config.workers,
            config.session_store,
            config.connect_timeout,
            config.read_timeout,
        )
        assert {"test": ("api", "pw")} == config.credentials
        assert 20.0 == config.environment_objects()["test"].read_timeout

    def test_precedence(self, tmp_path: Path):
        """mapping beats env vars, env vars beat the file, environments merge per name."""
        path = write_toml(
            tmp_path, f'page_size = 10\nworkers = 2\n[environments]\nlive = "{LIVE}"\n'
        )
        config = load_config(
            {"page_size": 30},
            environ={
                "LEGACY_API_CONFIG": path,
                "LEGACY_API_PAGE_SIZE": "20",
                "LEGACY_API_WORKERS": "3",
                "LEGACY_API_TEST_URL": TEST,
            },
        )
        assert (30, 3) == (config.page_size, config.workers)
        assert {"live": LIVE, "test": TEST} == config.environments

    @pytest.mark.parametrize(
        ("mapping", "environ", "message"),
        [
            ({}, {}, "no environment configured"),
            ({"environments": {"live": "ftp://x"}}, {}, "base URL must be http"),
            ({"environments": {"live": "http://u:p@x"}}, {}, "without credentials"),
            ({"environments": {"test": TEST}}, {}, "default environment 'live'"),
            ({"environments": {"live": LIVE}, "page_sise": 3}, {}, "did you mean 'page_size'"),
            ({"environments": {"live": LIVE}, "workers": 0}, {}, "workers must be an integer >= 1"),
            ({"environments": {"live": LIVE}, "session": {"stor": "x"}}, {}, "session.store"),
            (
                {},
                {"LEGACY_API_LIVE_URL": LIVE, "LEGACY_API_PAGE_SIZE": "many"},
                "LEGACY_API_PAGE_SIZE must be an integer",
            ),
            (
                {},
                {"LEGACY_API_LIVE_URL": LIVE, "LEGACY_API_SESSION_STORE": "redis"},
                "needs redis_url",
            ),
            ({}, {"LEGACY_API_CONFIG": "/nonexistent/legacy.toml"}, "does not exist"),
        ],
    )
    def test_bad_configuration(
        self, mapping: dict[str, object], environ: dict[str, str], message: str
    ):
        """Bad configuration raises ConfigurationError saying what is wrong."""
        with pytest.raises(ConfigurationError, match=message):
            load_config(mapping, environ=environ)

    def test_invalid_toml(self, tmp_path: Path):
        """A file that is not TOML names the file."""
        path = write_toml(tmp_path, "workers = = 4")
        with pytest.raises(ConfigurationError, match="is not valid TOML"):
            load_config(environ={"LEGACY_API_CONFIG": path})

    def test_secrets_not_in_repr(self):
        """Passwords, the session key and the Redis URL never appear in the repr."""
        config = load_config(
            {
                "environments": {"live": LIVE},
                "credentials": {"live": {"username": "api", "password": "hunter2"}},
                "session_key": "s3cr3t-key",
                "redis_url": "redis://:redispw@host/0",
            },
            environ={},
        )
        text = repr(config)
        assert "hunter2" not in text
        assert "s3cr3t-key" not in text
        assert "redispw" not in text

    def test_with_url(self):
        """with_url points one environment elsewhere (the CLI's --url)."""
        config = ClientConfig({"live": LIVE}).with_url("http://127.0.0.1:1")
        assert "http://127.0.0.1:1" == config.environments["live"]


class TestBuildClient:
    """build_client is the one composition root; it connects nothing."""

    def test_builds_fourd_without_connecting(self, tmp_path: Path):
        """A client for an unreachable server builds fine: nothing connects at build time."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound but never listening: any connect would fail
            client = build_client(
                {"environments": {"live": f"http://127.0.0.1:{port}"}, "session_dir": str(tmp_path)}
            )
        assert isinstance(client, LegacyClient)
        assert "FourDBackend" == type(client.reader).__name__
        assert client.reader is client.writer

    def test_memory_backend_by_name(self):
        """backend='memory' picks the in-memory adapter through the registry."""
        client = build_client({"environments": {"live": LIVE}, "backend": "memory"}, page_size=7)
        assert isinstance(client.reader, MemoryBackend)
        assert 7 == client.page_size
        client.reader.add_table("live", MemoryTable("T", {"A": "long"}, [{"__KEY": "1", "A": 1}]))
        assert [1] == list(client.fetch_frame("T")["A"])

    def test_injected_backend(self):
        """A backend passed in is used as reader and writer (how tests inject fakes)."""
        backend = MemoryBackend()
        client = build_client(ClientConfig({"live": LIVE}), backend=backend, workers=3)
        assert (backend, backend, 3) == (client.reader, client.writer, client.workers)

    def test_unknown_backend_names_known_ones(self):
        """An unknown adapter name is a ConfigurationError listing the registered ones."""
        with pytest.raises(
            ConfigurationError, match=r"did you mean 'memory'.*known: fourd, memory"
        ):
            build_client({"environments": {"live": LIVE}, "backend": "memroy"})

    def test_unknown_store(self, tmp_path: Path):
        """An unknown session store name fails at build time with the known names."""
        with pytest.raises(ConfigurationError, match="unknown session_store 'etcd'"):
            build_client({"environments": {"live": LIVE}, "session_store": "etcd"})

    def test_plugin_backend(self):
        """A third-party plugin's backend is found by name and receives the arguments it names."""
        received: dict[str, object] = {}

        def factory(environments: object, default_environment: str) -> MemoryBackend:
            received.update(environments=environments, default=default_environment)
            return MemoryBackend(default_environment=default_environment)

        class Plugin:
            @staticmethod
            @hookimpl
            def legacy_register_adapters(register: Register) -> None:
                register("backend", "thirdparty", factory)

        registry = AdapterRegistry.load([builtin_plugin], entry_points=False)
        registry.register_plugin(Plugin(), "thirdparty")
        client = build_client(
            {"environments": {"live": LIVE}, "backend": "thirdparty"}, registry=registry
        )
        assert isinstance(client.reader, MemoryBackend)
        assert "live" == received["default"]

    def test_bad_override(self):
        """An override that is not a setting is a ConfigurationError."""
        with pytest.raises(ConfigurationError):
            build_client(ClientConfig({"live": LIVE}), colour="blue")
