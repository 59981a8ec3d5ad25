"""One run per mapping across a deployment: a Redis lock that hands out a fencing token.

redis-py's ``Lock`` does the locking (``SET NX PX`` to take it, Lua scripts that extend or
release it only while the stored value is still this holder's). Taking it also ``INCR``s
a counter per mapping in the same Lua script, so every holder gets a token larger than
every earlier holder's. The sink stores the newest token it has seen with the checkpoint
and refuses an older one (``StaleRun``): a worker that paused past the lock's expiry can
no longer overwrite the run that took over (ADR 0035).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import redis
from redis.lock import Lock

from legacy_core._log import get_logger

__all__ = ["FencedLock", "RunLock", "fence_key", "lock_key"]

_log = get_logger()

# Take the lock (SET NX PX) and, only if it was taken, draw the next fencing token.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('incr', KEYS[2])
end
return false
"""


def lock_key(prefix: str, mapping: str) -> str:
    """The Redis key of ``mapping``'s run lock."""
    return f"{prefix}:lock:{mapping}"


def fence_key(prefix: str, mapping: str) -> str:
    """The Redis key of ``mapping``'s fencing counter (never expires)."""
    return f"{prefix}:fence:{mapping}"


class FencedLock(Lock):
    """redis-py's Lock whose acquisition also draws a fencing token (``fence``)."""

    def __init__(
        self, client: redis.Redis[bytes], name: str, fence_name: str, **kwargs: Any
    ) -> None:
        """A lock at ``name`` drawing tokens from the counter at ``fence_name``."""
        super().__init__(client, name, **kwargs)
        self.fence_name = fence_name
        self.fence: int | None = None
        self._acquire_script = client.register_script(_ACQUIRE)

    def do_acquire(self, token: str | bytes) -> bool:
        """``SET NX PX`` and ``INCR`` in one script: no token is drawn without the lock."""
        if self.timeout is None:
            msg = "a fenced lock needs a timeout (a holder that dies must not hold it forever)"
            raise ValueError(msg)
        got = self._acquire_script(
            keys=[self.name, self.fence_name], args=[token, int(self.timeout * 1000)]
        )
        if got is None:
            return False
        self.fence = int(got)
        return True


class RunLock:
    """Hold ``mapping``'s deployment-wide run lock; ``fence`` is this holding's token.

    ``acquire()`` waits up to ``wait`` seconds (0: one try) and answers whether it got the
    lock. While held, a daemon thread extends it to ``ttl`` every ``renew_every`` seconds
    (default: a third of ``ttl``; 0: never, so the lock expires ``ttl`` after it was
    taken). ``lost`` becomes True when a renewal finds the lock gone (expired and maybe
    taken by another run): the sink's fence check then keeps this run from overwriting
    the newer one.
    """

    def __init__(
        self,
        client: redis.Redis[bytes],
        mapping: str,
        *,
        ttl: float = 60.0,
        wait: float = 0.0,
        renew_every: float | None = None,
        prefix: str = "legacy_api:sync",
    ) -> None:
        """A run lock of ``mapping``; ``renew_every`` defaults to a third of ``ttl``."""
        self.mapping = mapping
        self.ttl = ttl
        self.wait = wait
        self.renew_every: float | None = ttl / 3 if renew_every is None else renew_every
        if renew_every == 0:
            self.renew_every = None
        self.lost = False
        self._redis = client
        # thread_local=False: the renewing thread must see the token the worker took.
        self._lock = FencedLock(
            client,
            lock_key(prefix, mapping),
            fence_key(prefix, mapping),
            timeout=ttl,
            sleep=0.05,
            thread_local=False,
        )
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def fence(self) -> int | None:
        """The fencing token of the current holding (None before one was taken)."""
        return self._lock.fence

    def holder_fence(self) -> int | None:
        """The newest token drawn for this mapping (the current or the last holder's)."""
        value = self._redis.get(self._lock.fence_name)
        return None if value is None else int(value)

    def acquire(self) -> bool:
        """Take the lock, waiting up to ``wait`` seconds; True when taken."""
        got = bool(self._lock.acquire(blocking=self.wait > 0, blocking_timeout=self.wait or None))
        if got and self.renew_every is not None:
            self._stop.clear()
            self._renewer = threading.Thread(
                target=self._renew, name=f"sync-lock-{self.mapping}", daemon=True
            )
            self._renewer.start()
        return got

    def _renew(self) -> None:
        assert self.renew_every is not None
        while not self._stop.wait(self.renew_every):
            try:
                self._lock.reacquire()
            except redis.exceptions.LockError:
                self.lost = True
                _log.warning("sync_lock_lost", mapping=self.mapping, fence=self.fence)
                return
            except redis.exceptions.RedisError as exc:  # try again at the next tick
                _log.warning("sync_lock_renew_failed", mapping=self.mapping, error=str(exc))

    def release(self) -> None:
        """Stop renewing and release the lock if it is still ours (an expired one is gone)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        try:
            self._lock.release()
        except redis.exceptions.LockError:
            self.lost = True

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
