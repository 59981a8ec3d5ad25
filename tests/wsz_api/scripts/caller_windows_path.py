"""The old header every pyERP script has: append the Windows checkout, then import."""

from __future__ import annotations

import sys

sys.path.append(r"C:\Users\pyerp\Documents\WSZ_api")

from _report import report

from wsz_api import api_logger
from wsz_api.auth import get_session_cookie
from wsz_api.getTable import fetch_data_from_api

api_logger.logger.info("script started")
frame = fetch_data_from_api("Artikel_Familie", top=3, new_data_only=False)
report(rows=len(frame), cookie_callable=callable(get_session_cookie))
