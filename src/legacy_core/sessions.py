"""The shared session provider: one 4D session per environment for the whole deployment.

Pure core: the store (memory, file, Redis, Django cache) and the login are injected, so
this module does no I/O of its own. The locking and fencing design is ADR 0006.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import attrs

from legacy_core._log import get_logger
from legacy_core.clock import SystemClock
from legacy_core.errors import LicenceExhausted, LockTimeout
from legacy_core.model import Environment, Session
from legacy_core.ports import Clock, Codec, LoginResult, SessionLogin, SessionStore, Versioned
from legacy_core.secrets import register_secret

__all__ = ["SharedSessionProvider", "backoff_key", "generation_key", "lock_key"]

_log = get_logger()

# The generation counter outlives any session so generations never repeat after a
# delete (a stale holder must never match a newer session: ABA). A week is far beyond
# any 4D session lifetime.
_COUNTER_TTL = 7 * 24 * 3600.0
_PAYLOAD_VERSION = 1


def lock_key(environment: Environment) -> str:
    """Return the store key of the login lock of ``environment``."""
    return environment.session_key + ":lock"


def backoff_key(environment: Environment) -> str:
    """Return the store key of the shared licence backoff of ``environment``."""
    return environment.session_key + ":licence-backoff"


def generation_key(environment: Environment) -> str:
    """Return the store key of the monotonic generation counter of ``environment``."""
    return environment.session_key + ":generation"


@attrs.frozen
class _Cached:
    session: Session
    checked_at: float
    """Monotonic time of the last check against the store."""


def _undecodable(environment: Environment, versioned: Versioned) -> None:
    _log.warning(
        "legacy_api.session.undecodable",
        environment=environment.name,
        generation=versioned.generation,
        reason="payload not readable with this key (rotated?); treating as absent",
    )


@attrs.define(repr=False, eq=False)
class SharedSessionProvider:
    """Hands out one shared session per environment, logging in only when the store has none.

    ``acquire`` answers from a per-process cache without I/O for ``recheck_interval``
    seconds after its last look at the store (so a replaced session is noticed within
    that window; a request with the old cookie fails and ``invalidate`` drops it at
    once). Logins happen under the store's lock after a re-read, so concurrent
    processes and threads cause one login. ``invalidate`` and ``adopt`` are
    compare-and-delete / compare-and-set on the generation. A 402 starts a backoff
    shared through the store during which nobody logs in.
    """

    store: SessionStore
    login: SessionLogin
    clock: Clock = attrs.field(factory=SystemClock)
    margin: float = 300.0
    jitter: float = 60.0
    codec: Codec | None = None
    lock_ttl: float = 30.0
    lock_wait: float = 60.0
    recheck_interval: float = 1.0
    """Seconds the per-process cache is trusted without reading the store."""
    licence_backoff: float = 30.0
    """First backoff after a 402; doubles on every further 402 up to the cap."""
    licence_backoff_cap: float = 900.0
    rng: random.Random = attrs.field(factory=random.Random)
    _cache: dict[str, _Cached] = attrs.field(factory=dict, init=False)
    _local_locks: dict[str, threading.Lock] = attrs.field(factory=dict, init=False)
    _guard: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _last_generation: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        _PROVIDERS.add(self)

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in the child.
        self._guard = threading.Lock()
        self._local_locks = {}

    def __repr__(self) -> str:
        return (
            f"<SharedSessionProvider store={type(self.store).__name__} "
            f"encrypted={self.codec is not None} cached={len(self._cache)}>"
        )

    # -- the port -------------------------------------------------------------------

    def acquire(self, environment: Environment) -> Session:
        """Return the environment's shared session, logging in only when there is none."""
        key = environment.session_key
        cached = self._cache.get(key)
        if (
            cached is not None
            and self.clock.monotonic() - cached.checked_at < self.recheck_interval
            and self.clock.time() < cached.session.expires_at
        ):
            return cached.session
        current = self._read_fresh(environment, cached)
        if current is not None:
            return current
        return self._slow_path(environment)

    def invalidate(self, session: Session) -> None:
        """Forget ``session`` if it is still the stored one; a stale invalidate changes nothing."""
        key = _environment_of(session).session_key
        deleted = self.store.delete_if(key, session.generation)
        with self._guard:
            cached = self._cache.get(key)
            if cached is not None and cached.session.generation == session.generation:
                del self._cache[key]
        _log.info(
            "legacy_api.session.invalidate",
            environment=session.environment,
            generation=session.generation,
            deleted=deleted,
        )

    def adopt(self, session: Session, cookie_name: str, cookie_value: str) -> Session:
        """Store the cookie the server set in place of ``session`` (CAS on its generation).

        Returns the session to use from now on: the adopted one, or the one another worker
        stored first.
        """
        if cookie_name == session.cookie_name and cookie_value == session.cookie_value:
            return session
        register_secret(cookie_value)
        environment = _environment_of(session)
        key = environment.session_key
        generation = self._next_generation(environment, None)
        now = self.clock.time()
        adopted = attrs.evolve(
            session,
            cookie_name=cookie_name,
            cookie_value=cookie_value,
            generation=generation,
            obtained_at=now,
            expires_at=now + self._soft_ttl(session.lifetime),
        )
        replaced = self.store.compare_and_set(
            key, session.generation, self._encode(adopted), adopted.expires_at - now
        )
        if not replaced:
            versioned, current = self._read(environment)
            if current is not None and self._fresh(current):
                self._remember(current)
                _log.info(
                    "legacy_api.session.adopt",
                    environment=session.environment,
                    generation=current.generation,
                    replaced=False,
                    reason="another worker replaced it first",
                )
                return current
            expected = versioned.generation if versioned is not None else None
            replaced = self.store.compare_and_set(
                key, expected, self._encode(adopted), adopted.expires_at - now
            )
        if replaced:
            self._remember(adopted)
        _log.info(
            "legacy_api.session.adopt",
            environment=session.environment,
            previous_generation=session.generation,
            generation=generation,
            cookie_name=cookie_name,
            replaced=replaced,
        )
        return adopted

    # -- extras ---------------------------------------------------------------------

    def peek(self, environment: Environment) -> Session | None:
        """Return the stored session of ``environment`` if it is fresh; never log in."""
        _, current = self._read(environment)
        return current if current is not None and self._fresh(current) else None

    def forget_local(self) -> None:
        """Drop the per-process cache (for instance in a child after ``fork``)."""
        with self._guard:
            self._cache.clear()

    # -- internals ------------------------------------------------------------------

    def _read_fresh(self, environment: Environment, cached: _Cached | None) -> Session | None:
        _, current = self._read(environment)
        if current is None or not self._fresh(current):
            return None
        if cached is None or cached.session.generation != current.generation:
            _log.info(
                "legacy_api.session.reuse",
                environment=environment.name,
                generation=current.generation,
                source="store",
            )
        self._remember(current)
        return current

    def _slow_path(self, environment: Environment) -> Session:
        key = environment.session_key
        local = self._local_lock(key)
        # One thread per process queues for the store lock; the others wait here and
        # then find the session the first one stored.
        if not local.acquire(timeout=self.lock_wait):
            msg = f"no session lock for {environment.name} within {self.lock_wait:g}s (in process)"
            raise LockTimeout(msg, environment=environment.name)
        try:
            current = self._read_fresh(environment, self._cache.get(key))
            if current is not None:
                return current
            self._check_backoff(environment)
            with self._store_lock(environment):
                versioned, current = self._read(environment)
                if current is not None and self._fresh(current):
                    _log.info(
                        "legacy_api.session.reuse",
                        environment=environment.name,
                        generation=current.generation,
                        source="store-after-lock",
                    )
                    self._remember(current)
                    return current
                self._check_backoff(environment)
                return self._login(environment, versioned)
        finally:
            local.release()

    def _login(self, environment: Environment, versioned: Versioned | None) -> Session:
        try:
            result = self.login(environment)
        except LicenceExhausted as exc:
            self._start_backoff(environment, exc)
            raise
        register_secret(result.cookie_value)
        session = self._new_session(environment, result, versioned)
        ttl = session.expires_at - session.obtained_at
        expected = versioned.generation if versioned is not None else None
        stored = self.store.compare_and_set(
            environment.session_key, expected, self._encode(session), ttl
        )
        if not stored:
            # Only when our lock expired while we logged in and someone else stored a
            # session: the generation check (fencing) kept us from overwriting it.
            _, current = self._read(environment)
            _log.warning(
                "legacy_api.session.lock_lost",
                environment=environment.name,
                generation=session.generation,
                current_generation=current.generation if current is not None else None,
            )
            if current is not None and self._fresh(current):
                self._remember(current)
                return current
        self._clear_backoff(environment)
        _log.info(
            "legacy_api.session.login",
            environment=environment.name,
            generation=session.generation,
            cookie_name=session.cookie_name,
            lifetime=session.lifetime,
            ttl=round(ttl, 1),
            stored=stored,
        )
        self._remember(session)
        return session

    def _new_session(
        self, environment: Environment, result: LoginResult, versioned: Versioned | None
    ) -> Session:
        now = self.clock.time()
        lifetime = float(result.lifetime)
        return Session(
            environment=environment.name,
            base_url=environment.base_url,
            cookie_name=result.cookie_name,
            cookie_value=result.cookie_value,
            generation=self._next_generation(environment, versioned),
            lifetime=lifetime,
            obtained_at=now,
            expires_at=now + self._soft_ttl(lifetime),
        )

    def _soft_ttl(self, lifetime: float) -> float:
        # The margin and jitter never eat more than half/quarter of a (short) lifetime.
        lifetime = max(lifetime, 1.0)
        margin = min(self.margin, lifetime / 2)
        jitter = self.rng.uniform(0.0, min(self.jitter, lifetime / 4))
        return lifetime - margin - jitter

    def _next_generation(self, environment: Environment, versioned: Versioned | None) -> int:
        """Allocate a never-repeating generation from the store's counter (CAS loop)."""
        key = generation_key(environment)
        floor = versioned.generation if versioned is not None else 0
        for _ in range(1000):
            counter = self.store.get(key)
            base = max(floor, self._last_generation, counter.generation if counter else 0)
            candidate = base + 1
            expected = counter.generation if counter is not None else None
            if self.store.compare_and_set(key, expected, Versioned(candidate, b""), _COUNTER_TTL):
                with self._guard:
                    self._last_generation = max(self._last_generation, candidate)
                return candidate
        msg = f"could not allocate a session generation for {environment.name}"
        raise LockTimeout(msg, environment=environment.name)

    def _fresh(self, session: Session) -> bool:
        return self.clock.time() < session.expires_at

    def _remember(self, session: Session) -> None:
        key = _environment_of(session).session_key
        with self._guard:
            self._cache[key] = _Cached(session, self.clock.monotonic())

    def _local_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._local_locks.setdefault(key, threading.Lock())

    @contextlib.contextmanager
    def _store_lock(self, environment: Environment) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(
                    self.store.lock(lock_key(environment), self.lock_ttl, self.lock_wait)
                )
            except LockTimeout as exc:
                msg = (
                    f"session lock of {environment.name} not free within {self.lock_wait:g}s "
                    "(another worker is logging in, or hung)"
                )
                raise LockTimeout(msg, environment=environment.name) from exc
            yield

    # -- payloads -------------------------------------------------------------------

    def _encode(self, session: Session) -> Versioned:
        data = {
            "v": _PAYLOAD_VERSION,
            "environment": session.environment,
            "base_url": session.base_url,
            "cookie_name": session.cookie_name,
            "cookie_value": session.cookie_value,
            "lifetime": session.lifetime,
            "obtained_at": session.obtained_at,
            "expires_at": session.expires_at,
        }
        payload = json.dumps(data, separators=(",", ":")).encode()
        if self.codec is not None:
            payload = self.codec.encode(payload)
        return Versioned(session.generation, payload)

    def _read(self, environment: Environment) -> tuple[Versioned | None, Session | None]:
        versioned = self.store.get(environment.session_key)
        if versioned is None:
            return None, None
        try:
            payload = versioned.payload
            if self.codec is not None:
                payload = self.codec.decode(payload)
            data: dict[str, Any] = json.loads(payload)
            if data.get("base_url") != environment.base_url:
                msg = "stored session belongs to another base URL"
                raise ValueError(msg)  # noqa: TRY301 - handled with the other decode failures below
            session = Session(
                environment=environment.name,
                base_url=environment.base_url,
                cookie_name=str(data["cookie_name"]),
                cookie_value=str(data["cookie_value"]),
                generation=versioned.generation,
                lifetime=float(data["lifetime"]),
                obtained_at=float(data["obtained_at"]),
                expires_at=float(data["expires_at"]),
            )
        except (ValueError, KeyError, TypeError):
            _undecodable(environment, versioned)
            return versioned, None
        register_secret(session.cookie_value)
        return versioned, session

    # -- licence backoff ------------------------------------------------------------

    def _check_backoff(self, environment: Environment) -> None:
        versioned = self.store.get(backoff_key(environment))
        if versioned is None:
            return
        state = _backoff_state(versioned)
        remaining = state["until"] - self.clock.time()
        if remaining > 0:
            msg = (
                f"{environment.name}: no 4D licence free; not logging in for another "
                f"{remaining:.0f}s (shared backoff)"
            )
            raise LicenceExhausted(
                msg,
                environment=environment.name,
                status=402,
                retry_after=remaining,
                not_applied=True,
            )

    def _start_backoff(self, environment: Environment, error: LicenceExhausted) -> None:
        key = backoff_key(environment)
        for _ in range(10):
            versioned = self.store.get(key)
            previous = _backoff_state(versioned)["delay"] if versioned is not None else 0.0
            delay = min(
                self.licence_backoff_cap, previous * 2 if previous else self.licence_backoff
            )
            if error.retry_after is not None:
                delay = max(delay, min(error.retry_after, self.licence_backoff_cap))
            until = self.clock.time() + delay
            payload = json.dumps({"until": until, "delay": delay}).encode()
            expected = versioned.generation if versioned is not None else None
            generation = (expected or 0) + 1
            # The record outlives the wait by the cap, so the next 402 doubles the delay.
            if self.store.compare_and_set(
                key, expected, Versioned(generation, payload), delay + self.licence_backoff_cap
            ):
                _log.warning(
                    "legacy_api.session.licence_backoff",
                    environment=environment.name,
                    delay=delay,
                    attempt=generation,
                )
                error.retry_after = delay
                return

    def _clear_backoff(self, environment: Environment) -> None:
        key = backoff_key(environment)
        versioned = self.store.get(key)
        if versioned is not None:
            self.store.delete_if(key, versioned.generation)


_PROVIDERS: weakref.WeakSet[SharedSessionProvider] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for provider in list(_PROVIDERS):
        provider._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _backoff_state(versioned: Versioned | None) -> dict[str, float]:
    if versioned is None:
        return {"until": 0.0, "delay": 0.0}
    try:
        data = json.loads(versioned.payload)
        return {"until": float(data["until"]), "delay": float(data["delay"])}
    except (ValueError, KeyError, TypeError):
        return {"until": 0.0, "delay": 0.0}


@functools.lru_cache(maxsize=64)
def _environment_of_parts(name: str, base_url: str) -> Environment:
    return Environment(name, base_url)


def _environment_of(session: Session) -> Environment:
    return _environment_of_parts(session.environment, session.base_url)
