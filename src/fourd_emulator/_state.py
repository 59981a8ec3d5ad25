"""The emulator's shared state (data, sessions, entity sets, audit, clock, faults, counters).

One object every collaborator of the app holds. Its two locks keep their order: ``write_lock``
(then a table's lock) before ``lock``; ``lock`` is re-entrant and guards everything else.
Fields change only under ``lock``, except the rows, which writes change under ``write_lock``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import attrs

from fourd_emulator._config import EmulatorConfig, Faults
from fourd_emulator._faults import FaultDice
from fourd_emulator._sessions import SessionTable
from fourd_emulator._stats import Counters
from fourd_emulator._store import Database

__all__ = ["EntitySet", "State"]


@attrs.define
class EntitySet:
    """A snapshot of a selection (row indexes), alive until idle for ``timeout`` seconds."""

    id: str
    table: str
    indexes: list[int]
    timeout: float
    last_used: float
    sorted: bool

    @property
    def expires(self) -> float:
        """When it dies unless used again."""
        return self.last_used + self.timeout


class State:
    """Everything a request may read or change, and the locks that guard it."""

    entity_sets: dict[str, EntitySet]
    audit: list[dict[str, Any]]
    clock_offset: float
    sessions: SessionTable
    dice: FaultDice
    global_stamp: int
    inflight: int
    stats: Counters

    def __init__(self, config: EmulatorConfig, timeline_cap: int) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.write_lock = threading.Lock()
        self.db = Database(config.seed, config.rows, change_tracking=config.change_tracking)
        self._fresh(timeline_cap)

    def reset(self, timeline_cap: int) -> None:
        """Back to the seeded state (the caller holds ``write_lock`` and ``lock``)."""
        self.db.restore()
        self._fresh(timeline_cap)

    def _fresh(self, timeline_cap: int) -> None:
        cfg = self.config
        self.entity_sets = {}
        self.audit = []
        self.clock_offset = 0.0
        self.sessions = SessionTable(self.now, timeline_cap)
        self.dice = FaultDice(Faults(seed=cfg.seed))
        self._id_rng = random.Random(cfg.seed ^ 0x4D4D4D)  # noqa: S311 - ids are not secrets here
        self.global_stamp = 0
        self.inflight = 0
        self.stats = Counters()

    def now(self) -> float:
        """Return the emulator's wall clock (real time plus what ``advance_clock`` added)."""
        return time.time() + self.clock_offset

    def new_id(self) -> str:
        """A fresh 32-hex id (session cookie, entity set, catalog ``__UNIQID``), seeded."""
        with self.lock:
            return f"{self._id_rng.getrandbits(128):032X}"

    def licence_cap(self) -> int | None:
        """The licences in force: the faults' override, else the configured cap."""
        f = self.dice.faults
        return f.licences if f.licences_override else self.config.licences

    def purge(self, *, full: bool) -> None:
        """Drop expired sessions (``full``: all of them, and expired entity sets too)."""
        self.sessions.purge(full=full)
        if full:
            now = self.now()
            for eid in [e for e, s in self.entity_sets.items() if s.expires <= now]:
                del self.entity_sets[eid]
