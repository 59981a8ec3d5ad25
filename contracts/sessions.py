"""The session contracts (SessionStoreContract, SessionProviderContract) and a counting fake login.

A store passes :class:`SessionStoreContract` by overriding the fixtures of
:class:`StoreFixtures` (a store shared between processes also passes
:class:`SessionStoreProcessContract`, overriding :class:`ProcessStoreFixtures`); a provider
configuration passes :class:`SessionProviderContract` by overriding those of
:class:`ProviderFixtures`. The base fixtures raise
NotImplementedError, so a backend that forgets one fails loudly instead of skipping.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from legacy_core.clock import ManualClock
from legacy_core.errors import LicenceExhausted, LockTimeout
from legacy_core.model import Environment, Session
from legacy_core.ports import LoginResult, LogoutOutcome, SessionStore, Versioned
from legacy_core.sessions import SharedSessionProvider, lock_key

__all__ = [
    "LIVE",
    "TEST",
    "CountingLogin",
    "CountingLogout",
    "ProcessStoreFixtures",
    "ProviderFixtures",
    "SessionProviderContract",
    "SessionStoreContract",
    "SessionStoreProcessContract",
    "StoreFixtures",
]

LIVE = Environment("live", "http://wsz-db.invalid:8080")
TEST = Environment("test", "http://wsz-db-test.invalid:8080")

ProviderFactory = Callable[..., SharedSessionProvider]


@attrs.define
class CountingLogin:
    """A fake :class:`~legacy_core.ports.SessionLogin`: new cookies, counted calls, optional 402."""

    lifetime: float = 3600.0
    delay: float = 0.0
    cookie_name: str = "WASID4D"
    fail_with: BaseException | None = None
    calls: list[str] = attrs.field(factory=list)
    issued: list[str] = attrs.field(factory=list)
    on: list[str] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def __call__(
        self, environment: Environment, *, cookie: tuple[str, str] | None = None
    ) -> LoginResult:
        """Count the call, wait ``delay`` (to widen races) and return a new cookie.

        With ``cookie`` it logs in on that session and returns it (recorded in ``on``).
        """
        with self._lock:
            self.calls.append(environment.name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        if cookie is not None:
            with self._lock:
                self.on.append(cookie[1])
            return LoginResult(cookie[0], cookie[1], self.lifetime)
        value = uuid.uuid4().hex.upper()
        with self._lock:
            self.issued.append(value)
        return LoginResult(self.cookie_name, value, self.lifetime)

    @property
    def count(self) -> int:
        """How many logins were attempted."""
        return len(self.calls)


@attrs.define
class CountingLogout:
    """A fake :class:`~legacy_core.ports.SessionLogout`: records what it closed."""

    outcome: LogoutOutcome = "closed"
    closed: list[str] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def __call__(
        self, environment: Environment, cookie_name: str, cookie_value: str
    ) -> LogoutOutcome:
        """Record the cookie value and answer ``outcome``."""
        with self._lock:
            self.closed.append(cookie_value)
        return self.outcome


def _threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# --------------------------------------------------------------------------- stores


class StoreFixtures:
    """What a store's test module overrides."""

    @pytest.fixture
    def store(self) -> SessionStore:
        """A fresh, empty store."""
        raise NotImplementedError

    @pytest.fixture
    def ttl_resolution(self) -> float:
        """The shortest TTL the store honours (Django caches count whole seconds)."""
        raise NotImplementedError


