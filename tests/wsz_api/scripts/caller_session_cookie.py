"""Like pyERP's helpers that hand the cookie to their own requests: get_session_cookie(mode=...)."""

from __future__ import annotations

import os

import requests
from _report import digest, report

from wsz_api.auth import get_session_cookie

live = get_session_cookie(mode="live")
test = get_session_cookie(mode="test")
again = get_session_cookie(mode="live")
# What the old callers did with it: their own request carrying the cookie.
own = requests.get(
    os.environ["LEGACY_API_LIVE_URL"] + "/rest/Artikel_Familie",
    params={"$top": "1"},
    headers={"Cookie": f"WASID4D={live}"},
    timeout=10,
)
report(
    own_request=own.status_code,
    live=digest(live),
    test=digest(test),
    same_twice=live == again,
    types=[type(live).__name__, type(test).__name__],
)
