"""Request ids end to end, framework-free: accept an incoming one, bind it, hand it back.

Django's and the ASGI middleware use these. An incoming ``X-Request-ID`` is kept when it
looks like an id (letters, digits, ``.-_:``, at most 128), else a fresh one is made, so a
client cannot inject text into logs or headers. Binding puts it into the core's
contextvar (sent on every 4D request: ``legacy_core.instrument.request_scope``) and
structlog's context variables (every log line of the work carries ``request_id``).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator

import structlog

from legacy_core import instrument

__all__ = ["HEADER", "accept_request_id", "bind_request_id"]

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def accept_request_id(incoming: str | None) -> str:
    """``incoming`` when it is a plausible id, else a new one."""
    if incoming and _VALID.fullmatch(incoming.strip()):
        return incoming.strip()
    return uuid.uuid4().hex


@contextlib.contextmanager
def bind_request_id(request_id: str) -> Iterator[str]:
    """Bind ``request_id`` for the block: 4D requests, log lines and spans carry it."""
    with (
        instrument.request_scope(request_id),
        structlog.contextvars.bound_contextvars(request_id=request_id),
    ):
        yield request_id
