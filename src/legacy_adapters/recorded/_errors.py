"""The errors of the recorded fake: a request the cassette cannot answer, a secret that leaked."""

from __future__ import annotations

from legacy_core.errors import LegacyError

__all__ = ["CassetteMiss", "SecretLeak"]


class CassetteMiss(LegacyError):
    """No recorded interaction matches the request (the message shows the nearest one)."""


class SecretLeak(LegacyError):
    """A known secret value would appear in a cassette file; nothing was written."""
