"""Every session store passes SessionStoreContract; shared ones also the cross-process contract."""

# The house style puts the expected value on the left of ==, which SIM300 calls "Yoda".

from __future__ import annotations

import functools
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.sessions import _support
from tests.sessions._support import RedisDb

from legacy_adapters.stores import (
    DjangoCacheSessionStore,
    FileSessionStore,
    MemorySessionStore,
    RedisSessionStore,
    default_session_dir,
)
from legacy_adapters.testing import free_port
from legacy_adapters.testing.contracts.sessions import (
    ProcessStoreFixtures,
    SessionStoreContract,
    SessionStoreProcessContract,
    StoreFixtures,
)
from legacy_core.errors import ConfigurationError, ServerUnavailable
from legacy_core.ports import SessionStore, Versioned

pytestmark = pytest.mark.timeout(120)


class MemoryFixtures(StoreFixtures):
    @pytest.fixture
    def store(self) -> SessionStore:
        return MemorySessionStore()

    @pytest.fixture
    def ttl_resolution(self) -> float:
        return 0.1


class FileFixtures(ProcessStoreFixtures):
    @pytest.fixture
    def store(self, session_dir: Path) -> SessionStore:
        return FileSessionStore(session_dir)

    @pytest.fixture
    def ttl_resolution(self) -> float:
        return 0.1

    @pytest.fixture
    def store_factory(self, session_dir: Path) -> Callable[[], SessionStore]:
        return functools.partial(_support.file_store, str(session_dir))

    @pytest.fixture
    def mp_context(self, forkserver):  # type: ignore[no-untyped-def]
        return forkserver


class RedisFixtures(ProcessStoreFixtures):
    @pytest.fixture
    def store(self, redis_db: RedisDb) -> SessionStore:
        return RedisSessionStore(redis_db[0])

    @pytest.fixture
    def ttl_resolution(self) -> float:
        return 0.1

    @pytest.fixture
    def store_factory(self, redis_db: RedisDb) -> Callable[[], SessionStore]:
        return functools.partial(_support.redis_store, redis_db[0])

    @pytest.fixture
    def mp_context(self, forkserver):  # type: ignore[no-untyped-def]
        return forkserver


class DjangoRedisCacheFixtures(ProcessStoreFixtures):
    flavour = "django"

    @pytest.fixture
    def store(self, redis_django_db: RedisDb) -> SessionStore:
        return _support.django_store(redis_django_db[0], self.flavour)

    @pytest.fixture
    def ttl_resolution(self) -> float:
        return 1.0

    @pytest.fixture
    def store_factory(self, redis_django_db: RedisDb) -> Callable[[], SessionStore]:
        return functools.partial(_support.django_store, redis_django_db[0], self.flavour)

    @pytest.fixture
    def mp_context(self, forkserver):  # type: ignore[no-untyped-def]
        return forkserver


class DjangoRedisFixtures(DjangoRedisCacheFixtures):
    flavour = "django_redis"

    @pytest.fixture
    def ttl_resolution(self) -> float:
        return 0.1


class TestMemoryStore(SessionStoreContract, MemoryFixtures):
    """The in-memory store."""


