"""Django signals of the sync engine (ADR 0034).

``legacy_sync_batch`` is sent once per committed batch of a Django sink, after its
transaction committed (``transaction.on_commit``), with keyword arguments ``mapping``
(the mapping's name), ``events`` (the batch's ``ChangeEvent`` list, possibly empty on the
run's last batch), ``finished`` (True for the run's last batch) and ``using`` (the
database alias); ``sender`` is the synced model class. A crash between the commit and
the signal loses that signal (at most once): what must not be lost reads the
``SyncEvent`` outbox, which is written in the batch's transaction (exactly once).
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["legacy_sync_batch"]

legacy_sync_batch = Signal()