class SessionStoreContract(StoreFixtures):
    """get / compare_and_set / delete_if semantics, TTLs and the lock, within one process."""

    def test_get_of_absent_key_is_none(self, store: SessionStore) -> None:
        """A key that was never written reads as None."""
        assert store.get("legacy_api:test:absent") is None

    def test_cas_on_absent_key_stores_value(self, store: SessionStore) -> None:
        """compare_and_set with expected None stores a value that reads back byte for byte."""
        payload = bytes(range(256))
        assert True is store.compare_and_set("k:roundtrip", None, Versioned(7, payload), 60)
        value = store.get("k:roundtrip")
        assert value is not None
        assert (7, payload) == (value.generation, value.payload)

    def test_cas_expecting_absent_refuses_present_value(self, store: SessionStore) -> None:
        """compare_and_set with expected None fails and changes nothing when a value exists."""
        store.compare_and_set("k:present", None, Versioned(1, b"one"), 60)
        assert False is store.compare_and_set("k:present", None, Versioned(2, b"two"), 60)
        assert Versioned(1, b"one") == store.get("k:present")

    def test_cas_with_matching_generation_replaces(self, store: SessionStore) -> None:
        """compare_and_set with the current generation replaces the value."""
        store.compare_and_set("k:replace", None, Versioned(1, b"one"), 60)
        assert True is store.compare_and_set("k:replace", 1, Versioned(2, b"two"), 60)
        assert Versioned(2, b"two") == store.get("k:replace")

    def test_cas_with_other_generation_refuses(self, store: SessionStore) -> None:
        """compare_and_set with a generation that is not the current one changes nothing."""
        store.compare_and_set("k:stale", None, Versioned(5, b"five"), 60)
        assert False is store.compare_and_set("k:stale", 4, Versioned(6, b"six"), 60)
        assert Versioned(5, b"five") == store.get("k:stale")

    def test_cas_with_generation_on_absent_key_refuses(self, store: SessionStore) -> None:
        """compare_and_set expecting a generation fails when the key is absent."""
        assert False is store.compare_and_set("k:none", 3, Versioned(4, b"x"), 60)
        assert store.get("k:none") is None

    def test_delete_if_matching_generation_deletes(self, store: SessionStore) -> None:
        """delete_if with the current generation removes the value."""
        store.compare_and_set("k:del", None, Versioned(3, b"x"), 60)
        assert True is store.delete_if("k:del", 3)
        assert store.get("k:del") is None

    def test_delete_if_other_generation_keeps_value(self, store: SessionStore) -> None:
        """delete_if with a stale generation leaves the value alone."""
        store.compare_and_set("k:keep", None, Versioned(3, b"x"), 60)
        assert False is store.delete_if("k:keep", 2)
        assert Versioned(3, b"x") == store.get("k:keep")

    def test_delete_if_on_absent_key_is_false(self, store: SessionStore) -> None:
        """delete_if on a missing key reports that it deleted nothing."""
        assert False is store.delete_if("k:missing", 1)

    def test_keys_are_independent(self, store: SessionStore) -> None:
        """Writing and deleting one key does not touch another."""
        store.compare_and_set("k:a", None, Versioned(1, b"a"), 60)
        store.compare_and_set("k:b", None, Versioned(1, b"b"), 60)
        store.delete_if("k:a", 1)
        assert Versioned(1, b"b") == store.get("k:b")

    def test_value_expires_after_ttl(self, store: SessionStore, ttl_resolution: float) -> None:
        """A value is gone once its TTL has passed, and present before."""
        store.compare_and_set("k:ttl", None, Versioned(1, b"x"), ttl_resolution)
        assert store.get("k:ttl") is not None
        time.sleep(ttl_resolution * 1.5 + 0.05)
        assert store.get("k:ttl") is None
        assert True is store.compare_and_set("k:ttl", None, Versioned(2, b"y"), 60)

    def test_concurrent_cas_on_absent_key_has_one_winner(self, store: SessionStore) -> None:
        """Sixteen threads racing compare_and_set(None) produce exactly one success."""
        results = _threads(
            16, lambda i: store.compare_and_set("k:race", None, Versioned(i + 1, b"w"), 60)
        )
        assert 1 == sum(results)

    def test_concurrent_cas_increments_lose_no_update(self, store: SessionStore) -> None:
        """Eight threads incrementing the generation by compare_and_set loops lose no increment."""
        store.compare_and_set("k:counter", None, Versioned(0, b""), 60)

        def increment(_i: int) -> None:
            for _ in range(10):
                while True:
                    current = store.get("k:counter")
                    assert current is not None
                    bumped = Versioned(current.generation + 1, b"")
                    if store.compare_and_set("k:counter", current.generation, bumped, 60):
                        break

        _threads(8, increment)
        final = store.get("k:counter")
        assert final is not None
        assert 80 == final.generation

    def test_lock_is_exclusive_across_threads(self, store: SessionStore) -> None:
        """At most one of eight threads is ever inside the lock."""
        inside = [0]
        peak = [0]
        guard = threading.Lock()

        def work(_i: int) -> None:
            for _ in range(5):
                with store.lock("k:lock:threads", 10, 30):
                    with guard:
                        inside[0] += 1
                        peak[0] = max(peak[0], inside[0])
                    time.sleep(0.002)
                    with guard:
                        inside[0] -= 1

        _threads(8, work)
        assert 1 == peak[0]

    def test_lock_is_released_when_the_block_raises(self, store: SessionStore) -> None:
        """An exception inside the lock releases it on the way out."""
        with pytest.raises(RuntimeError), store.lock("k:lock:raise", 10, 1):
            raise RuntimeError
        with store.lock("k:lock:raise", 10, 0.5):
            pass

    def test_lock_times_out_after_wait(self, store: SessionStore) -> None:
        """A second taker gives up with LockTimeout after ``wait``, long before the holder's ttl."""
        with store.lock("k:lock:timeout", 30, 1):
            started = time.monotonic()
            with pytest.raises(LockTimeout), store.lock("k:lock:timeout", 30, 0.3):
                pass
            elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 3

    def test_lock_expires_after_ttl(self, store: SessionStore, ttl_resolution: float) -> None:
        """A holder that never releases blocks others for its ttl, not longer."""
        ttl = max(ttl_resolution, 0.3)
        holder = store.lock("k:lock:ttl", ttl, 1)
        holder.__enter__()
        started = time.monotonic()
        with store.lock("k:lock:ttl", 30, ttl * 3 + 2):
            elapsed = time.monotonic() - started
        holder.__exit__(None, None, None)
        assert ttl * 0.8 <= elapsed < ttl + 1.5

    def test_release_after_expiry_keeps_new_holder(
        self, store: SessionStore, ttl_resolution: float
    ) -> None:
        """A holder whose ttl ran out cannot release the lock its successor holds."""
        ttl = max(ttl_resolution, 0.3)
        first = store.lock("k:lock:owner", ttl, 1)
        first.__enter__()
        second = store.lock("k:lock:owner", 30, ttl * 3 + 2)
        second.__enter__()
        first.__exit__(None, None, None)
        with pytest.raises(LockTimeout), store.lock("k:lock:owner", 30, 0.2):
            pass
        second.__exit__(None, None, None)

    def test_locks_of_other_keys_do_not_block(self, store: SessionStore) -> None:
        """Holding one key's lock does not delay the lock of another key."""
        with store.lock("k:lock:one", 30, 1), store.lock("k:lock:two", 30, 0.2):
            pass