class TestFileStore(SessionStoreContract, SessionStoreProcessContract, FileFixtures):
    """The file store."""

    def test_files_are_private(self, store: SessionStore, session_dir: Path) -> None:
        """Value files are mode 0600 and the directory 0700."""
        store.compare_and_set("legacy_api:session:live:abc", None, Versioned(1, b"x"), 60)
        files = [p for p in session_dir.iterdir() if p.suffix == ".json"]
        assert 1 == len(files)
        assert 0o600 == stat.S_IMODE(files[0].stat().st_mode)
        assert 0o700 == stat.S_IMODE(session_dir.stat().st_mode)

    def test_open_directory_is_tightened(self, tmp_path: Path) -> None:
        """A group- or world-readable directory of ours is made 0700."""
        loose = tmp_path / "loose"
        loose.mkdir()
        loose.chmod(0o755)
        FileSessionStore(loose)
        assert 0o700 == stat.S_IMODE(loose.stat().st_mode)

    def test_default_directory_is_per_user(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a directory the store lives under $XDG_CACHE_HOME/legacy_api/sessions."""
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        store = FileSessionStore()
        assert tmp_path / "legacy_api" / "sessions" == store.directory == default_session_dir()
        assert 0o700 == stat.S_IMODE(store.directory.stat().st_mode)

    def test_keys_map_to_distinct_files(self, store: SessionStore) -> None:
        """Keys that sanitise to the same text still get their own files."""
        store.compare_and_set("a:b", None, Versioned(1, b"colon"), 60)
        store.compare_and_set("a_b", None, Versioned(2, b"underscore"), 60)
        assert (b"colon", b"underscore") == (store.get("a:b").payload, store.get("a_b").payload)  # type: ignore[union-attr]

    def test_corrupt_file_reads_as_absent(self, store: SessionStore, session_dir: Path) -> None:
        """A damaged value file reads as None and can be replaced."""
        store.compare_and_set("k:corrupt", None, Versioned(1, b"x"), 60)
        (path,) = [p for p in session_dir.iterdir() if p.suffix == ".json"]
        path.write_bytes(b"{not json")
        assert store.get("k:corrupt") is None
        assert True is store.compare_and_set("k:corrupt", None, Versioned(2, b"y"), 60)

    def test_no_temporary_files_are_left(self, store: SessionStore, session_dir: Path) -> None:
        """Atomic writes leave no temporary files behind."""
        for generation in range(1, 20):
            store.compare_and_set("k:tmp", generation - 1 or None, Versioned(generation, b"x"), 60)
        assert [] == [p.name for p in session_dir.iterdir() if p.name.startswith(".tmp-")]


class TestRedisStore(SessionStoreContract, SessionStoreProcessContract, RedisFixtures):
    """The Redis store."""

    pytestmark = pytest.mark.integration

    def test_values_and_locks_carry_server_side_ttls(
        self, store: SessionStore, redis_db: RedisDb
    ) -> None:
        """Stored values and held locks expire by Redis PX TTLs."""
        client = redis_db[1]
        store.compare_and_set("k:px", None, Versioned(1, b"x"), 60)
        assert 59_000 < client.pttl("k:px") <= 60_000
        with store.lock("k:px:lock", 5, 1):
            assert 4_000 < client.pttl("k:px:lock") <= 5_000
        assert 0 == client.exists("k:px:lock")

    def test_accepts_a_client(self, redis_db: RedisDb) -> None:
        """A ready redis.Redis client works as well as a URL."""
        store = RedisSessionStore(redis_db[1])
        store.compare_and_set("k:client", None, Versioned(1, b"x"), 60)
        assert Versioned(1, b"x") == RedisSessionStore(redis_db[0]).get("k:client")

    def test_unreachable_redis_is_server_unavailable(self) -> None:
        """A Redis that cannot be reached raises ServerUnavailable naming the store."""
        port = free_port()  # nobody listens there any more
        store = RedisSessionStore(f"redis://:hunter2secret@127.0.0.1:{port}/0")
        with pytest.raises(ServerUnavailable) as caught:
            store.get("k:down")
        assert f"127.0.0.1:{port}/0" in str(caught.value)
        assert "hunter2secret" not in str(caught.value)

    def test_repr_hides_the_password(self) -> None:
        """The repr names host, port and database but never the URL's password."""
        store = RedisSessionStore("redis://:hunter2secret@127.0.0.1:6390/3")
        assert "hunter2secret" not in repr(store)
        assert "127.0.0.1:6390/3" in repr(store)


class TestDjangoRedisCacheStore(
    SessionStoreContract, SessionStoreProcessContract, DjangoRedisCacheFixtures
):
    """The Django cache store on django.core.cache.backends.redis.RedisCache."""

    pytestmark = pytest.mark.integration


class TestDjangoRedisStore(SessionStoreContract, SessionStoreProcessContract, DjangoRedisFixtures):
    """The Django cache store on django_redis."""

    pytestmark = pytest.mark.integration


class TestDjangoCacheStoreConfiguration:
    """DjangoCacheSessionStore refuses caches whose add() is not atomic across processes."""

    @pytest.mark.parametrize(
        ("backend", "params"),
        [
            ("django.core.cache.backends.locmem.LocMemCache", {}),
            ("django.core.cache.backends.filebased.FileBasedCache", None),
            ("django.core.cache.backends.db.DatabaseCache", {}),
            ("django.core.cache.backends.dummy.DummyCache", {}),
        ],
    )
    def test_non_atomic_backends_are_refused(
        self, backend: str, params: dict[str, str] | None, tmp_path: Path
    ) -> None:
        """LocMem, FileBased, Database and Dummy caches are refused with the backend named."""
        cache = _build_cache(backend, "cache_table" if params is not None else str(tmp_path))
        with pytest.raises(ConfigurationError) as caught:
            DjangoCacheSessionStore(alias="sessions", cache=cache)
        assert backend in str(caught.value)
        assert "allow_non_atomic" in str(caught.value)

    def test_non_atomic_backend_allowed_for_one_process(self) -> None:
        """allow_non_atomic=True accepts LocMem for a single-process deployment."""
        cache = _build_cache("django.core.cache.backends.locmem.LocMemCache", "single")
        store = DjangoCacheSessionStore(cache=cache, allow_non_atomic=True)
        store.compare_and_set("k:single", None, Versioned(1, b"x"), 60)
        assert Versioned(1, b"x") == store.get("k:single")

    def test_alias_is_looked_up_in_django_caches(self) -> None:
        """An alias names a cache of settings.CACHES; a LocMem one is refused by alias name."""
        _support.ensure_django()
        from django.test import override_settings  # noqa: PLC0415 - configured by _support first

        caches = {
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "sessions-locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        }
        with override_settings(CACHES=caches), pytest.raises(ConfigurationError) as caught:
            DjangoCacheSessionStore(alias="sessions-locmem")
        assert "'sessions-locmem'" in str(caught.value)


def _build_cache(backend: str, location: str) -> object:
    _support.ensure_django()
    module_name, _, name = backend.rpartition(".")
    module = __import__(module_name, fromlist=[name])
    return getattr(module, name)(location, {})
