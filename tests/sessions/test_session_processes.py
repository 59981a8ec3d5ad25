"""Real processes, real stores, real HTTP: one 4D session per environment for the deployment."""

# The house style puts the expected value on the left of ==, which SIM300 calls "Yoda".

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from structlog.testing import capture_logs
from tests.sessions import _support, _workers
from tests.sessions._workers import WorkerSpec

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import FourDBackend, FourDLogin, RequestsTransport
from legacy_adapters.stores import FernetCodec, FileSessionStore
from legacy_core.model import Environment, Query
from legacy_core.ports import SessionStore
from legacy_core.sessions import SharedSessionProvider, lock_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROCESSES, THREADS = 8, 4


@pytest.fixture(params=["file", "redis"])
def store_factory(
    request: pytest.FixtureRequest, session_dir: Path, redis_server_url: str
) -> Iterator[Callable[[], SessionStore]]:
    """A picklable factory of the shared store under test: the file store or Redis."""
    if request.param == "file":
        yield functools.partial(_support.file_store, str(session_dir))
        return
    url = _support.url_with_db(redis_server_url, 2)
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    yield functools.partial(_support.redis_store, url)
    client.flushdb()
    client.close()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulated 4D server ("live")."""
    with serve(EmulatorConfig(rows=50)) as server:
        yield server


@pytest.fixture
def run(forkserver: Any) -> Iterator[Callable[..., list[dict[str, Any]]]]:
    """Run ``target(spec, *args, results)`` in PROCESSES processes; return every thread's report."""
    started: list[Any] = []

    def go(
        target: Callable[..., None],
        spec: WorkerSpec,
        *args: Any,
        during: Callable[[], None] | None = None,
    ) -> list[dict[str, Any]]:
        results = forkserver.Queue()
        procs = [
            forkserver.Process(target=target, args=(spec, *args, results)) for _ in range(PROCESSES)
        ]
        started.extend(procs)
        for proc in procs:
            proc.start()
        if during is not None:
            during()
        reports = [item for _ in procs for item in results.get(timeout=60)]
        for proc in procs:
            proc.join(10)
        assert [0] * PROCESSES == [proc.exitcode for proc in procs]
        return reports

    yield go
    for proc in started:
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def _info_logins(server: EmulatorServer) -> int:
    return int(sum(server.stats()["requests"].get("GET /rest/$info", {}).values()))


def _errors(reports: list[dict[str, Any]]) -> list[str]:
    return [e for r in reports for e in [r.get("crash"), *r.get("errors", [])] if e]


class TestColdStart:
    """Eight processes of four threads starting at once share one session per environment."""

    def test_cold_start_opens_exactly_one_session(
        self,
        emulator: EmulatorServer,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
        run: Callable[..., list[dict[str, Any]]],
    ) -> None:
        """Thirty-two threads in eight processes reading at once open one session on the server."""
        spec = WorkerSpec(store_factory, {"live": emulator.base_url}, threads=THREADS)
        start = forkserver.Barrier(PROCESSES * THREADS)
        reports = run(_workers.read_worker, spec, start, None, 3)
        stats = emulator.stats()
        assert [] == _errors(reports)
        assert PROCESSES * THREADS * 3 == sum(r["ok"] for r in reports)
        assert 1 == stats["sessions_created"]
        assert 1 == _info_logins(emulator)
        assert 1 == len({r["final"]["live"] for r in reports})

    def test_test_and_live_each_get_one_session(
        self,
        emulator: EmulatorServer,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
        run: Callable[..., list[dict[str, Any]]],
    ) -> None:
        """With test and live on two emulators, each opens one session and sees only its cookie."""
        with serve(EmulatorConfig(rows=50, cookie="4DSID", seed=1)) as test_server:
            spec = WorkerSpec(
                store_factory,
                {"live": emulator.base_url, "test": test_server.base_url},
                threads=THREADS,
            )
            start = forkserver.Barrier(PROCESSES * THREADS)
            reports = run(_workers.read_worker, spec, start, None, 2)
            test_stats = test_server.stats()
        live_stats = emulator.stats()
        assert [] == _errors(reports)
        assert (1, 1) == (live_stats["sessions_created"], test_stats["sessions_created"])
        # A cookie sent to the wrong server would have opened a session there or been refused.
        assert {"200"} == {s for route in live_stats["requests"].values() for s in route}
        assert {"200"} == {s for route in test_stats["requests"].values() for s in route}
        finals = {(r["final"]["live"], r["final"]["test"]) for r in reports}
        assert 1 == len(finals)
        (live_tag, test_tag) = finals.pop()
        assert live_tag != test_tag


class TestForcedExpiry:
    """The server dropping every session mid-run costs one re-login and no failed call."""

    def test_expiry_with_login_causes_one_relogin(
        self,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
        run: Callable[..., list[dict[str, Any]]],
    ) -> None:
        """With $directory/login, the 401s after the expiry lead to exactly one new login."""
        with serve(EmulatorConfig(rows=50, require_login=True)) as server:
            spec = WorkerSpec(
                store_factory,
                {"live": server.base_url},
                threads=THREADS,
                credentials=True,
            )
            start = forkserver.Barrier(PROCESSES * THREADS)
            middle = forkserver.Barrier(PROCESSES * THREADS + 1)

            def expire() -> None:
                middle.wait(60)
                assert 1 == server.expire_sessions()
                middle.wait(60)

            reports = run(_workers.read_worker, spec, start, middle, 2, during=expire)
            stats = server.stats()
        assert [] == _errors(reports)
        assert PROCESSES * THREADS * 4 == sum(r["ok"] for r in reports)
        assert 2 == stats["logins"]
        assert 1 == len({r["final"]["live"] for r in reports})

    def test_expiry_without_login_adopts_the_servers_cookie(
        self,
        emulator: EmulatorServer,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
        run: Callable[..., list[dict[str, Any]]],
    ) -> None:
        """With $info sessions the cookie set after the expiry is adopted: no login, no failure."""
        spec = WorkerSpec(store_factory, {"live": emulator.base_url}, threads=THREADS)
        start = forkserver.Barrier(PROCESSES * THREADS)
        middle = forkserver.Barrier(PROCESSES * THREADS + 1)

        def expire() -> None:
            middle.wait(60)
            assert 1 == emulator.expire_sessions()
            middle.wait(60)

        reports = run(_workers.read_worker, spec, start, middle, 2, during=expire)
        assert [] == _errors(reports)
        assert PROCESSES * THREADS * 4 == sum(r["ok"] for r in reports)
        assert 1 == _info_logins(emulator)
        assert 1 == len({r["final"]["live"] for r in reports})


