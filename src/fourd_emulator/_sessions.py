"""The emulator's session table: live sessions (licences), their idle expiry, the timeline.

Each session holds a licence until it is idle for its lifetime, killed (admin), or logged
out. Every change of the number of live sessions is recorded with the time, so a soak can
read licences held over time; the peak is resettable. Not thread-safe by itself: the
emulator calls it under its lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator

import attrs

__all__ = ["TIMELINE_CAP", "Session", "SessionTable"]

TIMELINE_CAP = 200_000
"""Entries of the licence timeline kept (the oldest are dropped)."""


@attrs.define
class Session:
    """One REST session: a licence while it lives."""

    id: str = attrs.field(repr=False)
    number: int
    created: float
    last_used: float
    lifetime: float
    user: str = ""
    authenticated: bool = False
    lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    @property
    def expires(self) -> float:
        """When it dies unless used again: the idle timeout runs from the last use."""
        return self.last_used + self.lifetime


class SessionTable:
    """Live sessions ordered by last use, with the peak and the licence timeline."""

    def __init__(self, now: Callable[[], float], cap: int = TIMELINE_CAP) -> None:
        self._now = now
        self._cap = cap
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._numbers = 0
        self.peak = 0
        self.timeline: deque[tuple[float, int]] = deque([(now(), 0)], maxlen=cap)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def find(self, value: str | None) -> Session | None:
        """The session of cookie ``value`` if it is still alive (a dead one is dropped)."""
        s = self._sessions.get(value) if value is not None else None
        if s is not None and s.expires <= self._now():
            del self._sessions[s.id]
            self._record()
            return None
        return s

    def touch(self, s: Session) -> None:
        """A request on ``s``: its idle timeout starts again."""
        s.last_used = self._now()
        self._sessions.move_to_end(s.id)

    def open(self, sid: str, lifetime: float) -> Session:
        """Open a session (a licence) with cookie value ``sid``."""
        now = self._now()
        self._numbers += 1
        s = Session(sid, self._numbers, now, now, lifetime)
        self._sessions[sid] = s
        self._record()
        return s

    def close(self, s: Session) -> bool:
        """Drop ``s`` (a logout); return whether it was still alive."""
        if self._sessions.get(s.id) is not s:
            return False
        alive = s.expires > self._now()
        del self._sessions[s.id]
        self._record()
        return alive

    def kill(self, session_id: str | None = None) -> int:
        """End one session (by cookie value) or all, as an administrator; return how many."""
        if session_id is None:
            n = len(self._sessions)
            self._sessions.clear()
        else:
            n = 1 if self._sessions.pop(session_id, None) is not None else 0
        if n:
            self._record()
        return n

    def purge(self, *, full: bool) -> None:
        """Drop sessions idle beyond their lifetime (``full``: all, else from the front)."""
        now = self._now()
        before = len(self._sessions)
        if full:
            for sid in [sid for sid, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[sid]
        else:
            # Ordered by last use: expired ones gather at the front.
            while self._sessions:
                first = next(iter(self._sessions.values()))
                if first.expires > now:
                    break
                self._sessions.popitem(last=False)
        if len(self._sessions) != before:
            self._record()

    def reset_peak(self) -> int:
        """Set the peak to the live sessions now and start a new timeline; return the peak."""
        self.purge(full=True)
        self.peak = len(self._sessions)
        self.timeline = deque([(self._now(), self.peak)], maxlen=self._cap)
        return self.peak

    def _record(self) -> None:
        active = len(self._sessions)
        self.peak = max(self.peak, active)
        self.timeline.append((self._now(), active))
