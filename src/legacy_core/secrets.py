"""Secret redaction: a process-wide registry of values to scrub, ``redact``, a log processor.

Nothing here configures logging; applications add :func:`redact_secrets` to their own
structlog processor chain. The session provider registers every cookie value it sees, so
a value that slips into a message, a body or a log field is replaced by ``***``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

__all__ = [
    "MASK",
    "forget_secret",
    "redact",
    "redact_secrets",
    "register_secret",
    "registered_secrets",
]

MASK = "***"

# Values shorter than this are not registered: masking "1" or "ab" everywhere would
# mangle logs while protecting nothing (real cookies are 32 hex characters).
_MIN_SECRET_LENGTH = 6

# Secrets that look like cookies/credentials even when nobody registered them: the 4D
# cookie names and the login headers. Case-insensitive, value up to a separator.
_PATTERNS = (
    re.compile(r"(?i)\b(WASID4D|4DSID_[A-Za-z0-9_.-]*)(\s*=\s*)([^;,\s\"']+)"),
    re.compile(r"(?i)\b(password-4D)(\s*[:=]\s*)([^;,\s\"']+)"),
)

_lock = threading.Lock()
_registry: set[str] = set()
_compiled: re.Pattern[str] | None = None


def register_secret(value: str | bytes | None) -> None:
    """Add ``value`` to the process-wide set that :func:`redact` and the processor scrub."""
    global _compiled  # noqa: PLW0603 - one registry per process, by design
    if value is None:
        return
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if len(text) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if text not in _registry:
            _registry.add(text)
            _compiled = None


def forget_secret(value: str) -> None:
    """Remove ``value`` from the registry (tests; values are otherwise kept for the process)."""
    global _compiled  # noqa: PLW0603 - one registry per process, by design
    with _lock:
        _registry.discard(value)
        _compiled = None


def registered_secrets() -> frozenset[str]:
    """Return the values currently registered."""
    with _lock:
        return frozenset(_registry)


def _registry_pattern() -> re.Pattern[str] | None:
    global _compiled  # noqa: PLW0603 - cache of the registry's regex
    with _lock:
        if _compiled is None and _registry:
            # Longest first so a secret containing another is masked whole.
            alternatives = sorted(_registry, key=len, reverse=True)
            _compiled = re.compile("|".join(re.escape(s) for s in alternatives), re.IGNORECASE)
        return _compiled


def redact(text: str, secrets: Iterable[str | None] | None = None) -> str:
    """Return ``text`` with every secret (given, registered or cookie-shaped) replaced by ``***``.

    Matching is case-insensitive, because recorded fixtures and some servers change the
    case of hex cookie values.
    """
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if secrets is not None:
        extra = sorted((s for s in secrets if s), key=len, reverse=True)
        for secret in extra:
            text = re.sub(re.escape(secret), MASK, text, flags=re.IGNORECASE)
    registered = _registry_pattern()
    if registered is not None:
        text = registered.sub(MASK, text)
    return text


def _scrub(value: Any, depth: int = 0) -> Any:  # noqa: PLR0911 - one return per type
    if depth > 8:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        decoded = value.decode("utf-8", "replace")
        cleaned = redact(decoded)
        return value if cleaned == decoded else cleaned.encode()
    if isinstance(value, dict):
        return {k: _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v, depth + 1) for v in value)
    if isinstance(value, BaseException):
        text = str(value)
        cleaned = redact(text)
        # Keep the exception (renderers format its traceback) unless its text leaks.
        return value if cleaned == text else f"{type(value).__name__}: {cleaned}"
    return value


def redact_secrets(
    _logger: Any, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Structlog processor: scrub registered secrets and cookie-shaped values from every field.

    Put it late in the chain (after ``format_exc_info``) so formatted tracebacks are
    scrubbed too.
    """
    for key, value in list(event_dict.items()):
        event_dict[key] = _scrub(value)
    return event_dict
