"""Child-process workers for the session process tests: real stores, real HTTP to the emulator."""

from __future__ import annotations

import hashlib
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import attrs

from legacy_adapters.fourd import Credentials, FourDBackend, FourDLogin, RequestsTransport
from legacy_core.errors import LegacyError, LicenceExhausted
from legacy_core.model import Environment, Query
from legacy_core.ports import SessionStore
from legacy_core.sessions import SharedSessionProvider

__all__ = ["WorkerSpec", "cookie_tag", "hold_login_lock", "licence_worker", "read_worker"]

TABLE = "Artikel_Variante"


def cookie_tag(value: str) -> str:
    """A short hash of a cookie value: comparable across processes, useless to an attacker."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@attrs.frozen
class WorkerSpec:
    """What one worker process builds: store, environments, threads and provider options."""

    store: Callable[[], SessionStore]
    environments: dict[str, str]
    threads: int = 4
    credentials: bool = False
    provider_options: dict[str, Any] = attrs.field(factory=dict)


def _build(spec: WorkerSpec) -> tuple[SharedSessionProvider, dict[str, Environment], Any]:
    envs = {name: Environment(name, url) for name, url in spec.environments.items()}
    transport = RequestsTransport(pool_size=spec.threads)
    creds = {n: Credentials("admin", "secret") for n in envs} if spec.credentials else None
    provider = SharedSessionProvider(
        spec.store(), FourDLogin(transport, creds), **spec.provider_options
    )
    return provider, envs, FourDBackend(envs, provider, transport)


def _run_threads(n: int, fn: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in range(n)]

    def run(i: int) -> None:
        try:
            results[i] = fn(i)
        except BaseException as exc:
            results[i] = {"crash": f"{exc!r}\n{traceback.format_exc()}"}

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def read_worker(
    spec: WorkerSpec, start: Any, middle: Any | None, rounds: int, results: Any
) -> None:
    """Threads wait at ``start``, read every environment ``rounds`` times, optionally meet at
    ``middle`` (the parent expires sessions there) and read again; report to ``results``."""
    provider, envs, backend = _build(spec)

    def thread(_i: int) -> dict[str, Any]:
        ok, errors = 0, []
        start.wait(30)
        phases = 2 if middle is not None else 1
        for phase in range(phases):
            if phase == 1:
                assert middle is not None
                middle.wait(30)  # the parent expires the server's sessions now
                middle.wait(30)  # ... and has done so
            for _ in range(rounds):
                for name in envs:
                    try:
                        backend.read_page(Query(name, TABLE, top=1))
                        ok += 1
                    except LegacyError as exc:
                        errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        final = {name: cookie_tag(provider.acquire(env).cookie_value) for name, env in envs.items()}
        return {"ok": ok, "errors": errors, "final": final}

    results.put(_run_threads(spec.threads, thread))


def licence_worker(
    spec: WorkerSpec, start: Any, seconds: float, stop_at_success: bool, results: Any
) -> None:
    """Threads call the backend for ``seconds`` (or until a read works, with ``stop_at_success``);
    report how many reads failed for want of a licence and how many worked."""
    _, envs, backend = _build(spec)
    (name,) = envs

    def thread(_i: int) -> dict[str, Any]:
        refused, ok, other = 0, 0, []
        start.wait(30)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                backend.read_page(Query(name, TABLE, top=1))
                ok += 1
                if stop_at_success:
                    break
            except LicenceExhausted:
                refused += 1
            except LegacyError as exc:
                other.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
            time.sleep(0.02)
        return {"refused": refused, "ok": ok, "errors": other}

    results.put(_run_threads(spec.threads, thread))


def hold_login_lock(store: Callable[[], SessionStore], key: str, ttl: float, ready: Any) -> None:
    """Take the provider's login lock like a worker stuck in a login, then hang until killed."""
    with store().lock(key, ttl, 5):
        ready.set()
        time.sleep(60)
