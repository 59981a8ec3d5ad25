"""The in-memory adapter: a TableReader and FieldWriter over in-memory tables with 4D semantics.

It evaluates the core's filter objects exactly as ADR 0004 describes, so the facade's unit
tests and the demo run without a server. Implementation lives in the private modules.
"""

from __future__ import annotations

from legacy_adapters.memory._backend import DEFAULT_PAGE_SIZE, MemoryBackend
from legacy_adapters.memory._tables import FOURD_TYPES, MemoryTable

__all__ = ["DEFAULT_PAGE_SIZE", "FOURD_TYPES", "MemoryBackend", "MemoryTable"]
