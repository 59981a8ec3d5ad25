"""Like pyERP's helpers that hand the cookie to their own requests: get_session_cookie(mode=...)."""

from __future__ import annotations

from _report import digest, report

from wsz_api.auth import get_session_cookie

live = get_session_cookie(mode="live")
test = get_session_cookie(mode="test")
again = get_session_cookie(mode="live")
report(
    live=digest(live),
    test=digest(test),
    same_twice=live == again,
    types=[type(live).__name__, type(test).__name__],
)
