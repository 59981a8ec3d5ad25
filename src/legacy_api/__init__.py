"""legacy-api: the one public import (``import legacy_api``).

A read of legacy 4D data is ``legacy_api.build_client().fetch_frame(...)``; this module
only re-exports what users and plugin authors need, so the layers behind it
(``legacy_core`` pure domain, ``legacy_adapters`` I/O) can move without breaking them.
The heavy parts load on first use (PEP 562), so ``import legacy_api`` stays cheap.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from legacy_core import errors
from legacy_core.hookspecs import hookimpl
from legacy_core.query import Raw, field

if TYPE_CHECKING:
    from legacy_adapters.bootstrap import build_async_client, build_client
    from legacy_adapters.config import ClientConfig, load_config
    from legacy_core._async import AsyncLegacyClient
    from legacy_core.model import FieldUpdate, WriteOutcome, WriteResult
    from legacy_core.schema import AttributeSpec, TableSchema
    from legacy_core.service import LegacyClient
    from legacy_core.tables import AsyncTable, Table, TableQuery, model_from_schema

__all__ = [
    "AsyncLegacyClient",
    "AsyncTable",
    "AttributeSpec",
    "ClientConfig",
    "FieldUpdate",
    "LegacyClient",
    "Raw",
    "Table",
    "TableQuery",
    "TableSchema",
    "WriteOutcome",
    "WriteResult",
    "__version__",
    "build_async_client",
    "build_client",
    "errors",
    "field",
    "hookimpl",
    "load_config",
    "model_from_schema",
]

try:
    __version__ = version("legacy-api")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_LAZY = {
    "build_client": "legacy_adapters.bootstrap",
    "build_async_client": "legacy_adapters.bootstrap",
    "AsyncLegacyClient": "legacy_core._async",
    "ClientConfig": "legacy_adapters.config",
    "load_config": "legacy_adapters.config",
    "LegacyClient": "legacy_core.service",
    "FieldUpdate": "legacy_core.model",
    "WriteOutcome": "legacy_core.model",
    "WriteResult": "legacy_core.model",
    "TableSchema": "legacy_core.schema",
    "AttributeSpec": "legacy_core.schema",
    "Table": "legacy_core.tables",
    "AsyncTable": "legacy_core.tables",
    "TableQuery": "legacy_core.tables",
    "model_from_schema": "legacy_core.tables",
}


def __getattr__(name: str) -> Any:
    """Load a re-exported name from its home module on first use."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'legacy_api' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
