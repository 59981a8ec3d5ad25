"""FernetCodec: encryption at rest of stored session payloads (``cryptography``'s Fernet)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

import attrs
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from legacy_core.secrets import register_secret

__all__ = ["SESSION_KEY_VARIABLE", "FernetCodec"]

SESSION_KEY_VARIABLE = "LEGACY_API_SESSION_KEY"


def _fernet(key: str | bytes) -> Fernet:
    raw = key.encode() if isinstance(key, str) else key
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return Fernet(raw)
    except (binascii.Error, ValueError):
        pass
    # Not a Fernet key: derive one, so any long random secret from a vault works too.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))


@attrs.frozen(repr=False)
class FernetCodec:
    """Encrypts payloads with ``key``; ``previous`` keys still decrypt (rotation).

    ``key`` is a Fernet key (``FernetCodec.generate_key()``) or any other secret string,
    from which a key is derived with SHA-256.
    """

    key: str | bytes = attrs.field(repr=False)
    previous: Sequence[str | bytes] = attrs.field(default=(), repr=False)
    _fernet: MultiFernet = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for key in (self.key, *self.previous):
            register_secret(key)  # a key in a log line would undo the encryption
        keys = [_fernet(self.key), *(_fernet(k) for k in self.previous)]
        object.__setattr__(self, "_fernet", MultiFernet(keys))

    @classmethod
    def from_env(cls, variable: str = SESSION_KEY_VARIABLE) -> FernetCodec | None:
        """Return the codec for the key in ``$LEGACY_API_SESSION_KEY``, or None when it is unset."""
        key = os.environ.get(variable, "").strip()
        return cls(key) if key else None

    @staticmethod
    def generate_key() -> str:
        """Return a new random Fernet key."""
        return Fernet.generate_key().decode()

    def encode(self, data: bytes) -> bytes:
        """Encrypt and authenticate ``data``."""
        return self._fernet.encrypt(data)

    def decode(self, data: bytes) -> bytes:
        """Decrypt; ValueError when the data was not made with one of the keys."""
        try:
            return self._fernet.decrypt(data)
        except (InvalidToken, TypeError):
            msg = "session payload cannot be decrypted with the configured key(s)"
            raise ValueError(msg) from None

    def __repr__(self) -> str:
        return f"<FernetCodec keys={1 + len(self.previous)}>"
