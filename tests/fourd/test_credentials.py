"""Credentials register their password for redaction as soon as they exist."""

from __future__ import annotations

from structlog.testing import capture_logs

from legacy_adapters.fourd import Credentials
from legacy_core._log import get_logger
from legacy_core.secrets import redact, redact_secrets


class TestCredentials:
    """The 4D login credentials."""

    def test_password_is_redacted_everywhere(self):
        """A password that slips into text is masked once Credentials were built."""
        creds = Credentials("pyerp", "Sup3r-Secret-pw")
        assert "login as pyerp with ***" == redact(f"login as pyerp with {creds.password}")

    def test_password_never_in_repr(self):
        """The repr names the user, never the password."""
        assert "Sup3r-Other-pw" not in repr(Credentials("pyerp", "Sup3r-Other-pw"))

    def test_processor_masks_password_in_log_fields(self):
        """The structlog processor masks the password inside any event field."""
        Credentials("pyerp", "Yet-Another-pw")
        event = redact_secrets(None, "info", {"event": "x", "detail": "pw=Yet-Another-pw;"})
        assert "Yet-Another-pw" not in str(event)

    def test_library_logger_reaches_structlog_when_configured(self):
        """Inside capture_logs (structlog configured) the library logger's events are captured."""
        with capture_logs() as events:
            get_logger().info("legacy_api.test.event", n=1)
        assert [{"event": "legacy_api.test.event", "n": 1, "log_level": "info"}] == events
