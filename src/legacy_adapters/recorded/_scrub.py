"""Secret placeholders: replace cookie values, credentials and tokens in recorded traffic.

Secrets are swapped for stable placeholders such as ``<<COOKIE:WASID4D:1>>`` when an
interaction is recorded, and the placeholders are swapped for deterministic fake values
when it is replayed, so the session logic (adopting a new cookie, re-login) still runs.
What does not live here: matching and the cassette file format.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

__all__ = [
    "DEFAULT_SECRET_HEADERS",
    "MIN_SECRET_LENGTH",
    "PLACEHOLDER",
    "Scrubber",
    "fake_value",
    "find_leaks",
    "parse_cookie_header",
    "parse_set_cookie",
    "restore_placeholders",
]

# Headers whose whole value is a secret (compared case-insensitively).
DEFAULT_SECRET_HEADERS: frozenset[str] = frozenset(
    {"username-4d", "password-4d", "authorization", "proxy-authorization"}
)
# Shorter values cannot be replaced inside bodies without mangling unrelated text; they
# are still replaced where they stand alone (header values, whole JSON strings).
MIN_SECRET_LENGTH = 4
PLACEHOLDER = re.compile(r"<<[A-Z]+(?::[A-Za-z0-9_.\-]+)?:\d+>>")


def parse_cookie_header(value: str) -> list[tuple[str, str]]:
    """Return the ``(name, value)`` pairs of a ``Cookie`` request header."""
    pairs = []
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if sep and name:
            pairs.append((name.strip(), val.strip()))
    return pairs


def parse_set_cookie(value: str) -> list[tuple[str, str]]:
    """Return the ``(name, value)`` pairs of one or more (comma-joined) ``Set-Cookie``."""
    pairs = []
    # requests joins repeated Set-Cookie headers with ", "; an Expires date also holds
    # ", " but is never followed by "NAME=" before the next ";".
    for chunk in re.split(r",\s*(?=[^;,=\s]+=)", value):
        first = chunk.split(";", 1)[0]
        name, sep, val = first.strip().partition("=")
        if sep and name and name.lower() not in {"expires", "max-age", "path", "domain"}:
            pairs.append((name.strip(), val.strip()))
    return pairs


def fake_value(placeholder: str) -> str:
    """Return the deterministic stand-in a replay sends where ``placeholder`` was recorded.

    Cookie placeholders become 32 uppercase hex characters (the shape of ``WASID4D``);
    others a readable ``replay-…`` token.
    """
    digest = hashlib.sha256(f"legacy-api-replay:{placeholder}".encode()).hexdigest()
    if placeholder.startswith(("<<COOKIE:", "<<SESSIONID:")):
        return digest[:32].upper()
    return f"replay-{digest[:16]}"


def restore_placeholders(text: str) -> str:
    """Replace every placeholder in ``text`` by its fake value."""
    return PLACEHOLDER.sub(lambda m: fake_value(m.group(0)), text)


def _variants(secret: str) -> set[str]:
    # How a value may be spelled in a file: as is, JSON-escaped, percent-encoded.
    return {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret)}


def find_leaks(data: bytes | str, secrets: Iterable[str]) -> list[int]:
    """Return the indices of the ``secrets`` that appear in ``data`` in any spelling.

    Returns positions, never values, so that a report of the leak cannot leak it again.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    leaks = []
    for i, secret in enumerate(secrets):
        if len(secret) >= MIN_SECRET_LENGTH and any(v in text for v in _variants(secret)):
            leaks.append(i)
    return leaks


def _header_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.lower() for n in names) | DEFAULT_SECRET_HEADERS


