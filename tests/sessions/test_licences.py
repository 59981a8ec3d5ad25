"""Licences held over time (issue 10): steady use, losses, force-login, licence caps, soaks.

Every test counts what the emulator saw — sessions created, the peak of live sessions,
its timeline — not what the client believes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import requests
from benchmarks.bench_licences import SoakSpec, soak
from structlog.testing import capture_logs

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.bootstrap import build_client
from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import FileSessionStore, MemorySessionStore
from legacy_core.clock import ManualClock
from legacy_core.errors import LegacyError
from legacy_core.model import Environment, Query
from legacy_core.ports import SessionStore
from legacy_core.service import LegacyClient
from legacy_core.sessions import SharedSessionProvider

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


def _backend(
    server: EmulatorServer,
    *,
    store: SessionStore | None = None,
    clock: ManualClock | None = None,
    credentials: bool = False,
    **options: Any,
) -> tuple[FourDBackend, SharedSessionProvider]:
    env = Environment("live", server.base_url, connect_timeout=2.0, read_timeout=20.0)
    transport = RequestsTransport(pool_size=8)
    creds = {"live": Credentials("admin", "secret")} if credentials else None
    login = FourDLogin(transport, credentials=creds)
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    provider = SharedSessionProvider(
        store if store is not None else MemorySessionStore(),
        login,
        logout=login.logout,
        **extra,
        **options,
    )
    return FourDBackend({"live": env}, provider, transport), provider


def _read(backend: FourDBackend) -> None:
    backend.read_page(Query("live", TABLE, top=2))


def _hammer(
    threads: int, seconds: float, call: Callable[[int], None], *, during: Callable[[], None]
) -> list[str]:
    """Run ``call(i)`` in ``threads`` threads for ``seconds`` while ``during`` runs; errors."""
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def loop(i: int) -> None:
        while time.monotonic() < deadline:
            try:
                call(i)
            except LegacyError as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    during()
    for w in workers:
        w.join()
    return errors


def _kill_every(server: EmulatorServer, period: float, times: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(times):
            time.sleep(period)
            server.expire_sessions()

    return run


class TestSteadyUse:
    """Idle-based expiry: a session in use is never replaced (injected clocks)."""

    def test_three_hours_at_one_request_a_minute_hold_one_licence(self) -> None:
        """180 requests a minute apart over a simulated 3 hours: 1 login, never 2 licences."""
        clock = ManualClock()
        with serve(EmulatorConfig(rows=50)) as server:
            backend, provider = _backend(server, clock=clock)
            for _ in range(180):
                clock.advance(60.0)
                server.advance_clock(60.0)
                _read(backend)
            stats = server.stats()
        assert 1 == stats["sessions_created"]
        assert 1 == stats["active_sessions_peak"]
        assert 1 == provider.stats()["logins"]

    def test_idle_session_is_logged_out_before_the_next_login(self) -> None:
        """Idle beyond lifetime minus margin, the old session is closed first: peak stays 1."""
        clock = ManualClock()
        with serve(EmulatorConfig(rows=50)) as server:
            backend, provider = _backend(server, clock=clock)
            _read(backend)
            clock.advance(3350.0)
            server.advance_clock(3350.0)  # still alive on the server (lifetime 3600 s)
            _read(backend)
            stats = server.stats()
        assert (2, 1, 1) == (
            stats["sessions_created"],
            stats["active_sessions_peak"],
            stats["sessions_logged_out"],
        )
        assert 1 == provider.stats()["orphans_closed"]

    def test_without_logout_the_idle_session_is_counted_as_left(self) -> None:
        """A server without logout keeps the idle session until it expires: reported, once."""
        clock = ManualClock()
        with serve(EmulatorConfig(rows=50, logout=False)) as server:
            backend, provider = _backend(server, clock=clock)
            for _ in range(3):
                _read(backend)
                clock.advance(3350.0)
                server.advance_clock(3350.0)
            _read(backend)
            stats = server.stats()
        counts = provider.stats()
        assert 3 == counts["orphans_left"]
        assert 1 == counts["logouts_unsupported"]  # remembered: no further logout attempts
        assert 2 == stats["active_sessions_peak"]

    def test_refresh_replaces_and_logs_out(self) -> None:
        """refresh() logs in once more and closes the old session: one licence held."""
        with serve(EmulatorConfig(rows=50)) as server:
            backend, provider = _backend(server)
            _read(backend)
            old = provider.acquire(backend.environments["live"])
            new = provider.refresh(backend.environments["live"])
            _read(backend)
            stats = server.stats()
        assert new.generation > old.generation
        assert (2, 1) == (stats["sessions_created"], stats["active_sessions"])


class TestLoss:
    """A server-side session kill under load: one session kept, the others closed."""

    def test_threads_of_one_process_converge_and_close_the_others(self) -> None:
        """8 threads, 3 kills: no failure, sessions created ≤ kills + 1 + orphans closed."""
        with serve(EmulatorConfig(rows=50, serialize_sessions=True)) as server:
            server.set_faults(latency_ms=3.0)
            backend, provider = _backend(server)
            _read(backend)
            errors = _hammer(8, 2.4, lambda _i: _read(backend), during=_kill_every(server, 0.6, 3))
            _read(backend)
            stats = server.stats()
        counts = provider.stats()
        assert [] == errors
        assert 1 == stats["active_sessions"]
        assert stats["sessions_created"] <= 3 + 1 + counts["orphans_closed"]
        assert counts["orphans_closed"] == stats["sessions_logged_out"]

    def test_a_401_that_set_a_cookie_is_logged_in_on(self) -> None:
        """On a require-login server each kill costs one session: the 401's own, logged in on."""
        with serve(EmulatorConfig(rows=50, require_login=True)) as server:
            backend, provider = _backend(server, credentials=True)
            _read(backend)
            for _ in range(3):
                server.expire_sessions()
                _read(backend)
            stats = server.stats()
        assert (4, 1) == (stats["sessions_created"], stats["active_sessions"])
        assert 4 == stats["logins"]
        assert 0 == provider.stats()["orphans_closed"]

    def test_force_login_costs_exactly_one_session_per_kill(self) -> None:
        """Force-login: dead cookies get 401 without a session; 6 threads, 3 kills: 4 sessions."""
        with serve(EmulatorConfig(rows=50, force_login=True, serialize_sessions=True)) as server:
            server.set_faults(latency_ms=3.0)
            backend, _ = _backend(server, credentials=True)
            _read(backend)
            errors = _hammer(6, 2.4, lambda _i: _read(backend), during=_kill_every(server, 0.6, 3))
            stats = server.stats()
        assert [] == errors
        assert (4, 1) == (stats["sessions_created"], stats["active_sessions"])


