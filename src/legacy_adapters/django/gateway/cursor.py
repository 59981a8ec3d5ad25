"""Opaque list cursors: the next offset and a digest of the query, signed by Django.

A cursor is only good for the query it was made for (same environment, table, filter,
fields and order) and for ``MAX_AGE`` seconds; a forged, altered, stale or foreign cursor
is refused with a 400 before anything is sent to 4D.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from django.core import signing

from legacy_adapters.django.gateway.problems import GatewayProblem

__all__ = ["MAX_AGE", "make_cursor", "query_digest", "read_cursor"]

MAX_AGE = 3600
_SALT = "legacy-api.gateway.cursor"
_EXPIRED = "the cursor has expired; start the list again"
_FORGED = "the cursor is not valid (forged or altered)"
_FOREIGN = "the cursor belongs to another query (where, fields and order_by must not change)"


def query_digest(
    environment: str, table: str, where: str, fields: Sequence[str], order_by: Sequence[str]
) -> str:
    """A short digest naming the query a cursor belongs to."""
    text = json.dumps([environment, table, where, list(fields), list(order_by)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def make_cursor(skip: int, digest: str) -> str:
    """The signed, URL-safe cursor of the page that starts at ``skip``."""
    return signing.TimestampSigner(salt=_SALT).sign_object({"s": skip, "q": digest}, compress=True)


def read_cursor(cursor: str, digest: str) -> int:
    """The offset a cursor points at; GatewayProblem 400 if it is not one of ours for this query."""
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign_object(cursor, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise _bad(_EXPIRED) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise _bad(_FORGED) from None
    skip = value.get("s") if isinstance(value, dict) else None
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise _bad(_FORGED)
    if value.get("q") != digest:
        raise _bad(_FOREIGN)
    return skip


def _bad(detail: str) -> GatewayProblem:
    return GatewayProblem(400, "invalid-cursor", "Invalid cursor", detail)
