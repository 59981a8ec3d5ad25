"""The shared session provider: one 4D session, one licence, per environment for the deployment.

Pure core: the store (memory, file, Redis, Django cache), the login and the logout are
injected, so this module does no I/O of its own. The algorithm is ADR 0012 (it
supersedes ADR 0006): idle-based expiry shared through the store, single-flight
recovery after a loss, orphans logged out, one 402 policy.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import weakref
from collections.abc import Iterator

import attrs

from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core._session_records import decode_session, encode_session
from legacy_core.clock import SystemClock
from legacy_core.errors import LegacyError, LicenceExhausted, LockTimeout
from legacy_core.licence import LicencePolicy, backoff_key
from legacy_core.model import Environment, Session
from legacy_core.ports import (
    Clock,
    Codec,
    LoginResult,
    LogoutOutcome,
    RecoveryReason,
    SessionLogin,
    SessionLogout,
    SessionStore,
    Versioned,
)
from legacy_core.secrets import register_secret

__all__ = ["SharedSessionProvider", "backoff_key", "generation_key", "lock_key"]
# backoff_key lives in legacy_core.licence; re-exported here where the other keys are.

_log = get_logger()

# The generation counter outlives any session so generations never repeat after a
# delete (a stale holder must never match a newer session: ABA). A week is far beyond
# any 4D session lifetime.
_COUNTER_TTL = 7 * 24 * 3600.0
# Cookie values stay redacted this long after they were last seen (a 4D session idles out
# after its lifetime, at least an hour; a dead cookie opens nothing).
_COOKIE_SECRET_TTL = 3 * 3600.0

_STAT_NAMES = (
    "logins",
    "recoveries",
    "adopted",
    "reused_after_loss",
    "refreshes",
    "orphans_closed",
    "orphans_left",
    "logouts_unsupported",
    "licence_refusals",
    "licence_backoffs",
    "touches",
    "lock_lost",
)


def lock_key(environment: Environment) -> str:
    """Return the store key of the login lock of ``environment``."""
    return environment.session_key + ":lock"


def generation_key(environment: Environment) -> str:
    """Return the store key of the monotonic generation counter of ``environment``."""
    return environment.session_key + ":generation"


@attrs.define
class _Local:
    """What this process knows about one environment's session."""

    session: Session
    checked_at: float
    """Monotonic time of the last look at the store."""
    last_used: float
    """Wall time of the last use seen here or in the store."""
    touched_at: float
    """Wall time of the last use written to the store."""


@attrs.frozen
class _Orphan:
    """A session the client will not keep; closed at once so it frees its licence."""

    cookie_name: str
    cookie_value: str = attrs.field(repr=False)
    generation: int | None
    why: str


def _undecodable(environment: Environment, versioned: Versioned) -> None:
    _log.warning(
        "legacy_api.session.undecodable",
        environment=environment.name,
        generation=versioned.generation,
        reason="payload not readable with this key (rotated?); treating as absent",
    )


