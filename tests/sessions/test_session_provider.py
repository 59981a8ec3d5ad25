"""SharedSessionProvider on every store passes SessionProviderContract; plus its own unit tests."""

# The house style puts the expected value on the left of ==, which SIM300 calls "Yoda".

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis
from structlog.testing import capture_logs
from tests.sessions import _support
from tests.sessions._support import RedisDb

from legacy_adapters.stores import (
    FernetCodec,
    FileSessionStore,
    MemorySessionStore,
    RedisSessionStore,
)
from legacy_adapters.testing.contracts.sessions import (
    LIVE,
    CountingLogin,
    ProviderFixtures,
    SessionProviderContract,
)
from legacy_core.clock import ManualClock
from legacy_core.errors import LicenceExhausted
from legacy_core.model import Session
from legacy_core.ports import SessionStore, Versioned
from legacy_core.sessions import SharedSessionProvider, backoff_key, generation_key

pytestmark = pytest.mark.timeout(120)

KEY = FernetCodec.generate_key()


def _factory(
    store: SessionStore, codec: FernetCodec | None
) -> Callable[..., SharedSessionProvider]:
    def make(login: Any, **options: Any) -> SharedSessionProvider:
        options.setdefault("codec", codec)
        return SharedSessionProvider(store, login, **options)

    return make


def _redis_raw(client: redis.Redis[bytes]) -> bytes:
    chunks = []
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"hash":
            chunks.extend(client.hvals(key))
        elif kind == b"string":
            chunks.append(client.get(key) or b"")
    return b"\n".join(chunks)


class MemoryConfig(ProviderFixtures):
    codec: FernetCodec | None = None

    @pytest.fixture
    def store(self) -> SessionStore:
        return MemorySessionStore()

    @pytest.fixture
    def provider_factory(self, store: SessionStore) -> Callable[..., SharedSessionProvider]:
        return _factory(store, self.codec)

    @pytest.fixture
    def raw_store_contents(self, store: MemorySessionStore) -> Callable[[], bytes]:
        return lambda: b"\n".join(v.payload for v, _ in store._values.values())

    @pytest.fixture
    def encrypted_at_rest(self) -> bool:
        return self.codec is not None


class FileConfig(MemoryConfig):
    @pytest.fixture
    def store(self, session_dir: Path) -> SessionStore:
        return FileSessionStore(session_dir)

    @pytest.fixture
    def raw_store_contents(self, session_dir: Path) -> Callable[[], bytes]:
        return lambda: b"\n".join(p.read_bytes() for p in sorted(session_dir.iterdir()))


class RedisConfig(MemoryConfig):
    @pytest.fixture
    def store(self, redis_db: RedisDb) -> SessionStore:
        return RedisSessionStore(redis_db[0])

    @pytest.fixture
    def raw_store_contents(self, redis_db: RedisDb) -> Callable[[], bytes]:
        return lambda: _redis_raw(redis_db[1])


class DjangoConfig(MemoryConfig):
    flavour = "django"

    @pytest.fixture
    def store(self, redis_django_db: RedisDb) -> SessionStore:
        return _support.django_store(redis_django_db[0], self.flavour)

    @pytest.fixture
    def raw_store_contents(self, redis_django_db: RedisDb) -> Callable[[], bytes]:
        return lambda: _redis_raw(redis_django_db[1])


class TestMemoryProvider(SessionProviderContract, MemoryConfig):
    """The provider on the in-memory store."""


class TestFileProvider(SessionProviderContract, FileConfig):
    """The provider on the file store."""


class TestEncryptedFileProvider(SessionProviderContract, FileConfig):
    """The provider on the file store with Fernet encryption at rest."""

    codec = FernetCodec(KEY)


@pytest.mark.integration
class TestRedisProvider(SessionProviderContract, RedisConfig):
    """The provider on the Redis store."""


@pytest.mark.integration
class TestEncryptedRedisProvider(SessionProviderContract, RedisConfig):
    """The provider on the Redis store with Fernet encryption at rest."""

    codec = FernetCodec(KEY)


