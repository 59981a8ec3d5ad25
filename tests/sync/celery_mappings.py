"""The mapping registry of the Celery sync tests (``legacy_api_sync_mappings``).

Declared variants first: the tasks must still run the families before them (``after``).
"""

from __future__ import annotations

from legacy_core.sync import SyncMapping

MAPPINGS = [
    SyncMapping("Artikel_Variante", after=("Artikel_Familie",)),
    SyncMapping("Artikel_Familie"),
    # A table the emulator does not have: a user error that must fail without retries
    # (last in the order, so run_all's chain reaches it after the real ones).
    SyncMapping("Kein_Tisch", name="missing_table", after=("Artikel_Variante",)),
]
