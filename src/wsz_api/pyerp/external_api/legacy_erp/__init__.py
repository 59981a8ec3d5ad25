"""Drop-in for ``pyerp.external_api.legacy_erp``: ``LegacyERPClient`` over the shared client.

``from wsz_api.pyerp.external_api.legacy_erp import LegacyERPClient`` replaces pyERP's
import (its sync extractors build one per environment). ``filter_query`` triples and
date-filter dicts become ``legacy_core.query`` filters, never glued strings; errors are
the typed ``legacy_core.errors`` (ADR 0017). Constructing does no I/O.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pandas as pd

from legacy_core.errors import ConfigurationError, LegacyError
from wsz_api import _client
from wsz_api._compat import WszApiWarning, deprecated
from wsz_api.pyerp._common import read_record, read_table, with_legacy_dates, write_field

__all__ = ["LegacyERPClient"]

_MODERN_FETCH = "legacy_core.service.LegacyClient.fetch_frame(table, where=field(...), raw=True)"


class LegacyERPClient:
    """pyERP's ``LegacyERPClient(environment="live", timeout=None)`` on the shared client."""

    def __init__(self, environment: str = "live", timeout: int | None = None) -> None:
        """Remember the environment; a timeout is ignored (the configured timeouts apply)."""
        self.environment = environment
        self.timeout = timeout
        if timeout is not None:
            warnings.warn(
                "LegacyERPClient(timeout=) is ignored: LEGACY_API_READ_TIMEOUT applies",
                WszApiWarning,
                stacklevel=2,
            )

    def fetch_table(  # noqa: PLR0917 - pyERP's positional signature
        self,
        table_name: str,
        top: int | None = None,
        skip: int = 0,
        filter_query: object = None,
        all_records: bool = False,
        new_data_only: bool | None = None,
        date_created_start: str | dt.date | None = None,
        fail_on_filter_error: bool = False,
    ) -> pd.DataFrame:
        """Rows of ``table_name`` matching ``filter_query``, as pyERP's client built them.

        ``filter_query``: ``[[field, op, value], ...]`` (ops ``=``, ``!=``, ``<``, ``<=``,
        ``>``, ``>=``, ``in``, ``begins`` and pyERP's ``gt``/``gte``/``lt``/``lte``/``eq``),
        a date-filter dict ``{"Datum": {"gte": datetime}}``, or 4D filter text. ``top``
        caps the rows; None means all rows, read in pages (so ``all_records`` changes
        nothing). A bad filter always raises ``InvalidQuery``, whatever
        ``fail_on_filter_error`` says: it is never silently dropped. Known date columns
        come back as datetimes, as before.
        """
        deprecated("LegacyERPClient.fetch_table()", _MODERN_FETCH)
        del all_records, fail_on_filter_error  # see the docstring: both are moot now
        frame = read_table(
            "LegacyERPClient.fetch_table",
            table_name,
            environment=self.environment,
            top=top,
            skip=skip,
            new_data_only=new_data_only,
            date_created_start=date_created_start,
            filter_query=filter_query,
        )
        return with_legacy_dates(frame)

    def fetch_record(self, table_name: str, record_id: int | str) -> dict[str, Any]:
        """One record as the server sent it; RecordNotFound (a LookupError) when absent."""
        deprecated(
            "LegacyERPClient.fetch_record()",
            "legacy_core.service.LegacyClient.get_record(table, key, raw=True)",
        )
        return read_record("LegacyERPClient.fetch_record", table_name, record_id, self.environment)

    def push_field(
        self, table_name: str, record_id: int | str, field_name: str, field_value: Any
    ) -> bool:
        """Set one field of one record; True, or a raised typed error (ADR 0010)."""
        deprecated(
            "LegacyERPClient.push_field()",
            "legacy_core.service.LegacyClient.push_field(table, key, field, value)",
        )
        return write_field(
            "LegacyERPClient.push_field",
            table_name,
            record_id,
            field_name,
            field_value,
            self.environment,
        )

    def ensure_session(self) -> bool:
        """Make sure the shared session of this environment exists (one login at most)."""
        _client.session_cookie(self.environment)
        return True

    def validate_session(self) -> bool:
        """True when the environment answers, False when it does not (a bad setup raises)."""
        try:
            return self.ensure_session()
        except ConfigurationError:
            raise  # a wrong setup is not "the server is down"
        except LegacyError:
            return False

    login = ensure_session
    check_connection = validate_session
