"""``wsz_api.api``: the old ``WSZ_API`` object, a thin holder of an environment name.

Its methods delegate to the same code as the module functions, through the one shared
client of the process; constructing it does no I/O.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from wsz_api import _client
from wsz_api._compat import deprecated, pop_environment, warn_extras
from wsz_api.getRecord import fetch_record
from wsz_api.getTable import MODERN_FETCH, fetch_table

__all__ = ["WSZ_API"]

_MODERN = "legacy_adapters.bootstrap.build_client(...) or legacy_adapters.django.get_client()"


class WSZ_API:  # noqa: N801 - the old public name
    """The old API object: ``WSZ_API()`` then ``.get_record(table, key)``.

    ``mode``/``environment`` pick the server for every call of this object; further
    legacy constructor arguments are accepted and ignored with a warning.
    """

    def __init__(self, mode: str | None = None, **legacy: Any) -> None:
        """Remember the environment; nothing connects here."""
        deprecated("wsz_api.api.WSZ_API", _MODERN)
        legacy = dict(legacy)
        if mode is not None:
            legacy["mode"] = mode
        self.environment = pop_environment("WSZ_API", legacy)
        warn_extras("WSZ_API", legacy)

    def __repr__(self) -> str:
        return f"<WSZ_API environment={self.environment or 'default'}>"

    def _legacy(self, legacy: dict[str, Any]) -> dict[str, Any]:
        if self.environment is not None and "mode" not in legacy and "environment" not in legacy:
            return {**legacy, "environment": self.environment}
        return legacy

    def get_record(self, table_name: str, record_id: str, **legacy: Any) -> dict[str, Any]:
        """Return one entity as the server sent it (see ``wsz_api.getRecord.get_record``)."""
        deprecated(
            "WSZ_API.get_record()", "legacy_core.service.LegacyClient.get_record(table, key)"
        )
        return fetch_record(table_name, record_id, self._legacy(legacy), "WSZ_API.get_record")

    def fetch_data_from_api(
        self,
        table_name: str,
        top: int | None = None,
        skip: int = 0,
        new_data_only: bool | None = None,
        date_created_start: Any = None,
        **legacy: Any,
    ) -> pd.DataFrame:
        """Return rows as a DataFrame (see ``wsz_api.getTable.fetch_data_from_api``)."""
        deprecated("WSZ_API.fetch_data_from_api()", MODERN_FETCH)
        return fetch_table(
            table_name,
            top=top,
            skip=skip,
            new_data_only=new_data_only,
            date_created_start=date_created_start,
            legacy=self._legacy(legacy),
            function="WSZ_API.fetch_data_from_api",
        )

    def get_session_cookie(self) -> str:
        """Return the cookie value of the shared session of this object's environment."""
        deprecated("WSZ_API.get_session_cookie()", "LegacyClient methods")
        return _client.session_cookie(self.environment)