# --------------------------------------------------------------------------- processes


def _store_lock_worker(factory: Callable[[], SessionStore], counter: str, rounds: int) -> None:
    store = factory()
    path = Path(counter)
    for _ in range(rounds):
        with store.lock("k:lock:processes", 10, 30):
            value = int(path.read_text() or "0")
            time.sleep(0.001)
            path.write_text(str(value + 1))


def _store_cas_worker(factory: Callable[[], SessionStore], rounds: int) -> None:
    store = factory()
    for _ in range(rounds):
        while True:
            current = store.get("k:counter:processes")
            assert current is not None
            bumped = Versioned(current.generation + 1, b"")
            if store.compare_and_set("k:counter:processes", current.generation, bumped, 60):
                break


def _store_hold_lock(factory: Callable[[], SessionStore], ttl: float, ready: Any) -> None:
    store = factory()
    with store.lock("k:lock:killed", ttl, 5):
        ready.set()
        time.sleep(60)


class ProcessStoreFixtures(StoreFixtures):
    """What a store shared between processes also overrides."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], SessionStore]:
        """A picklable zero-argument callable building this store in another process."""
        raise NotImplementedError

    @pytest.fixture
    def mp_context(self) -> multiprocessing.context.BaseContext:
        """The multiprocessing context for child processes (never plain fork with threads)."""
        return multiprocessing.get_context("forkserver")

    @pytest.fixture
    def processes(
        self, mp_context: multiprocessing.context.BaseContext
    ) -> Iterator[Callable[..., list[Any]]]:
        """Start processes on a target and wait for all of them; kill leftovers at teardown."""
        started: list[Any] = []

        def run(target: Callable[..., None], argsets: list[tuple[Any, ...]]) -> list[Any]:
            procs = [mp_context.Process(target=target, args=args) for args in argsets]  # type: ignore[attr-defined]
            started.extend(procs)
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(60)
            return [proc.exitcode for proc in procs]

        yield run
        for proc in started:
            if proc.is_alive():
                proc.kill()
                proc.join(5)


class SessionStoreProcessContract(ProcessStoreFixtures):
    """The lock and compare-and-set hold across processes (stores shared between processes)."""

    def test_lock_is_exclusive_across_processes(
        self,
        store_factory: Callable[[], SessionStore],
        processes: Callable[..., list[Any]],
        tmp_path: Path,
    ) -> None:
        """Four processes doing read-modify-write under the lock lose no increment."""
        counter = tmp_path / "counter"
        counter.write_text("0")
        codes = processes(_store_lock_worker, [(store_factory, str(counter), 8)] * 4)
        assert [0, 0, 0, 0] == codes
        assert "32" == counter.read_text()

    def test_cas_loses_no_update_across_processes(
        self, store_factory: Callable[[], SessionStore], processes: Callable[..., list[Any]]
    ) -> None:
        """Four processes incrementing through compare_and_set loops lose no increment."""
        store = store_factory()
        store.compare_and_set("k:counter:processes", None, Versioned(0, b""), 60)
        codes = processes(_store_cas_worker, [(store_factory, 10)] * 4)
        final = store.get("k:counter:processes")
        assert [0, 0, 0, 0] == codes
        assert final is not None
        assert 40 == final.generation

    def test_killed_holder_blocks_no_longer_than_ttl(
        self,
        store_factory: Callable[[], SessionStore],
        mp_context: multiprocessing.context.BaseContext,
        ttl_resolution: float,
    ) -> None:
        """A lock holder killed with SIGKILL blocks the next taker for at most the lock ttl."""
        ttl = max(ttl_resolution, 0.5)
        ready = mp_context.Event()  # type: ignore[attr-defined]
        proc = mp_context.Process(target=_store_hold_lock, args=(store_factory, ttl, ready))  # type: ignore[attr-defined]
        proc.start()
        try:
            assert ready.wait(30)
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(5)
            started = time.monotonic()
            with store_factory().lock("k:lock:killed", 10, ttl + 5):
                elapsed = time.monotonic() - started
        finally:
            if proc.is_alive():
                proc.kill()
        assert -signal.SIGKILL == proc.exitcode
        assert elapsed < ttl + 0.5


# --------------------------------------------------------------------------- provider


class ProviderFixtures:
    """What a provider configuration's test module overrides."""

    @pytest.fixture
    def provider_factory(self) -> ProviderFactory:
        """``factory(login, clock=..., **options)`` -> a provider on this configuration's store.

        Every call returns a new provider (a new "process") on the same store.
        """
        raise NotImplementedError

    @pytest.fixture
    def raw_store_contents(self) -> Callable[[], bytes]:
        """Everything the store holds, as raw bytes (files, Redis values), for leak scans."""
        raise NotImplementedError

    @pytest.fixture
    def encrypted_at_rest(self) -> bool:
        """Whether this configuration encrypts payloads (a codec is set)."""
        raise NotImplementedError


