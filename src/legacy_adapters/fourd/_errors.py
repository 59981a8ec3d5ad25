"""The 4D answer-to-error mapping now lives in the pure ``legacy_adapters.wire._answers``.

Re-exported here for the adapter's modules and tests that import it from its old place.
"""

from __future__ import annotations

from legacy_adapters.wire._answers import *  # noqa: F403 - a plain re-export
from legacy_adapters.wire._answers import __all__  # noqa: F401 - the same public names
