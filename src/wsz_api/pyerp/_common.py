"""The bodies the second-generation drop-ins share: reads, records and writes via the client."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from wsz_api.getRecord import fetch_record
from wsz_api.getTable import fetch_table
from wsz_api.pushField import _push
from wsz_api.pyerp._filters import to_filters

__all__ = ["read_record", "read_table", "write_field"]


def read_table(
    function: str,
    table_name: str,
    *,
    environment: str | None,
    top: object,
    skip: object,
    new_data_only: object,
    date_created_start: object,
    filter_query: object = None,
) -> pd.DataFrame:
    """One table read of a drop-in: its filters through the query builder, raw frame back."""
    table = str(table_name)
    legacy: dict[str, Any] = {"environment": environment} if environment else {}
    return fetch_table(
        table,
        top=top,
        skip=skip,
        new_data_only=new_data_only,
        date_created_start=date_created_start,
        legacy=legacy,
        function=function,
        filters=to_filters(filter_query, table),
    )


def read_record(
    function: str, table_name: str, record_id: object, environment: str | None
) -> dict[str, Any]:
    """One entity by key, raw; RecordNotFound when there is none."""
    legacy: dict[str, Any] = {"environment": environment} if environment else {}
    return fetch_record(table_name, record_id, legacy, function)


def write_field(  # noqa: PLR0917 - mirrors push_field's positional order
    function: str,
    table_name: str,
    record_id: object,
    field_name: str,
    field_value: Any,
    environment: str | None,
) -> bool:
    """One field update; True or a raised, typed error (ADR 0010)."""
    legacy: dict[str, Any] = {"environment": environment} if environment else {}
    return _push(table_name, record_id, field_name, field_value, legacy=legacy, function=function)


# The date attributes pyERP's BaseAPIClient turned into datetimes before building its frame.
LEGACY_ERP_DATE_FIELDS = frozenset(
    {
        "__TIMESTAMP",
        "modified_date",
        "created_date",
        "Release_date",
        "Auslaufdatum",
        "last_modified",
        "CREATIONDATE",
        "MODIFICATIONDATE",
        "UStID_Dat",
        "letzteLieferung",
        "Druckdatum",
        "Release_Date",
    }
)
_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M:%S", "%Y%m%d")


def parse_legacy_date(value: object) -> object:
    """``D!M!YYYY`` and pyERP's other date texts as a datetime; anything else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if "!" in value:
        try:
            day, month, year = map(int, value.split("!"))
            if year > 0 and month > 0 and day > 0:
                return dt.datetime(year, month, day)
        except ValueError:
            pass
        return value  # 0!0!0 is 4D's empty date: kept as sent, as pyERP did
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return value


def with_legacy_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame pyERP's LegacyERPClient built: its known date columns parsed, pandas inferring."""
    for name in frame.columns:
        if name in LEGACY_ERP_DATE_FIELDS:
            values = [parse_legacy_date(v) for v in frame[name].tolist()]
            frame[name] = pd.Series(values, index=frame.index)
    return frame