class SessionProviderContract(ProviderFixtures):
    """One login for many callers, fenced invalidation and adoption, expiry, licence backoff."""

    def test_concurrent_acquires_log_in_once(self, provider_factory: ProviderFactory) -> None:
        """Sixteen threads acquiring at once cause one login and all get the same cookie."""
        login = CountingLogin(delay=0.05)
        provider = provider_factory(login)
        sessions = _threads(16, lambda _i: provider.acquire(LIVE))
        assert 1 == login.count
        assert {login.issued[0]} == {s.cookie_value for s in sessions}

    def test_concurrent_acquires_of_providers_log_in_once(
        self, provider_factory: ProviderFactory
    ) -> None:
        """Four providers on one store (four "processes") with four threads each log in once."""
        login = CountingLogin(delay=0.05)
        providers = [provider_factory(login) for _ in range(4)]
        sessions = _threads(16, lambda i: providers[i % 4].acquire(LIVE))
        assert 1 == login.count
        assert 1 == len({s.cookie_value for s in sessions})

    def test_acquire_reuses_the_stored_session(self, provider_factory: ProviderFactory) -> None:
        """Later acquires, in this and in another provider, reuse the session without a login."""
        login = CountingLogin()
        first = provider_factory(login).acquire(LIVE)
        again = provider_factory(login).acquire(LIVE)
        assert 1 == login.count
        assert first.cookie_value == again.cookie_value
        assert first.generation == again.generation

    def test_session_describes_its_environment(self, provider_factory: ProviderFactory) -> None:
        """The session names the environment, base URL, cookie name and server lifetime."""
        session = provider_factory(CountingLogin(lifetime=1800.0)).acquire(LIVE)
        assert ("live", LIVE.base_url, "WASID4D", 1800.0) == (
            session.environment,
            session.base_url,
            session.cookie_name,
            session.lifetime,
        )

    def test_environments_never_share_a_session(self, provider_factory: ProviderFactory) -> None:
        """Test and live each get their own login and cookie."""
        login = CountingLogin()
        provider = provider_factory(login)
        live, test = provider.acquire(LIVE), provider.acquire(TEST)
        assert ["live", "test"] == sorted(login.calls)
        assert live.cookie_value != test.cookie_value
        assert live.cookie_value == provider.acquire(LIVE).cookie_value

    def test_invalidate_then_acquire_logs_in_again(self, provider_factory: ProviderFactory) -> None:
        """After invalidating the current session the next acquire logs in anew."""
        login = CountingLogin()
        provider = provider_factory(login)
        first = provider.acquire(LIVE)
        provider.invalidate(first)
        second = provider.acquire(LIVE)
        assert 2 == login.count
        assert second.cookie_value != first.cookie_value
        assert second.generation > first.generation

    def test_many_invalidations_of_one_generation_cause_one_relogin(
        self, provider_factory: ProviderFactory
    ) -> None:
        """Sixteen threads in four providers invalidating the same session cause one re-login."""
        login = CountingLogin(delay=0.05)
        providers = [provider_factory(login) for _ in range(4)]
        expired = providers[0].acquire(LIVE)
        for provider in providers:
            provider.acquire(LIVE)

        def fail_and_retry(i: int) -> Session:
            providers[i % 4].invalidate(expired)
            return providers[i % 4].acquire(LIVE)

        sessions = _threads(16, fail_and_retry)
        assert 2 == login.count
        assert {login.issued[1]} == {s.cookie_value for s in sessions}

    def test_stale_invalidate_is_a_no_op(self, provider_factory: ProviderFactory) -> None:
        """Invalidating an already replaced session keeps the current one and logs in no more."""
        login = CountingLogin()
        provider = provider_factory(login)
        first = provider.acquire(LIVE)
        provider.invalidate(first)
        second = provider.acquire(LIVE)
        provider_factory(login).invalidate(first)
        provider.invalidate(first)
        assert second.cookie_value == provider.acquire(LIVE).cookie_value
        assert second.cookie_value == provider_factory(login).acquire(LIVE).cookie_value
        assert 2 == login.count

    def test_generations_never_repeat_after_invalidation(
        self, provider_factory: ProviderFactory
    ) -> None:
        """Each re-login after an invalidation gets a new, higher generation (no ABA)."""
        login = CountingLogin()
        provider = provider_factory(login)
        generations = []
        for _ in range(4):
            session = provider.acquire(LIVE)
            generations.append(session.generation)
            provider.invalidate(session)
        assert sorted(set(generations)) == generations

    def test_adopt_replaces_the_session_everywhere(self, provider_factory: ProviderFactory) -> None:
        """A cookie the server set replaces the stored session for every provider."""
        login = CountingLogin()
        provider = provider_factory(login)
        first = provider.acquire(LIVE)
        adopted = provider.adopt(first, "4DSID_WSZ-DB", "ADOPTED0123456789ABCDEF")
        assert ("4DSID_WSZ-DB", "ADOPTED0123456789ABCDEF") == (
            adopted.cookie_name,
            adopted.cookie_value,
        )
        assert adopted.generation > first.generation
        other = provider_factory(login).acquire(LIVE)
        assert "ADOPTED0123456789ABCDEF" == other.cookie_value
        assert adopted.generation == other.generation
        assert 1 == login.count

    def test_adopt_of_a_stale_session_keeps_the_newer_one(
        self, provider_factory: ProviderFactory
    ) -> None:
        """Adopting on top of a session someone else already replaced returns theirs."""
        login = CountingLogin()
        provider, other = provider_factory(login), provider_factory(login)
        first = provider.acquire(LIVE)
        theirs = other.adopt(first, "WASID4D", "THEIRS0123456789ABCDEF")
        mine = provider.adopt(first, "WASID4D", "MINE0123456789ABCDEF")
        assert theirs.cookie_value == mine.cookie_value
        assert "THEIRS0123456789ABCDEF" == provider_factory(login).acquire(LIVE).cookie_value

    def test_adopt_of_the_same_cookie_changes_nothing(
        self, provider_factory: ProviderFactory
    ) -> None:
        """Adopting the cookie the session already has keeps its generation."""
        provider = provider_factory(CountingLogin())
        session = provider.acquire(LIVE)
        assert session == provider.adopt(session, session.cookie_name, session.cookie_value)

    def test_session_in_use_is_never_replaced(self, provider_factory: ProviderFactory) -> None:
        """A session used every ten minutes keeps one login for a simulated day (idle expiry)."""
        clock = ManualClock()
        login = CountingLogin(lifetime=3600.0)
        provider = provider_factory(login, clock=clock, margin=300.0)
        first = provider.acquire(LIVE)
        for _ in range(6 * 24):
            clock.advance(600.0)
            assert first.cookie_value == provider.acquire(LIVE).cookie_value
        assert 1 == login.count

    def test_use_in_one_process_keeps_the_session_fresh_for_all(
        self, provider_factory: ProviderFactory
    ) -> None:
        """The last use is shared through the store: another process reuses it after 2 hours."""
        clock = ManualClock()
        login = CountingLogin(lifetime=3600.0)
        busy, idle = provider_factory(login, clock=clock), provider_factory(login, clock=clock)
        first = idle.acquire(LIVE)
        for _ in range(12):
            clock.advance(600.0)
            busy.acquire(LIVE)
        assert first.cookie_value == idle.acquire(LIVE).cookie_value
        assert 1 == login.count

    def test_continuous_use_reaches_the_store(self, provider_factory: ProviderFactory) -> None:
        """Uses every 2 s for 90 minutes are written through: another process still reuses it."""
        clock = ManualClock()
        login = CountingLogin(lifetime=3600.0)
        busy, other = provider_factory(login, clock=clock), provider_factory(login, clock=clock)
        first = busy.acquire(LIVE)
        for _ in range(2700):
            clock.advance(2.0)
            busy.acquire(LIVE)
        assert first.cookie_value == other.acquire(LIVE).cookie_value
        assert 1 == login.count

    def test_idle_expiry_triggers_one_relogin_and_logs_the_old_one_out(
        self, provider_factory: ProviderFactory
    ) -> None:
        """Idle beyond lifetime minus margin, the next acquires log in once and close the old."""
        clock = ManualClock()
        login = CountingLogin(lifetime=3600.0)
        logout = CountingLogout()
        provider = provider_factory(login, clock=clock, margin=300.0, logout=logout)
        first = provider.acquire(LIVE)
        assert clock.time() + 3300.0 == first.expires_at
        clock.advance(3299.0)
        assert first.cookie_value == provider.acquire(LIVE).cookie_value
        clock.advance(3301.0)
        renewed = [
            provider.acquire(LIVE),
            provider_factory(login, clock=clock, logout=logout).acquire(LIVE),
        ]
        assert 2 == login.count
        assert {login.issued[1]} == {s.cookie_value for s in renewed}
        assert [login.issued[0]] == logout.closed

    def test_licence_exhaustion_backs_off_for_everybody(
        self, provider_factory: ProviderFactory
    ) -> None:
        """After a 402 no provider logs in until the shared backoff has passed."""
        clock = ManualClock()
        login = CountingLogin(fail_with=LicenceExhausted("402", environment="live", status=402))
        provider = provider_factory(login, clock=clock, licence_backoff=30.0, licence_grace=())
        with pytest.raises(LicenceExhausted):
            provider.acquire(LIVE)
        for other in (provider, provider_factory(login, clock=clock)):
            with pytest.raises(LicenceExhausted) as caught:
                other.acquire(LIVE)
            assert caught.value.retry_after is not None
            assert 0 < caught.value.retry_after <= 30.0
        clock.advance(20.0)
        with pytest.raises(LicenceExhausted):
            provider.acquire(LIVE)
        assert 1 == login.count

    def test_licence_backoff_doubles_then_recovers(self, provider_factory: ProviderFactory) -> None:
        """Each further 402 doubles the backoff; a login that succeeds clears it."""
        clock = ManualClock()
        login = CountingLogin(fail_with=LicenceExhausted("402", environment="live", status=402))
        provider = provider_factory(login, clock=clock, licence_backoff=30.0, licence_grace=())
        with pytest.raises(LicenceExhausted):
            provider.acquire(LIVE)
        clock.advance(31.0)
        with pytest.raises(LicenceExhausted):
            provider.acquire(LIVE)
        clock.advance(1.0)
        with pytest.raises(LicenceExhausted) as caught:
            provider.acquire(LIVE)
        assert caught.value.retry_after is not None
        assert 55.0 <= caught.value.retry_after <= 60.0
        assert 2 == login.count
        login.fail_with = None
        clock.advance(60.0)
        session = provider.acquire(LIVE)
        provider.invalidate(session)
        provider.acquire(LIVE)
        assert 4 == login.count

    def test_lock_timeout_names_the_environment(self, provider_factory: ProviderFactory) -> None:
        """A login lock held elsewhere beyond lock_wait raises LockTimeout for the environment."""
        login = CountingLogin()
        provider = provider_factory(login, lock_wait=0.3)
        with provider.store.lock(lock_key(LIVE), 30, 1), pytest.raises(LockTimeout) as caught:
            provider.acquire(LIVE)
        assert "live" == caught.value.environment
        assert 0 == login.count

    def test_cookie_value_never_in_reprs_or_logs(self, provider_factory: ProviderFactory) -> None:
        """Logins, reuse, invalidation and adoption never put the cookie value in a log or repr."""
        login = CountingLogin()
        provider = provider_factory(login)
        with capture_logs() as events:
            session = provider.acquire(LIVE)
            provider_factory(login).acquire(LIVE)
            adopted = provider.adopt(session, "WASID4D", "ADOPTEDSECRET0123456789")
            provider.invalidate(adopted)
            provider.acquire(LIVE)
        texts = [repr(e) for e in events] + [repr(session), repr(adopted), repr(provider)]
        secrets = [*login.issued, "ADOPTEDSECRET0123456789"]
        assert [] == [s for s in secrets for t in texts if s.lower() in t.lower()]
        names = {e["event"] for e in events}
        assert {
            "legacy_api.session.login",
            "legacy_api.session.reuse",
            "legacy_api.session.adopt",
            "legacy_api.session.invalidate",
        } <= names

    def test_cookie_value_encrypted_at_rest_when_configured(
        self,
        provider_factory: ProviderFactory,
        raw_store_contents: Callable[[], bytes],
        encrypted_at_rest: bool,
    ) -> None:
        """The raw store holds the cookie value in clear exactly when no codec is configured."""
        login = CountingLogin()
        provider_factory(login).acquire(LIVE)
        raw = raw_store_contents()
        assert raw
        assert (not encrypted_at_rest) == (login.issued[0].encode() in raw)