@pytest.mark.integration
class TestDjangoCacheProvider(SessionProviderContract, DjangoConfig):
    """The provider on the Django cache store (Django's RedisCache), encrypted."""

    codec = FernetCodec(KEY)


@pytest.mark.integration
class TestDjangoRedisProvider(SessionProviderContract, DjangoConfig):
    """The provider on the Django cache store (django_redis)."""

    flavour = "django_redis"


@attrs.define
class CountingStore:
    """A memory store that counts reads, to see what the fast path costs."""

    inner: MemorySessionStore = attrs.field(factory=MemorySessionStore)
    gets: int = 0

    def get(self, key: str) -> Versioned | None:
        self.gets += 1
        return self.inner.get(key)

    def compare_and_set(self, key: str, expected: int | None, value: Versioned, ttl: float) -> bool:
        return self.inner.compare_and_set(key, expected, value, ttl)

    def delete_if(self, key: str, generation: int) -> bool:
        return self.inner.delete_if(key, generation)

    def lock(self, key: str, ttl: float, wait: float) -> Any:
        return self.inner.lock(key, ttl, wait)


class TestSharedSessionProvider:
    """Behaviour of SharedSessionProvider beyond the contract: fast path, keys, decoding."""

    def test_fast_path_reads_the_store_once_per_interval(self) -> None:
        """Within recheck_interval acquire answers from memory; after it, one store read."""
        clock, store = ManualClock(), CountingStore()
        provider = SharedSessionProvider(store, CountingLogin(), clock=clock, recheck_interval=1.0)
        provider.acquire(LIVE)
        before = store.gets
        for _ in range(100):
            provider.acquire(LIVE)
        assert before == store.gets
        clock.advance(1.0)
        provider.acquire(LIVE)
        assert before + 1 == store.gets

    def test_replaced_session_is_seen_after_the_interval(self) -> None:
        """A session replaced by another process is picked up once the interval has passed."""
        clock, store, login = ManualClock(), MemorySessionStore(), CountingLogin()
        mine = SharedSessionProvider(store, login, clock=clock, recheck_interval=1.0)
        theirs = SharedSessionProvider(store, login, clock=clock)
        first = mine.acquire(LIVE)
        replaced = theirs.adopt(theirs.acquire(LIVE), "WASID4D", "REPLACED0123456789")
        assert first == mine.acquire(LIVE)
        clock.advance(1.5)
        assert replaced.cookie_value == mine.acquire(LIVE).cookie_value

    def test_session_is_stored_under_the_environment_key(self) -> None:
        """The session lives under legacy_api:session:{env}:{hash of base URL}."""
        store = MemorySessionStore()
        session = SharedSessionProvider(store, CountingLogin()).acquire(LIVE)
        stored = store.get(f"legacy_api:session:live:{LIVE.url_hash}")
        assert stored is not None
        assert session.generation == stored.generation

    def test_short_lifetimes_keep_half_of_the_lifetime(self) -> None:
        """The margin never takes more than half of a short server lifetime."""
        clock = ManualClock()
        provider = SharedSessionProvider(
            MemorySessionStore(), CountingLogin(lifetime=60.0), clock=clock
        )
        session = provider.acquire(LIVE)
        assert clock.time() + 15.0 <= session.expires_at <= clock.time() + 30.0

    def test_undecodable_payload_is_replaced(self) -> None:
        """A payload encrypted with another key is treated as absent, logged, and replaced."""
        store, login = MemorySessionStore(), CountingLogin()
        old = SharedSessionProvider(store, login, codec=FernetCodec(FernetCodec.generate_key()))
        new = SharedSessionProvider(store, login, codec=FernetCodec(FernetCodec.generate_key()))
        first = old.acquire(LIVE)
        with capture_logs() as events:
            second = new.acquire(LIVE)
        assert 2 == login.count
        assert second.generation > first.generation
        assert "legacy_api.session.undecodable" in [e["event"] for e in events]
        assert "warning" == next(
            e["log_level"] for e in events if e["event"] == "legacy_api.session.undecodable"
        )

    def test_rotated_key_still_reads_old_payloads(self) -> None:
        """A codec with the old key among its previous keys reuses the stored session."""
        store, login = MemorySessionStore(), CountingLogin()
        old_key, new_key = FernetCodec.generate_key(), FernetCodec.generate_key()
        first = SharedSessionProvider(store, login, codec=FernetCodec(old_key)).acquire(LIVE)
        rotated = FernetCodec(new_key, previous=[old_key])
        assert (
            first.cookie_value
            == SharedSessionProvider(store, login, codec=rotated).acquire(LIVE).cookie_value
        )
        assert 1 == login.count

    def test_payload_of_another_base_url_is_not_used(self) -> None:
        """A stored payload naming another base URL is never handed out for this environment."""
        store, login = MemorySessionStore(), CountingLogin()
        SharedSessionProvider(store, login).acquire(LIVE)
        versioned = store.get(LIVE.session_key)
        assert versioned is not None
        forged = versioned.payload.replace(LIVE.base_url.encode(), b"http://evil.invalid")
        store.compare_and_set(LIVE.session_key, versioned.generation, Versioned(99, forged), 60)
        session = SharedSessionProvider(store, login).acquire(LIVE)
        assert 2 == login.count
        assert login.issued[1] == session.cookie_value

    def test_generation_counter_survives_invalidation(self) -> None:
        """The generation counter key keeps counting after the session key is deleted."""
        store = MemorySessionStore()
        provider = SharedSessionProvider(store, CountingLogin())
        first = provider.acquire(LIVE)
        provider.invalidate(first)
        assert store.get(LIVE.session_key) is None
        counter = store.get(generation_key(LIVE))
        assert counter is not None
        assert first.generation == counter.generation

    def test_backoff_is_cleared_by_a_successful_login(self) -> None:
        """The shared backoff record is removed once a login succeeds again."""
        clock, store = ManualClock(), MemorySessionStore()
        login = CountingLogin(fail_with=LicenceExhausted("402", status=402))
        provider = SharedSessionProvider(store, login, clock=clock, licence_backoff=10.0)
        with pytest.raises(LicenceExhausted):
            provider.acquire(LIVE)
        assert store.get(backoff_key(LIVE)) is not None
        login.fail_with = None
        clock.advance(11.0)
        provider.acquire(LIVE)
        assert store.get(backoff_key(LIVE)) is None

    def test_backoff_honours_retry_after_up_to_the_cap(self) -> None:
        """A Retry-After longer than the base backoff is honoured, but never beyond the cap."""
        clock = ManualClock()
        error = LicenceExhausted("402", status=402, retry_after=5000.0)
        provider = SharedSessionProvider(
            MemorySessionStore(),
            CountingLogin(fail_with=error),
            clock=clock,
            licence_backoff_cap=600.0,
        )
        with pytest.raises(LicenceExhausted):
            provider.acquire(LIVE)
        with pytest.raises(LicenceExhausted) as caught:
            provider.acquire(LIVE)
        assert 600.0 == caught.value.retry_after

    def test_repr_shows_no_session(self) -> None:
        """The provider's repr names its store, never a cookie."""
        login = CountingLogin()
        provider = SharedSessionProvider(MemorySessionStore(), login)
        session: Session = provider.acquire(LIVE)
        assert "MemorySessionStore" in repr(provider)
        assert session.cookie_value not in repr(provider) + repr(session)


def _acquire_in_child(provider: SharedSessionProvider) -> None:
    provider.acquire(LIVE)


class TestForkSafety:
    """A provider survives fork() while another thread holds its per-process lock."""

    def test_child_is_not_blocked_by_a_lock_held_at_fork(self) -> None:
        """The child resets the per-process locks and logs in instead of hanging."""
        import multiprocessing  # noqa: PLC0415 - only this test forks

        provider = SharedSessionProvider(MemorySessionStore(), CountingLogin(), lock_wait=5.0)
        held = provider._local_lock(LIVE.session_key)
        held.acquire()
        try:
            child = multiprocessing.get_context("fork").Process(
                target=_acquire_in_child, args=(provider,)
            )
            child.start()
            child.join(10)
        finally:
            held.release()
        assert 0 == child.exitcode
