"""Like pyERP's error handling: print the first line of the error."""

from __future__ import annotations

from _report import report

from wsz_api.getTable import fetch_data_from_api

try:
    fetch_data_from_api("Artikel_Gibtsnicht", new_data_only=False)
except Exception as e:
    report(error_type=type(e).__name__, first_line=str(e).split("\n")[0])
else:
    report(error_type=None, first_line=None)