@attrs.define(repr=False, eq=False)
class SharedSessionProvider:
    """Hands out one shared session per environment and keeps it to one 4D licence.

    ``acquire`` reads the store (or trusts a per-process cache for ``recheck_interval``
    seconds after its last look). A session's expiry is *idle*-based, as on the server:
    its last use is written to the store at most every ``touch_interval`` seconds, and a
    session is replaced only when the server says it is gone (``recover``) or it has been
    idle for longer than its lifetime minus ``margin``; the idle one is logged out
    first. Logins happen under the store's lock after a re-read, so concurrent
    processes and threads cause one. A session the client will not keep is logged out
    at once through ``logout`` (best-effort; a server without it is remembered). A 402
    on a login is retried after the short ``licence_grace`` waits (orphans being freed),
    then starts a backoff shared through the store during which nobody logs in.
    """

    store: SessionStore
    login: SessionLogin
    clock: Clock = attrs.field(factory=SystemClock)
    logout: SessionLogout | None = None
    margin: float = 300.0
    """Seconds before the server's idle timeout at which an unused session is replaced."""
    touch_interval: float = 5.0
    """Seconds between writes of the last use to the store (per process)."""
    codec: Codec | None = None
    lock_ttl: float = 30.0
    lock_wait: float = 60.0
    recheck_interval: float = 0.0
    """Seconds the per-process cache is trusted without reading the store. 0 (the default)
    reads it on every acquire, so a session another process replaced is used at once
    instead of opening one more 4D session per process after a loss (ADR 0012)."""
    licence_grace: tuple[float, ...] = (0.1, 0.3, 0.6)
    """Waits before the login is retried after a 402, before the shared backoff starts."""
    licence_backoff: float = 30.0
    """First backoff after a 402; doubles on every further 402 up to the cap."""
    licence_backoff_cap: float = 900.0
    _local: dict[str, _Local] = attrs.field(factory=dict, init=False)
    _local_locks: dict[str, threading.Lock] = attrs.field(factory=dict, init=False)
    _guard: threading.Lock = attrs.field(factory=threading.Lock, init=False)
    _gates: dict[str, int] = attrs.field(factory=dict, init=False)
    _gate_cv: threading.Condition = attrs.field(factory=threading.Condition, init=False)
    _no_logout: set[str] = attrs.field(factory=set, init=False)
    _stats: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(_STAT_NAMES, 0), init=False)
    _last_generation: int = attrs.field(default=0, init=False)
    _licence: LicencePolicy = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._licence = LicencePolicy(
            self.store,
            self.clock,
            grace=self.licence_grace,
            first=self.licence_backoff,
            cap=self.licence_backoff_cap,
        )
        _PROVIDERS.add(self)

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held forever in the child.
        self._guard = threading.Lock()
        self._local_locks = {}
        self._gate_cv = threading.Condition()
        self._gates = {}

    def __repr__(self) -> str:
        return (
            f"<SharedSessionProvider store={type(self.store).__name__} "
            f"encrypted={self.codec is not None} cached={len(self._local)}>"
        )

    # -- the port -------------------------------------------------------------------

    def acquire(self, environment: Environment) -> Session:
        """Return the environment's shared session, logging in only when there is none."""
        self._pass_gate(environment.session_key)
        current = self.acquire_nowait(environment)
        if current is not None:
            return current
        now = self.clock.time()
        current = self._slow_path(environment)
        self._use(environment, current, now)
        return current

    def acquire_nowait(self, environment: Environment) -> Session | None:
        """The shared session if one is usable now without logging in or waiting, else None.

        The async client's fast path on its event loop (ADR 0024): None while this
        process recovers the environment's session (``acquire`` would wait at the gate)
        or when there is no fresh session (``acquire`` would log in); the store read it
        may make is the same short one ``acquire`` makes.
        """
        key = environment.session_key
        if key in self._gates:
            return None
        now = self.clock.time()
        with self._guard:
            local = self._local.get(key)
        if (
            local is not None
            and self.clock.monotonic() - local.checked_at < self.recheck_interval
            and now < self._idle_expiry(local.session, local.last_used)
        ):
            self._use(environment, local.session, now)
            return local.session
        current = self._read_fresh(environment)
        if current is not None:
            self._use(environment, current, now)
        return current

    def invalidate(self, session: Session) -> None:
        """Forget ``session`` if it is still the stored one; a stale invalidate changes nothing."""
        key = _environment_of(session).session_key
        deleted = self.store.delete_if(key, session.generation)
        self._forget(key, session.generation)
        _log.info(
            "legacy_api.session.invalidate",
            environment=session.environment,
            generation=session.generation,
            deleted=deleted,
        )

    def recover(
        self,
        session: Session,
        *,
        reason: RecoveryReason,
        cookie: tuple[str, str] | None = None,
    ) -> Session:
        """Re-establish the session after a response showed ``session`` gone; single-flight.

        Further ``acquire`` calls of this process wait until the recovery is done. Under
        the locks the store is read again: a session someone else stored meanwhile is
        used and ``cookie`` (the session this response opened, if any) is logged out;
        otherwise ``cookie`` is stored (``set-cookie``), logged in on (``401``), or a new
        login is made (a ``402`` with the current session; a 402 with an older cookie just
        returns the stored session). Returns the session to use from now on.
        """
        environment = _environment_of(session)
        key = environment.session_key
        if cookie is not None and cookie == (session.cookie_name, session.cookie_value):
            cookie = None
        if cookie is None and reason == "set-cookie":
            return session
        if cookie is not None:
            register_secret(cookie[1], ttl=_COOKIE_SECRET_TTL)
        orphans: list[_Orphan] = []
        self._enter_gate(key)
        try:
            self._count("recoveries")
            if cookie is not None and reason == "set-cookie":
                result = self._adopt_cookie(environment, session, cookie, orphans)
            else:
                with self._local_lock_held(environment):
                    result = self._recover_locked(environment, session, reason, cookie, orphans)
        finally:
            self._leave_gate(key)
        self._close_all(environment, orphans)
        return result

    # -- extras ---------------------------------------------------------------------

    def adopt(self, session: Session, cookie_name: str, cookie_value: str) -> Session:
        """Take the cookie a response set in place of ``session``: ``recover`` by Set-Cookie."""
        return self.recover(session, reason="set-cookie", cookie=(cookie_name, cookie_value))

    def refresh(self, environment: Environment) -> Session:
        """Log in anew now, store the new session and log the replaced one out."""
        orphans: list[_Orphan] = []
        with self._local_lock_held(environment), self._store_lock(environment):
            versioned, current = self._read(environment)
            failed = current.generation if current is not None else None
            session = self._login(environment, versioned, orphans, failed_generation=failed)
            if current is not None and current.generation != session.generation:
                orphans.append(_orphan(current, "refresh"))
            self._count("refreshes")
        self._close_all(environment, orphans)
        return session

    def peek(self, environment: Environment) -> Session | None:
        """Return the stored session of ``environment`` if it is fresh; never log in."""
        _, current = self._read(environment)
        if current is None or self.clock.time() >= current.expires_at:
            return None
        return current

    def forget_local(self) -> None:
        """Drop the per-process cache (for instance in a child after ``fork``)."""
        with self._guard:
            self._local.clear()

    def stats(self) -> dict[str, int]:
        """Counters of this process: logins, recoveries, orphans closed and left, 402s, ..."""
        with self._guard:
            return dict(self._stats)

    # -- internals: expiry and use --------------------------------------------------

    def _window(self, lifetime: float) -> float:
        # The margin never eats more than half of a (short) lifetime.
        lifetime = max(lifetime, 1.0)
        return lifetime - min(self.margin, lifetime / 2)

    def _idle_expiry(self, session: Session, last_used: float) -> float:
        return max(last_used, session.last_used) + self._window(session.lifetime)

    def _use(self, environment: Environment, session: Session, now: float) -> None:
        """Record a use; write it to the store when the last write is ``touch_interval`` old."""
        key = environment.session_key
        with self._guard:
            local = self._local.get(key)
            if local is None or local.session.generation != session.generation:
                return
            local.last_used = max(local.last_used, now)
            due = now - local.touched_at >= self.touch_interval
            if due:
                local.touched_at = now
        if not due:
            return
        touched = attrs.evolve(
            session, last_used=now, expires_at=now + self._window(session.lifetime)
        )
        # Same generation: a touch never changes which session is current.
        written = self.store.compare_and_set(
            key, session.generation, self._encode(touched), session.lifetime
        )
        self._count("touches")
        if not written:
            self._forget(key, session.generation)

    def _read_fresh(self, environment: Environment) -> Session | None:
        """The stored session if it is not idle-expired (remembered), else None."""
        _, current = self._read(environment)
        if current is None:
            return None
        key = environment.session_key
        with self._guard:
            local = self._local.get(key)
        seen = local.last_used if local and local.session.generation == current.generation else 0.0
        if self.clock.time() >= self._idle_expiry(current, seen):
            return None
        if local is None or local.session.generation != current.generation:
            _log.info(
                "legacy_api.session.reuse",
                environment=environment.name,
                generation=current.generation,
                source="store",
            )
        self._remember(current, last_used=max(seen, current.last_used))
        return current

    def _fresh(self, session: Session) -> bool:
        return self.clock.time() < self._idle_expiry(session, 0.0)

    # -- internals: login -----------------------------------------------------------

    def _slow_path(self, environment: Environment) -> Session:
        orphans: list[_Orphan] = []
        try:
            with self._local_lock_held(environment):
                # One thread per process queues for the store lock; the others wait here
                # and then find the session the first one stored.
                current = self._read_fresh(environment)
                if current is not None:
                    return current
                self._licence.check(environment)
                with self._store_lock(environment):
                    versioned, current = self._read(environment)
                    if current is not None and self._fresh(current):
                        _log.info(
                            "legacy_api.session.reuse",
                            environment=environment.name,
                            generation=current.generation,
                            source="store-after-lock",
                        )
                        self._remember(current, last_used=current.last_used)
                        return current
                    self._licence.check(environment)
                    if current is not None:
                        # Idle beyond lifetime minus margin but perhaps alive: free its
                        # licence before taking another one.
                        self._close(environment, _orphan(current, "idle"))
                    return self._login(environment, versioned, orphans)
        finally:
            self._close_all(environment, orphans)

    def _adopt_cookie(
        self,
        environment: Environment,
        failed: Session,
        cookie: tuple[str, str],
        orphans: list[_Orphan],
    ) -> Session:
        """Keep the session the server opened and answered on; no lock, CAS on the generation.

        No lock is needed: the session exists already, and the compare-and-set on the
        failed generation lets exactly one of the racing cookies in; the others are orphans.
        """
        candidate = _Orphan(cookie[0], cookie[1], None, "lost the race (set-cookie)")
        for _ in range(10):
            # One read decides: the compare-and-set below expects exactly what it saw.
            versioned, current = self._read(environment)
            found = self._replacement(
                environment, failed.generation, candidate, orphans, read=(versioned, current)
            )
            if found is not None:
                return found
            adopted = self._adopted(environment, failed, cookie, versioned)
            expected = versioned.generation if versioned is not None else None
            if self.store.compare_and_set(
                environment.session_key, expected, self._encode(adopted), adopted.lifetime
            ):
                if current is not None and current.generation != failed.generation:
                    # Idle-expired (else it would be the replacement): close it too.
                    orphans.append(_orphan(current, "idle"))
                self._count("adopted")
                _log.info(
                    "legacy_api.session.adopt",
                    environment=environment.name,
                    previous_generation=failed.generation,
                    generation=adopted.generation,
                    cookie_name=adopted.cookie_name,
                )
                self._remember(adopted, last_used=adopted.last_used)
                return adopted
        msg = f"could not store the new session of {environment.name} (store contended)"
        raise LockTimeout(msg, environment=environment.name)

    def _recover_locked(
        self,
        environment: Environment,
        failed: Session,
        reason: RecoveryReason,
        cookie: tuple[str, str] | None,
        orphans: list[_Orphan],
    ) -> Session:
        """After a 401 or 402: use what others stored meanwhile, else log in once."""
        candidate = (
            _Orphan(cookie[0], cookie[1], None, f"lost the race ({reason})") if cookie else None
        )
        # Another thread or process may have re-established it already: no store lock needed.
        found = self._replacement(environment, failed.generation, candidate, orphans)
        if found is not None:
            return found
        with self._store_lock(environment):
            versioned, current = self._read(environment)
            found = self._replacement(
                environment, failed.generation, candidate, orphans, read=(versioned, current)
            )
            if found is not None:
                return found
            if current is not None and current.generation != failed.generation:
                orphans.append(_orphan(current, "idle"))
            self._licence.check(environment)
            # A 401 that set a cookie has opened a session already: log in on that one.
            # After a 402 the stored session is the one that failed: the server lost it
            # and had no licence for another; the login decides (grace, then backoff).
            on = cookie if reason == "401" else None
            if candidate is not None and on is None:
                orphans.append(candidate)
            return self._login(
                environment, versioned, orphans, cookie=on, failed_generation=failed.generation
            )

    def _replacement(
        self,
        environment: Environment,
        failed_generation: int | None,
        candidate: _Orphan | None,
        orphans: list[_Orphan],
        *,
        read: tuple[Versioned | None, Session | None] | None = None,
    ) -> Session | None:
        """The stored session if it is fresh and not the failed one (candidate orphaned)."""
        _, current = read if read is not None else self._read(environment)
        if current is None or current.generation == failed_generation or not self._fresh(current):
            return None
        if candidate is not None:
            orphans.append(candidate)
        self._count("reused_after_loss")
        _log.info(
            "legacy_api.session.reuse",
            environment=environment.name,
            generation=current.generation,
            failed_generation=failed_generation,
            source="store-after-loss",
        )
        self._remember(current, last_used=current.last_used)
        return current

    def _adopted(
        self,
        environment: Environment,
        failed: Session,
        cookie: tuple[str, str],
        versioned: Versioned | None,
    ) -> Session:
        now = self.clock.time()
        return attrs.evolve(
            failed,
            cookie_name=cookie[0],
            cookie_value=cookie[1],
            generation=self._next_generation(environment, versioned),
            obtained_at=now,
            last_used=now,
            expires_at=now + self._window(failed.lifetime),
        )

    def _login(
        self,
        environment: Environment,
        versioned: Versioned | None,
        orphans: list[_Orphan],
        *,
        cookie: tuple[str, str] | None = None,
        failed_generation: int | None = None,
    ) -> Session:
        """Log in (under the store lock) and store the session with a new generation.

        A 402 is retried after the ``licence_grace`` waits (the store is read again in
        between: a session another worker stored meanwhile is used instead), then the
        shared backoff starts and the LicenceExhausted propagates.
        """
        waits = self._licence.grace
        attempt = 0
        while True:
            try:
                if cookie is None:
                    result = self.login(environment)
                else:
                    result = self.login(environment, cookie=cookie)
                break
            except LicenceExhausted as exc:
                self._count("licence_refusals")
                if attempt >= len(waits):
                    delay = self._licence.start(environment, exc)
                    if delay is None:
                        raise
                    self._count("licence_backoffs")
                    raise exc.evolve(retry_after=delay) from exc.__cause__
            # A 402 right after a loss is often an orphan being logged out elsewhere.
            self.clock.sleep(waits[attempt])
            attempt += 1
            read = self._read(environment)
            found = self._replacement(environment, failed_generation, None, orphans, read=read)
            if found is not None:
                return found
            versioned = read[0]
        return self._store_login(environment, result, versioned, orphans, on_existing=cookie)

    def _store_login(
        self,
        environment: Environment,
        result: LoginResult,
        versioned: Versioned | None,
        orphans: list[_Orphan],
        *,
        on_existing: tuple[str, str] | None,
    ) -> Session:
        register_secret(result.cookie_value, ttl=_COOKIE_SECRET_TTL)
        session = self._new_session(environment, result, versioned)
        key = environment.session_key
        expected = versioned.generation if versioned is not None else None
        stored = self.store.compare_and_set(key, expected, self._encode(session), session.lifetime)
        if not stored:
            # Our lock expired while we logged in, or a cookie was adopted meanwhile
            # (adoption takes no lock): the generation check kept us from overwriting it.
            self._count("lock_lost")
            latest, current = self._read(environment)
            _log.info(
                "legacy_api.session.lock_lost",
                environment=environment.name,
                generation=session.generation,
                current_generation=current.generation if current is not None else None,
            )
            if current is not None and self._fresh(current):
                orphans.append(_orphan(session, "stored meanwhile by another worker"))
                self._remember(current, last_used=current.last_used)
                return current
            expected = latest.generation if latest is not None else None
            stored = self.store.compare_and_set(
                key, expected, self._encode(session), session.lifetime
            )
        self._licence.clear(environment)
        self._count("logins")
        _log.info(
            "legacy_api.session.login",
            environment=environment.name,
            generation=session.generation,
            cookie_name=session.cookie_name,
            lifetime=session.lifetime,
            on_existing=on_existing is not None,
            stored=stored,
        )
        self._remember(session, last_used=session.last_used)
        return session

    def _new_session(
        self, environment: Environment, result: LoginResult, versioned: Versioned | None
    ) -> Session:
        now = self.clock.time()
        lifetime = max(float(result.lifetime), 1.0)
        return Session(
            environment=environment.name,
            base_url=environment.base_url,
            cookie_name=result.cookie_name,
            cookie_value=result.cookie_value,
            generation=self._next_generation(environment, versioned),
            lifetime=lifetime,
            obtained_at=now,
            expires_at=now + self._window(lifetime),
            last_used=now,
        )

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

    # -- internals: orphans ---------------------------------------------------------

    def _close_all(self, environment: Environment, orphans: list[_Orphan]) -> None:
        seen: set[str] = set()
        for orphan in orphans:
            if orphan.cookie_value not in seen:
                seen.add(orphan.cookie_value)
                self._close(environment, orphan)

    def _close(self, environment: Environment, orphan: _Orphan) -> None:
        """Log ``orphan`` out, best-effort, and count whether its licence is free."""
        key = environment.session_key
        outcome: LogoutOutcome | None = None
        if self.logout is not None and key not in self._no_logout:
            try:
                outcome = self.logout(environment, orphan.cookie_name, orphan.cookie_value)
            except LegacyError:
                outcome = "failed"
            if outcome == "unsupported":
                with self._guard:
                    self._no_logout.add(key)
                self._count("logouts_unsupported")
                _log.warning(
                    "legacy_api.session.logout_unsupported",
                    environment=environment.name,
                    reason="the server has no $directory/logout; orphans idle out instead",
                )
        closed = outcome == "closed"
        self._count("orphans_closed" if closed else "orphans_left")
        _log.info(
            "legacy_api.session.orphan",
            environment=environment.name,
            generation=orphan.generation,
            why=orphan.why,
            closed=closed,
            logout=outcome or "off",
        )

    # -- internals: state -----------------------------------------------------------

    def _count(self, name: str) -> None:
        with self._guard:
            self._stats[name] += 1
        instrument.session_event(name)

    def _remember(self, session: Session, *, last_used: float) -> None:
        # touched_at is what the store holds: a local use not written yet stays due.
        key = _environment_of(session).session_key
        with self._guard:
            self._local[key] = _Local(session, self.clock.monotonic(), last_used, session.last_used)

    def _forget(self, key: str, generation: int) -> None:
        with self._guard:
            local = self._local.get(key)
            if local is not None and local.session.generation == generation:
                del self._local[key]

    def _enter_gate(self, key: str) -> None:
        with self._gate_cv:
            self._gates[key] = self._gates.get(key, 0) + 1

    def _leave_gate(self, key: str) -> None:
        with self._gate_cv:
            left = self._gates.get(key, 1) - 1
            if left > 0:
                self._gates[key] = left
            else:
                self._gates.pop(key, None)
            self._gate_cv.notify_all()

    def _pass_gate(self, key: str) -> None:
        # While a loss is being recovered, new requests of this process would carry the
        # dead cookie and make the server open a session each: wait for the new one.
        if key not in self._gates:  # the common case, without taking the condition's lock
            return
        with self._gate_cv:
            self._gate_cv.wait_for(lambda: key not in self._gates, timeout=self.lock_wait)

    def _local_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._local_locks.setdefault(key, threading.Lock())

    @contextlib.contextmanager
    def _local_lock_held(self, environment: Environment) -> Iterator[None]:
        local = self._local_lock(environment.session_key)
        if not local.acquire(timeout=self.lock_wait):
            msg = f"no session lock for {environment.name} within {self.lock_wait:g}s (in process)"
            raise LockTimeout(msg, environment=environment.name)
        try:
            yield
        finally:
            local.release()

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
        return encode_session(session, self.codec)

    def _read(self, environment: Environment) -> tuple[Versioned | None, Session | None]:
        versioned = self.store.get(environment.session_key)
        if versioned is None:
            return None, None
        try:
            session = decode_session(environment, versioned, self.codec, self._window)
        except (ValueError, KeyError, TypeError):
            _undecodable(environment, versioned)
            return versioned, None
        register_secret(session.cookie_value, ttl=_COOKIE_SECRET_TTL)
        return versioned, session


_PROVIDERS: weakref.WeakSet[SharedSessionProvider] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for provider in list(_PROVIDERS):
        provider._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _orphan(session: Session, why: str) -> _Orphan:
    return _Orphan(session.cookie_name, session.cookie_value, session.generation, why)


@functools.lru_cache(maxsize=64)
def _environment_of_parts(name: str, base_url: str) -> Environment:
    return Environment(name, base_url)


def _environment_of(session: Session) -> Environment:
    return _environment_of_parts(session.environment, session.base_url)
