"""A Session as the store keeps it: the JSON payload (version 2), optionally encrypted.

Version 2 (ADR 0012) adds ``last_used``; version 1 payloads are read with
``last_used = obtained_at``. The cookie value is in the payload, so a codec (Fernet)
encrypts it at rest when a key is configured. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from legacy_core.model import Environment, Session
from legacy_core.ports import Codec, Versioned

__all__ = ["PAYLOAD_VERSION", "decode_session", "encode_session"]

PAYLOAD_VERSION = 2


def encode_session(session: Session, codec: Codec | None) -> Versioned:
    """The stored form of ``session`` under its generation."""
    data = {
        "v": PAYLOAD_VERSION,
        "environment": session.environment,
        "base_url": session.base_url,
        "cookie_name": session.cookie_name,
        "cookie_value": session.cookie_value,
        "lifetime": session.lifetime,
        "obtained_at": session.obtained_at,
        "last_used": session.last_used,
    }
    payload = json.dumps(data, separators=(",", ":")).encode()
    if codec is not None:
        payload = codec.encode(payload)
    return Versioned(session.generation, payload)


def decode_session(
    environment: Environment,
    versioned: Versioned,
    codec: Codec | None,
    window: Callable[[float], float],
) -> Session:
    """The Session stored in ``versioned``; ValueError/KeyError/TypeError if unreadable.

    ``window(lifetime)`` is the idle time after which the session counts as expired.
    """
    payload = versioned.payload
    if codec is not None:
        payload = codec.decode(payload)
    data: dict[str, Any] = json.loads(payload)
    if data.get("base_url") != environment.base_url:
        msg = "stored session belongs to another base URL"
        raise ValueError(msg)
    lifetime = max(float(data["lifetime"]), 1.0)
    obtained_at = float(data["obtained_at"])
    # Version 1 payloads have no last use: count from the login, as they did.
    last_used = float(data.get("last_used", obtained_at))
    return Session(
        environment=environment.name,
        base_url=environment.base_url,
        cookie_name=str(data["cookie_name"]),
        cookie_value=str(data["cookie_value"]),
        generation=versioned.generation,
        lifetime=lifetime,
        obtained_at=obtained_at,
        expires_at=last_used + window(lifetime),
        last_used=last_used,
    )