@pytest.fixture
def shared_store(tmp_path: Path) -> Callable[[], SessionStore]:
    """A file store directory shared by several "workers" (one provider each)."""
    return lambda: FileSessionStore(tmp_path / "sessions")


class TestLicenceCap:
    """With a cap of 3, stale cookies that get 402 are resent, not read as exhaustion."""

    def test_four_workers_keep_answering_through_kills(
        self, shared_store: Callable[[], SessionStore]
    ) -> None:
        """4 workers x 4 threads, cap 2, a kill every 0.5 s: 0 failures, 0 breaker openings."""
        with serve(EmulatorConfig(rows=50, licences=2, serialize_sessions=True)) as server:
            server.set_faults(latency_ms=3.0)
            clients: list[LegacyClient] = [
                build_client(
                    {"environments": {"live": server.base_url}, "session_store": "file"},
                    store=shared_store(),
                )
                for _ in range(4)
            ]
            for client in clients:
                client.count(TABLE)
            with capture_logs() as events:
                errors = _hammer(
                    16,
                    3.0,
                    lambda i: clients[i % 4].count(TABLE),
                    during=_kill_every(server, 0.5, 5),
                )
            for client in clients:
                assert "closed" == client.health()["live"]["breaker"]
            stats = server.stats()
        opened = [e for e in events if e["event"] == "legacy_api.breaker.opened"]
        assert [] == errors
        assert [] == opened
        assert 1 == stats["active_sessions"]

    def test_stale_cookie_402_is_resent_with_the_stored_session(
        self, shared_store: Callable[[], SessionStore]
    ) -> None:
        """The issue's case: a 402 for a cookie older than the stored session is no exhaustion."""
        with serve(EmulatorConfig(rows=50, licences=2)) as server:
            config = {"environments": {"live": server.base_url}, "session_store": "file"}
            first, stale = (build_client(config, store=shared_store()) for _ in range(2))
            first.count(TABLE)
            stale.count(TABLE)
            # The second worker trusts its cached cookie for a minute, as an older one would.
            stale.reader.sessions.recheck_interval = 60.0  # type: ignore[attr-defined]
            env = first.environments["live"]
            old = first.reader.sessions.acquire(env)  # type: ignore[attr-defined]
            requests.get(server.base_url + "/rest/$info", timeout=5)  # a foreign licence
            assert 1 == server.expire_sessions(old.cookie_value)
            first.count(TABLE)  # the server opened a new session; the first worker adopted it
            with capture_logs() as events:
                assert stale.count(TABLE) > 0  # 402 (cap full), then resent: answered
            stats = server.stats()
        assert 1 == stats["licences_refused"]
        assert [] == [e for e in events if e["event"] == "legacy_api.breaker.opened"]
        assert "closed" == stale.health()["live"]["breaker"]


@pytest.mark.slow
class TestSoak:
    """The short version of bench_licences: processes, threads, kills, a cap, busy CPUs."""

    SPEC = SoakSpec(processes=4, threads=2, duration=8.0, kill_every=2.0, busy=2, rows=100)

    def test_with_logout(self) -> None:
        """One licence nearly all the time, never more than one for a second after a kill."""
        r = soak(self.SPEC)
        assert (0, 0) == (r["failed"], r["breaker_openings"]), r["failed_by_type"]
        assert r["kills"] >= 3
        assert 1 == r["licences_at_end"]
        assert r["sessions_created"] <= r["kills"] + 1 + r["orphans_closed"]
        assert r["longest_above_one_s"] < 1.0
        assert r["share_at_most_one"] > 0.9

    def test_without_logout(self) -> None:
        """Against a server without logout the orphans are counted; no request fails."""
        r = soak(attrs.evolve(self.SPEC, logout=False))
        assert (0, 0) == (r["failed"], r["breaker_openings"]), r["failed_by_type"]
        assert 0 == r["orphans_closed"]
        assert r["sessions_created"] <= r["kills"] + 1 + r["orphans_left"]
        assert r["logouts_unsupported"] <= self.SPEC.processes

    def test_with_force_login(self) -> None:
        """Force-login: exactly one new session per kill, plus the first."""
        r = soak(attrs.evolve(self.SPEC, force_login=True))
        assert (0, 0) == (r["failed"], r["breaker_openings"]), r["failed_by_type"]
        assert r["kills"] + 1 == r["sessions_created"]
