"""Opaque list cursors over a snapshot: entity set, offset, query digest and consumer, signed.

The first page of a list opens a 4D entity set (the snapshot); the cursor of the next
page carries that set's id, the next offset, a digest of the query (environment, table,
filter, fields, order) and the consumer it was issued to, signed by Django's
``TimestampSigner``. Later pages read the same set, so rows inserted or deleted in
between do not shift the window. A forged, altered, stale or other-query cursor is a
400, another consumer's cursor a 403, both before anything is sent to 4D.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import attrs
from django.core import signing

from legacy_adapters.django.gateway.problems import GatewayProblem

__all__ = ["MAX_AGE", "Cursor", "make_cursor", "query_digest", "read_cursor"]

MAX_AGE = 3600
_SALT = "legacy-api.gateway.cursor"
_EXPIRED = "the cursor has expired; start the list again"
_FORGED = "the cursor is not valid (forged or altered)"
_FOREIGN = "the cursor belongs to another query (where, fields and order_by must not change)"
_OTHER_CONSUMER = "the cursor was issued to another consumer"


@attrs.frozen
class Cursor:
    """Where the next page starts: the snapshot (4D entity set) and the offset in it."""

    skip: int
    entity_set: str | None
    """None: a table served from the read cache, paged by offset (ADR 0032, amendments)."""


def query_digest(
    environment: str, table: str, where: str, fields: Sequence[str], order_by: Sequence[str]
) -> str:
    """A short digest naming the query a cursor belongs to."""
    text = json.dumps([environment, table, where, list(fields), list(order_by)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def make_cursor(skip: int, entity_set: str | None, digest: str, consumer: str) -> str:
    """The signed, URL-safe cursor of the page at ``skip`` of snapshot ``entity_set``."""
    value = {"s": skip, "e": entity_set, "q": digest, "c": consumer}
    return signing.TimestampSigner(salt=_SALT).sign_object(value, compress=True)


def read_cursor(cursor: str, digest: str, consumer: str) -> Cursor:
    """The snapshot and offset a cursor points at; 400/403 problem if it is not valid here."""
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign_object(cursor, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise _bad(_EXPIRED) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise _bad(_FORGED) from None
    if not isinstance(value, dict):
        raise _bad(_FORGED)
    skip, entity_set = value.get("s"), value.get("e")
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise _bad(_FORGED)
    if entity_set is not None and (not isinstance(entity_set, str) or not entity_set):
        raise _bad(_FORGED)
    if value.get("c") != consumer:
        raise GatewayProblem(403, "cursor-forbidden", "Cursor not yours", _OTHER_CONSUMER)
    if value.get("q") != digest:
        raise _bad(_FOREIGN)
    return Cursor(skip, entity_set)


def _bad(detail: str) -> GatewayProblem:
    return GatewayProblem(400, "invalid-cursor", "Invalid cursor", detail)
