"""Drop-in for ``pyerp.legacy_sync.api_client``: ``LegacyAPIClient`` and its singleton.

``from wsz_api.pyerp.legacy_sync.api_client import api_client`` replaces pyERP's import.
Every call goes through the shared ``LegacyClient`` (one 4D session per environment,
retries, typed errors). Unlike pyERP's wrapper, an unreachable server raises
``ServerUnavailable`` instead of returning an empty frame, ``{}`` or ``False``
(ADR 0017). Importing and constructing do no I/O.
"""

from __future__ import annotations

import datetime
from typing import Any

import pandas as pd

from wsz_api import _client
from wsz_api._compat import deprecated
from wsz_api.pyerp._common import read_record, read_table, write_field

__all__ = ["LegacyAPIClient", "api_client"]

_MODERN_FETCH = "legacy_core.service.LegacyClient.fetch_frame(table, limit=..., raw=True)"


class LegacyAPIClient:
    """pyERP's first wrapper over the legacy ERP, served by the shared client."""

    def __init__(self) -> None:
        """Set pyERP's attributes; nothing connects until the first call."""
        self.session_cookie: str | None = None
        self.direct_client = None
        self.server_available = True
        self.last_availability_check = datetime.datetime.now()
        self.availability_check_interval = datetime.timedelta(minutes=5)

    def refresh_session(self) -> None:
        """Fetch the shared session's cookie into ``session_cookie`` (logging in only if none)."""
        deprecated(
            "LegacyAPIClient.refresh_session()", "nothing: the client sends the shared session"
        )
        self.session_cookie = _client.session_cookie(None)
        self.server_available = True

    def fetch_table(
        self,
        table_name: str,
        top: int | None = 100,
        skip: int = 0,
        new_data_only: bool | None = None,
        date_created_start: str | datetime.date | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table_name`` as ``pd.DataFrame(entities)`` would build them.

        ``top`` caps the rows (ADR 0008; pyERP's default 100 is kept, and a result that
        reaches it says so at WARNING); ``None`` means all rows. ``new_data_only=True``
        keeps the date window of ADR 0009; omitted, every row (ADR 0016).
        """
        deprecated("LegacyAPIClient.fetch_table()", _MODERN_FETCH)
        return read_table(
            "LegacyAPIClient.fetch_table",
            table_name,
            environment=None,
            top=top,
            skip=skip,
            new_data_only=new_data_only,
            date_created_start=date_created_start,
        )

    def push_field(
        self, table_name: str, record_id: int | str, field_name: str, field_value: Any
    ) -> bool:
        """Set one field of one record; True, or a raised typed error (ADR 0010)."""
        deprecated(
            "LegacyAPIClient.push_field()",
            "legacy_core.service.LegacyClient.push_field(table, key, field, value)",
        )
        return write_field(
            "LegacyAPIClient.push_field", table_name, record_id, field_name, field_value, None
        )

    def fetch_record(self, table_name: str, record_id: int | str) -> dict[str, Any]:
        """One record as the server sent it; RecordNotFound (a LookupError) when absent."""
        deprecated(
            "LegacyAPIClient.fetch_record()",
            "legacy_core.service.LegacyClient.get_record(table, key, raw=True)",
        )
        return read_record("LegacyAPIClient.fetch_record", table_name, record_id, None)


api_client = LegacyAPIClient()
"""The module singleton pyERP imports (``from ....api_client import api_client``)."""
