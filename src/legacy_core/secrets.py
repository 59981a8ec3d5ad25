"""Secret redaction: a process-wide registry of values to scrub, ``redact``, a log processor.

Nothing here configures logging; applications add :func:`redact_secrets` to their own
structlog processor chain (or :class:`RedactingFilter` to a stdlib handler). The session
provider and the credentials register every cookie value and password they see, and every
:class:`~legacy_core.errors.LegacyError` passes its message, entries and body through
:func:`redact`, so a value that a server echoes back never reaches a message, a pickle or
a log line.

Matching (ADR 0020): every registered secret is also registered in the spellings it takes
on the wire — JSON-escaped (both the backslash-quote and the ``uXXXX`` forms) and
percent-encoded (``quote``
and ``quote_plus``) — all case-insensitively, in one Aho-Corasick automaton
(``pyahocorasick``), so one pass over the text costs the same with one secret or ten
thousand. Secrets may expire (a cookie with its session); the automaton is rebuilt lazily
after a registration or an expiry.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

import ahocorasick

__all__ = [
    "MASK",
    "RedactingFilter",
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
# cookie names and the login headers, also JSON-quoted or percent-encoded. Case-insensitive.
_PATTERNS = (
    re.compile(r"(?i)\b(WASID4D|4DSID_[A-Za-z0-9_.-]*)(\s*(?:=|%3D)\s*)([^;,&\s\"'\\%]+)"),
    re.compile(r"(?i)\b(password-4D)(\\?[\"']?\s*(?:[:=]|%3A|%3D)\s*\\?[\"']?)([^;,&\s\"'\\]+)"),
)

_lock = threading.Lock()
_registry: dict[str, float] = {}
"""Secret -> monotonic expiry (``inf``: kept for the process)."""
_automaton: Any = None
_next_expiry = math.inf
_dirty = True


def register_secret(value: str | bytes | None, *, ttl: float | None = None) -> None:
    """Add ``value`` to the set that :func:`redact` and the processors scrub.

    ``ttl`` (seconds) lets it expire, for values that stop mattering (a session cookie
    after its session); without it the value is kept for the life of the process.
    """
    global _dirty, _next_expiry  # noqa: PLW0603 - one registry per process, by design
    if value is None:
        return
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if len(text) < _MIN_SECRET_LENGTH:
        return
    expiry = math.inf if ttl is None else time.monotonic() + max(ttl, 0.0)
    with _lock:
        known = _registry.get(text)
        if known is None or known < expiry:
            _registry[text] = expiry
            _next_expiry = min(_next_expiry, expiry)
            _dirty = _dirty or known is None


def forget_secret(value: str) -> None:
    """Remove ``value`` from the registry (tests; values otherwise stay or expire)."""
    global _dirty  # noqa: PLW0603 - one registry per process, by design
    with _lock:
        if _registry.pop(value, None) is not None:
            _dirty = True


def registered_secrets() -> frozenset[str]:
    """Return the values currently registered (and not expired)."""
    with _lock:
        _expire_locked(time.monotonic())
        return frozenset(_registry)


def spellings(secret: str) -> set[str]:
    """``secret`` as it may appear in text: as is, JSON-escaped, percent-encoded."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        quote(secret, safe="/:@"),
    }
    return {f for f in forms if len(f) >= _MIN_SECRET_LENGTH}


def _expire_locked(now: float) -> None:
    global _dirty, _next_expiry  # noqa: PLW0603 - one registry per process, by design
    if now < _next_expiry:
        return
    for secret in [s for s, expiry in _registry.items() if expiry <= now]:
        del _registry[secret]
    _next_expiry = min(_registry.values(), default=math.inf)
    _dirty = True


def _current_automaton() -> Any:
    global _automaton, _dirty  # noqa: PLW0603 - cache of the registry's automaton
    with _lock:
        _expire_locked(time.monotonic())
        if _dirty:
            automaton = None
            if _registry:
                automaton = ahocorasick.Automaton()
                for secret in _registry:
                    for form in spellings(secret):
                        lowered = form.lower()
                        automaton.add_word(lowered, len(lowered))
                automaton.make_automaton()
            _automaton = automaton
            _dirty = False
        return _automaton


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace the (start, end) spans of ``text`` by the mask, overlapping ones merged."""
    out: list[str] = []
    position = 0
    for begin, end in sorted(spans):
        if end <= position:
            continue
        out.append(text[position : max(begin, position)])
        out.append(MASK)
        position = end
    out.append(text[position:])
    return "".join(out)


def _automaton_spans(automaton: Any, text: str) -> list[tuple[int, int]] | None:
    lowered = text.lower()
    if len(lowered) != len(text):
        return None  # a character whose lower case has another length: positions differ
    return [(end + 1 - length, end + 1) for end, length in automaton.iter(lowered)]


def redact(text: str, secrets: Iterable[str | None] | None = None) -> str:
    """Return ``text`` with every secret (given, registered or cookie-shaped) replaced by ``***``.

    Matching is case-insensitive, because recorded fixtures and some servers change the
    case of hex cookie values, and covers the JSON-escaped and percent-encoded spellings.
    """
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    extra = [s for s in (secrets or ()) if s and len(s) >= _MIN_SECRET_LENGTH]
    automaton = _current_automaton()
    spans = _automaton_spans(automaton, text) if automaton is not None else []
    if spans is None:
        # Rare (e.g. "İ"): fall back to one case-insensitive pattern of every spelling.
        extra += list(registered_secrets())
        spans = []
    if extra:
        forms = sorted({f for s in extra for f in spellings(s)}, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)
        spans += [m.span() for m in pattern.finditer(text)]
    return _mask_spans(text, spans) if spans else text


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

    Put it last before the renderer (after ``format_exc_info`` and ``dict_tracebacks``)
    so formatted tracebacks and frame locals are scrubbed too.
    """
    for key, value in list(event_dict.items()):
        event_dict[key] = _scrub(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """A stdlib logging filter that scrubs secrets from a record's message and arguments.

    ``handler.addFilter(RedactingFilter())``: also covers formatted exceptions, which are
    rendered into ``exc_text`` here before the handler's formatter sees the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place and keep it."""
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
