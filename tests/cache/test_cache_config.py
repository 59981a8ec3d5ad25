"""The read cache's configuration: mapping, env vars, TOML, per environment, Django, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from legacy_adapters.config import load_config
from legacy_adapters.django._settings import parse_settings
from legacy_adapters.stores import MemorySessionStore
from legacy_api import build_client
from legacy_core.errors import ConfigurationError

URLS = {"live": "http://wsz-db:8080", "test": "http://wsz-db-test:8080"}


class TestSources:
    """Every configuration source sets the same cached tables."""

    def test_mapping(self) -> None:
        """``cache={"Artikel_Tags": 3600}`` caches that table in every environment."""
        cfg = load_config({"environments": URLS, "cache": {"Artikel_Tags": 3600}}, environ={})
        assert {"live": {"Artikel_Tags": 3600.0}, "test": {"Artikel_Tags": 3600.0}} == (
            cfg.cache_tables()
        )

    def test_off_by_default(self) -> None:
        """Without a cache setting no table is cached and the client has no read cache."""
        cfg = load_config({"environments": URLS}, environ={})
        assert {} == cfg.cache_tables()
        client = build_client(cfg, store=MemorySessionStore())
        assert client.read_cache is None

    def test_env_vars(self) -> None:
        """LEGACY_API_CACHE lists TABLE=SECONDS; LEGACY_API_{ENV}_CACHE overrides one env."""
        environ = {
            "LEGACY_API_CACHE": "Artikel_Tags=3600, Artikel_Familie=600",
            "LEGACY_API_TEST_CACHE": "Artikel_Tags=0,Artikel_Farben=5",
            "LEGACY_API_CACHE_MAX_BYTES": "1000",
            "LEGACY_API_CACHE_WAIT": "2.5",
        }
        cfg = load_config({"environments": URLS}, environ=environ)
        assert {
            "live": {"Artikel_Tags": 3600.0, "Artikel_Familie": 600.0},
            "test": {"Artikel_Familie": 600.0, "Artikel_Farben": 5.0},
        } == cfg.cache_tables()
        assert (1000, 2.5) == (cfg.cache_max_bytes, cfg.cache_wait)

    def test_toml(self, tmp_path: Path) -> None:
        """A [cache] table and [cache.ENV] overrides; a mapping given in code wins."""
        path = tmp_path / "legacy.toml"
        path.write_text(
            "cache_wait = 1\n"
            '[environments]\nlive = "http://a:1"\ntest = "http://b:1"\n'
            "[cache]\nArtikel_Tags = 3600\nArtikel_Familie = 60\n"
            "[cache.test]\nArtikel_Familie = 0\n"
        )
        cfg = load_config({"cache": {"Artikel_Tags": 10}}, environ={"LEGACY_API_CONFIG": str(path)})
        assert {
            "live": {"Artikel_Tags": 10.0, "Artikel_Familie": 60.0},
            "test": {"Artikel_Tags": 10.0},
        } == cfg.cache_tables()
        assert 1.0 == cfg.cache_wait

    def test_build_client_override(self) -> None:
        """build_client(cache=...) builds a client whose read cache knows those TTLs."""
        client = build_client(
            {"environments": URLS}, store=MemorySessionStore(), cache={"Artikel_Tags": 3600}
        )
        assert client.read_cache is not None
        assert 3600.0 == client.read_cache.ttl("test", "Artikel_Tags")
        assert client.read_cache.ttl("test", "Artikel_Stamm") is None


class TestErrors:
    """Wrong values are a ConfigurationError saying what is wrong."""

    @pytest.mark.parametrize(
        ("cache", "match"),
        [
            ({"Artikel Tags": 60}, "4D names"),
            ({"Artikel_Tags": -1}, "TTL of Artikel_Tags"),
            ({"Artikel_Tags": "soon"}, "TTL of Artikel_Tags"),
            ({"Artikel_Tags": True}, "TTL of Artikel_Tags"),
            ({"prod": {"Artikel_Tags": 60}}, "unconfigured environment"),
            (["Artikel_Tags"], "must map table names"),
        ],
    )
    def test_bad_mapping(self, cache: object, match: str) -> None:
        """Bad names, TTLs, environments and shapes are refused."""
        with pytest.raises(ConfigurationError, match=match):
            load_config({"environments": URLS, "cache": cache}, environ={})

    def test_bad_env_var(self) -> None:
        """An entry without '=' names the variable and the expected form."""
        with pytest.raises(ConfigurationError, match=r"LEGACY_API_CACHE.*TABLE=SECONDS"):
            load_config({"environments": URLS}, environ={"LEGACY_API_CACHE": "Artikel_Tags"})

    def test_bad_limits(self) -> None:
        """cache_max_bytes below 1 and a negative cache_wait are refused."""
        with pytest.raises(ConfigurationError, match="cache_max_bytes"):
            load_config({"environments": URLS, "cache_max_bytes": 0}, environ={})
        with pytest.raises(ConfigurationError, match="cache_wait"):
            load_config({"environments": URLS, "cache_wait": -1}, environ={})


class TestDjangoSetting:
    """``LEGACY_API["CACHE"]`` is the same setting for Django projects."""

    def test_parsed(self) -> None:
        """CACHE, CACHE_MAX_BYTES and CACHE_WAIT reach the client configuration."""
        parsed, problems = parse_settings(
            {
                "ENVIRONMENTS": URLS,
                "CACHE": {"Artikel_Tags": 3600, "test": {"Artikel_Tags": 0}},
                "CACHE_MAX_BYTES": 5000,
                "CACHE_WAIT": 3,
            }
        )
        assert [] == problems
        assert parsed is not None
        cfg = parsed.client_config()
        assert {"live": {"Artikel_Tags": 3600.0}} == cfg.cache_tables()
        assert (5000, 3.0) == (cfg.cache_max_bytes, cfg.cache_wait)

    def test_problems(self) -> None:
        """A bad table, an unknown environment and a bad wait are reported as problems."""
        _, problems = parse_settings(
            {"ENVIRONMENTS": URLS, "CACHE": {"prod": {"T": 1}}, "CACHE_WAIT": "x"}
        )
        assert {"CACHE", "CACHE_WAIT"} <= {p.key for p in problems}
        _, problems = parse_settings({"ENVIRONMENTS": URLS, "CACHE": {"T T": 1}})
        assert ["CACHE"] == [p.key for p in problems]


class TestDjangoClient:
    """On real Django, ``LEGACY_API["CACHE"]`` gives get_client() a working read cache."""

    def test_get_client_hits(self) -> None:
        """The client built from Django settings answers a second read from the cache."""
        pytest.importorskip("django")
        from tests.cache.conftest import TABLE  # noqa: PLC0415
        from tests.sessions._support import ensure_django  # noqa: PLC0415

        ensure_django()
        from django.test import override_settings  # noqa: PLC0415

        from fourd_emulator import EmulatorConfig, serve  # noqa: PLC0415
        from legacy_adapters.django import get_client, reset_client  # noqa: PLC0415

        with serve(EmulatorConfig(rows=40, seed=5)) as server:
            settings = {
                "ENVIRONMENTS": {"live": server.base_url},
                "SESSION_STORE": "memory",
                "CACHE": {TABLE: 60},
            }
            with override_settings(LEGACY_API=settings):
                reset_client()
                try:
                    client = get_client()
                    first = client.fetch_frame(TABLE)
                    before = server.stats()["requests_total"]
                    second = client.fetch_frame(TABLE)
                    sent = server.stats()["requests_total"] - before
                finally:
                    reset_client()
        assert 0 == sent
        assert first.equals(second)
