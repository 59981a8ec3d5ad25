"""Secrets: redaction helpers, the structlog processor and the Fernet codec."""

# The house style puts the expected value on the left of ==, which SIM300 calls "Yoda".

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from legacy_adapters.stores import FernetCodec
from legacy_core.errors import LicenceExhausted, ServerError
from legacy_core.secrets import (
    MASK,
    forget_secret,
    redact,
    redact_secrets,
    register_secret,
    registered_secrets,
)


@pytest.fixture
def secret() -> Iterator[str]:
    """A fresh cookie-like value, registered for the test and forgotten afterwards."""
    value = uuid.uuid4().hex.upper()
    register_secret(value)
    yield value
    forget_secret(value)


class TestRedact:
    """redact() replaces secrets, registered values and cookie-shaped text."""

    def test_given_secret_is_masked(self) -> None:
        """A secret passed explicitly is replaced by the mask."""
        assert f"token {MASK} end" == redact("token s3cr3t-value end", ["s3cr3t-value"])

    def test_registered_secret_is_masked_case_insensitively(self, secret: str) -> None:
        """A registered value is masked whatever its case in the text."""
        assert f"a {MASK} b {MASK}" == redact(f"a {secret} b {secret.lower()}")

    def test_cookie_headers_are_masked_without_registration(self) -> None:
        """WASID4D=..., 4DSID_App=... and password-4D values are masked even when unknown."""
        text = "Cookie: WASID4D=ABCDEF0123; Set-Cookie: 4DSID_WSZ-DB=XYZ987; password-4D: hunter2"
        assert (
            f"Cookie: WASID4D={MASK}; Set-Cookie: 4DSID_WSZ-DB={MASK}; password-4D: {MASK}"
            == redact(text)
        )

    def test_short_values_are_not_registered(self) -> None:
        """Values too short to be secrets are not registered (they would mangle every log)."""
        register_secret("ab")
        assert "ab" not in registered_secrets()

    def test_text_without_secrets_is_unchanged(self, secret: str) -> None:
        """Text that contains no secret comes back unchanged."""
        assert "nothing to see (status=200)" == redact("nothing to see (status=200)")

    @given(st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and s))
    def test_any_secret_disappears(self, value: str) -> None:
        """Whatever the secret, it does not survive redaction of a text containing it."""
        assert value.lower() not in redact(f"<{value}>", [value]).lower()


class TestRedactSecretsProcessor:
    """The structlog processor scrubs every field of every event."""

    def test_scrubs_strings_nested_values_and_exceptions(self, secret: str) -> None:
        """Strings, nested containers and exception texts lose the secret."""
        event = {
            "event": f"login with {secret}",
            "headers": {"Cookie": f"WASID4D={secret}"},
            "values": [secret, (secret,)],
            "error": ServerError(f"body said {secret}"),
            "count": 3,
        }
        scrubbed = redact_secrets(None, "info", event)
        assert secret not in repr(scrubbed)
        assert 3 == scrubbed["count"]

    def test_works_in_a_structlog_chain(self, secret: str) -> None:
        """Configured in a processor chain, it keeps a leaked value out of the rendered line."""
        lines: list[str] = []

        def sink(_logger: object, _name: str, event_dict: dict[str, object]) -> str:
            lines.append(repr(event_dict))
            raise structlog.DropEvent

        logger = structlog.wrap_logger(structlog.PrintLogger(), processors=[redact_secrets, sink])
        logger.info("legacy_api.test", leaked=secret)
        assert 1 == len(lines)
        assert secret not in lines[0]
        assert MASK in lines[0]

    def test_errors_never_carry_the_value(self, secret: str) -> None:
        """The provider's errors are built without the cookie: their text has nothing to scrub."""
        error = LicenceExhausted("live: no 4D licence free", environment="live", status=402)
        assert str(error) == redact(str(error))
        with capture_logs() as events:
            structlog.get_logger("legacy_api").warning("legacy_api.test", error=str(error))
        assert secret not in repr(events)


class TestFernetCodec:
    """FernetCodec encrypts payloads at rest and supports key rotation."""

    def test_round_trip(self) -> None:
        """Encoding then decoding gives the data back, and the token does not contain it."""
        codec = FernetCodec(FernetCodec.generate_key())
        token = codec.encode(b"WASID4D-value-0123456789")
        assert b"WASID4D-value-0123456789" not in token
        assert b"WASID4D-value-0123456789" == codec.decode(token)

    def test_wrong_key_raises_value_error(self) -> None:
        """Data made with another key raises ValueError (the provider treats it as absent)."""
        token = FernetCodec(FernetCodec.generate_key()).encode(b"x")
        with pytest.raises(ValueError, match="cannot be decrypted"):
            FernetCodec(FernetCodec.generate_key()).decode(token)

    def test_previous_keys_still_decrypt(self) -> None:
        """A codec with the old key among ``previous`` reads data written with it."""
        old = FernetCodec.generate_key()
        token = FernetCodec(old).encode(b"payload")
        assert b"payload" == FernetCodec(FernetCodec.generate_key(), previous=[old]).decode(token)

    def test_any_secret_string_is_a_key(self) -> None:
        """A non-Fernet secret (a vault passphrase) derives a stable key."""
        token = FernetCodec("correct horse battery staple").encode(b"payload")
        assert b"payload" == FernetCodec("correct horse battery staple").decode(token)

    def test_from_env_reads_the_session_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """LEGACY_API_SESSION_KEY configures the codec; unset means no encryption."""
        monkeypatch.delenv("LEGACY_API_SESSION_KEY", raising=False)
        assert FernetCodec.from_env() is None
        key = FernetCodec.generate_key()
        monkeypatch.setenv("LEGACY_API_SESSION_KEY", key)
        codec = FernetCodec.from_env()
        assert codec is not None
        assert b"x" == FernetCodec(key).decode(codec.encode(b"x"))

    def test_key_is_scrubbed_from_logs(self) -> None:
        """Building a codec registers its key, so a leaked key is masked in log events."""
        key = FernetCodec.generate_key()
        FernetCodec(key)
        assert key not in redact(f"LEGACY_API_SESSION_KEY={key}")
        forget_secret(key)

    def test_repr_hides_the_key(self) -> None:
        """The codec's repr never shows a key."""
        key = FernetCodec.generate_key()
        assert key not in repr(FernetCodec(key, previous=[key]))
