"""The ``wsz_api`` compatibility package: old import paths and signatures over ``LegacyClient``.

Import the old modules as before (``from wsz_api.getTable import fetch_data_from_api``);
importing does no I/O, the shared client is built on the first call. ``use_client``
lets an application hand the shim the client it built itself. See docs/migration.md.
"""

from __future__ import annotations

from wsz_api._client import use_client
from wsz_api._compat import WszApiWarning

__all__ = ["WszApiWarning", "use_client"]