@attrs.define
class Scrubber:
    """Learns secret values from traffic and replaces them by stable placeholders.

    One scrubber serves one cassette: the same cookie value always gets the same
    placeholder, a new cookie after a re-login gets the next number. ``secret_headers``
    adds header names (any case) whose values are secret; ``secret_values`` adds values
    known up front (a password from the configuration).
    """

    secret_headers: frozenset[str] = attrs.field(
        default=DEFAULT_SECRET_HEADERS, converter=_header_names
    )
    _by_value: dict[str, str] = attrs.field(factory=dict, repr=False, alias="_by_value")
    _counters: dict[str, int] = attrs.field(factory=dict, repr=False, alias="_counters")
    _lock: threading.RLock = attrs.field(factory=threading.RLock, repr=False, alias="_lock")

    @classmethod
    def with_secrets(
        cls, secret_values: Iterable[str] = (), secret_headers: Iterable[str] = ()
    ) -> Scrubber:
        """Build a scrubber that already knows some values (e.g. a configured password)."""
        scrubber = cls(secret_headers=frozenset(secret_headers))
        for value in secret_values:
            scrubber.register(value, "SECRET")
        return scrubber

    @property
    def secrets(self) -> list[str]:
        """Every secret value seen so far (for the post-record scan; never log these)."""
        with self._lock:
            return list(self._by_value)

    def register(self, value: str, kind: str, name: str | None = None) -> str:
        """Return the placeholder of ``value``, allocating the next one for a new value."""
        if not value or PLACEHOLDER.fullmatch(value):
            return value
        with self._lock:
            known = self._by_value.get(value)
            if known is not None:
                return known
            label = f"{kind}:{name}" if name else kind
            number = self._counters.get(label, 0) + 1
            self._counters[label] = number
            placeholder = f"<<{label}:{number}>>"
            self._by_value[value] = placeholder
            return placeholder

    def reserve(self, placeholders: Iterable[str]) -> None:
        """Continue numbering after ``placeholders`` that a cassette already uses."""
        with self._lock:
            for placeholder in placeholders:
                label, _, number = placeholder[2:-2].rpartition(":")
                if number.isdigit():
                    self._counters[label] = max(self._counters.get(label, 0), int(number))

    def is_secret_header(self, name: str) -> bool:
        """Whether the whole value of header ``name`` is a secret."""
        return name.lower() in self.secret_headers

    def learn_request_headers(self, headers: Mapping[str, str]) -> None:
        """Register the cookie values and secret header values of a request."""
        for name, value in headers.items():
            lower = name.lower()
            if lower == "cookie":
                for cname, cvalue in parse_cookie_header(value):
                    self.register(cvalue, "COOKIE", _safe_name(cname))
            elif lower in self.secret_headers:
                self.register(value, "HEADER", _safe_name(lower))

    def learn_response(
        self, headers: Mapping[str, str], set_cookies: Iterable[tuple[str, str]]
    ) -> None:
        """Register the cookies a response sets and its secret header values."""
        for cname, cvalue in set_cookies:
            self.register(cvalue, "COOKIE", _safe_name(cname))
        for name, value in headers.items():
            lower = name.lower()
            if lower == "set-cookie":
                for cname, cvalue in parse_set_cookie(value):
                    self.register(cvalue, "COOKIE", _safe_name(cname))
            elif lower in self.secret_headers:
                self.register(value, "HEADER", _safe_name(lower))

    def learn_body(self, body: Any) -> None:
        """Register 4D session ids listed in a decoded ``$info`` body (other clients' cookies)."""
        if isinstance(body, dict) and isinstance(body.get("sessionInfo"), list):
            for info in body["sessionInfo"]:
                if isinstance(info, dict) and isinstance(info.get("sessionID"), str):
                    self.register(info["sessionID"], "SESSIONID")

    def header(self, name: str, value: str) -> str:
        """Return a header value with secrets replaced (all of it for secret headers)."""
        lower = name.lower()
        if lower in self.secret_headers:
            return self.register(value, "HEADER", _safe_name(lower))
        if lower == "cookie":
            return "; ".join(
                f"{cname}={self.text(cvalue)}" for cname, cvalue in parse_cookie_header(value)
            )
        return self.text(value)

    def text(self, value: str) -> str:
        """``value`` with every known secret replaced by its placeholder."""
        with self._lock:
            pairs = sorted(self._by_value.items(), key=lambda kv: -len(kv[0]))
        for secret, placeholder in pairs:
            if value == secret:
                return placeholder
            if len(secret) >= MIN_SECRET_LENGTH and secret in value:
                value = value.replace(secret, placeholder)
        return value

    def value(self, value: Any) -> Any:
        """Return a decoded JSON value with every known secret replaced, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.value(v) for k, v in value.items()}
        return value


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