class TestLicenceExhaustion:
    """A 402 makes every process back off instead of logging in again."""

    @staticmethod
    def _take_licences(server: EmulatorServer, n: int) -> list[str]:
        cookies = []
        for _ in range(n):
            response = requests.get(server.base_url + "/rest/$info", timeout=5)
            cookies.append(response.cookies["WASID4D"])
        return cookies

    def test_no_login_while_backing_off(
        self,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
        run: Callable[..., list[dict[str, Any]]],
    ) -> None:
        """With every licence held by others, 32 threads make one login and its grace retries."""
        with serve(EmulatorConfig(rows=50, licences=2)) as server:
            self._take_licences(server, 2)
            spec = WorkerSpec(
                store_factory,
                {"live": server.base_url},
                threads=THREADS,
                provider_options={"licence_backoff": 60.0},
            )
            start = forkserver.Barrier(PROCESSES * THREADS)
            reports = run(_workers.licence_worker, spec, start, 1.6, False)
            stats = server.stats()
        assert [] == _errors(reports)
        assert all(r["refused"] > 3 for r in reports)
        # The login, then the three short grace retries (0.1/0.3/0.6 s), then the backoff.
        assert 4 == stats["licences_refused"]
        assert 2 == stats["sessions_created"]

    def test_recovery_when_a_licence_frees_up(
        self,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
        run: Callable[..., list[dict[str, Any]]],
    ) -> None:
        """Once a foreign session ends, the next attempt after the backoff logs in for everybody."""
        with serve(EmulatorConfig(rows=50, licences=2)) as server:
            foreign = self._take_licences(server, 2)
            spec = WorkerSpec(
                store_factory,
                {"live": server.base_url},
                threads=THREADS,
                provider_options={"licence_backoff": 0.3, "licence_backoff_cap": 0.6},
            )
            start = forkserver.Barrier(PROCESSES * THREADS)

            def free_one() -> None:
                deadline = time.monotonic() + 30
                while server.stats()["licences_refused"] == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.5)
                assert 1 == server.expire_sessions(foreign[0])

            reports = run(_workers.licence_worker, spec, start, 20.0, True, during=free_one)
            stats = server.stats()
        assert [] == _errors(reports)
        assert all(1 == r["ok"] for r in reports)
        assert 3 == stats["sessions_created"]
        # Attempts are paced by the shared backoff (~0.3 s, then 0.6 s), not by 32 threads.
        assert 1 <= stats["licences_refused"] <= 5


class TestDeadLockHolder:
    """A worker killed while holding the login lock delays the others by at most the lock TTL."""

    def test_killed_holder_delays_login_at_most_the_lock_ttl(
        self,
        emulator: EmulatorServer,
        store_factory: Callable[[], SessionStore],
        forkserver: Any,
    ) -> None:
        """After SIGKILL of the holder, acquire logs in within the lock TTL (file: at once)."""
        env = Environment("live", emulator.base_url)
        ready = forkserver.Event()
        holder = forkserver.Process(
            target=_workers.hold_login_lock, args=(store_factory, lock_key(env), 1.0, ready)
        )
        holder.start()
        try:
            assert ready.wait(30)
            os.kill(holder.pid, signal.SIGKILL)
            holder.join(5)
            provider = SharedSessionProvider(
                store_factory(), FourDLogin(RequestsTransport()), lock_wait=10.0
            )
            started = time.monotonic()
            provider.acquire(env)
            elapsed = time.monotonic() - started
        finally:
            if holder.is_alive():
                holder.kill()
        assert -signal.SIGKILL == holder.exitcode
        assert elapsed < 1.5
        assert 1 == emulator.stats()["sessions_created"]


class TestNoLeaks:
    """Through the real adapter, cookie values stay out of logs and (encrypted) store files."""

    def test_real_exchange_leaks_no_cookie(
        self, emulator: EmulatorServer, session_dir: Path
    ) -> None:
        """Login, reads, a server-side expiry and the adoption neither log nor store a cookie."""
        env = Environment("live", emulator.base_url)
        transport = RequestsTransport()
        provider = SharedSessionProvider(
            FileSessionStore(session_dir),
            FourDLogin(transport),
            codec=FernetCodec(FernetCodec.generate_key()),
        )
        backend = FourDBackend({"live": env}, provider, transport)
        with capture_logs() as events:
            backend.read_page(Query("live", "Artikel_Variante", top=1))
            first = provider.acquire(env).cookie_value
            emulator.expire_sessions()
            backend.read_page(Query("live", "Artikel_Variante", top=1))
            second = provider.acquire(env).cookie_value
        raw = b"".join(p.read_bytes() for p in session_dir.iterdir())
        assert first != second
        assert [] == [v for v in (first, second) if v in repr(events) or v.encode() in raw]
        assert "legacy_api.session.adopt" in {e["event"] for e in events}
