"""legacy-api's pure core: domain values, ports, errors, the filter builder and the facade.

Only re-exports live here; see the sub-modules (``errors``, ``ports``, ``query``,
``model``, ``resilience``, ``sessions``, ``service``) for the code.
"""

from __future__ import annotations

from legacy_core.errors import LegacyError
from legacy_core.hookspecs import hookimpl
from legacy_core.model import Environment, FieldUpdate, OrderBy, Page, Query, Session, WriteResult
from legacy_core.query import Raw, field

__all__ = [
    "Environment",
    "FieldUpdate",
    "LegacyError",
    "OrderBy",
    "Page",
    "Query",
    "Raw",
    "Session",
    "WriteResult",
    "field",
    "hookimpl",
]
