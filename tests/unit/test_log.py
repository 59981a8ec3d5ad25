"""The library logger: stdlib logging until the application configures structlog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from legacy_core._log import set_log_format


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


class TestLibraryLogger:
    """legacy_core._log.get_logger in a fresh interpreter (structlog unconfigured)."""

    def test_stdout_stays_clean(self):
        """Unconfigured, events never reach stdout and only warnings reach stderr."""
        done = _run(
            """
            from legacy_core._log import get_logger
            log = get_logger()
            log.debug("legacy_api.debug_event", a=1)
            log.info("legacy_api.info_event", a=2)
            log.warning("legacy_api.warning_event", a=3)
            print("DATA")
            """
        )
        assert "DATA\n" == done.stdout
        assert "legacy_api.warning_event" in done.stderr
        assert "info_event" not in done.stderr

    def test_application_logging_config_is_followed(self):
        """With logging.basicConfig at INFO the info events appear as key=value lines."""
        done = _run(
            """
            import logging, sys
            logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
            from legacy_core._log import get_logger
            get_logger().info("legacy_api.info_event", rows=5, cookie="WASID4D=ABCDEF0123456789")
            """
        )
        assert "event='legacy_api.info_event'" in done.stderr
        assert "rows=5" in done.stderr
        assert "ABCDEF0123456789" not in done.stderr

    def test_configured_structlog_takes_over(self):
        """After structlog.configure the events go through the application's structlog chain."""
        done = _run(
            """
            import structlog
            from legacy_core._log import get_logger
            log = get_logger()
            structlog.configure(processors=[structlog.processors.JSONRenderer()])
            log.info("legacy_api.info_event", rows=5)
            """
        )
        assert '{"rows": 5, "event": "legacy_api.info_event"}\n' == done.stdout


class TestStdlibFormats:
    """The stdlib path's JSON option and the context variables it merges."""

    def test_json_lines_have_the_fields_and_the_bound_request_id(self):
        """LEGACY_API_LOG_FORMAT=json gives one JSON object per line with the bound request id."""
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    """
                    import logging, sys
                    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
                    import structlog
                    from legacy_core._log import get_logger
                    with structlog.contextvars.bound_contextvars(request_id="rid-9"):
                        get_logger().info(
                            "legacy_api.info_event", rows=5, cookie="WASID4D=ABCDEF0123456789"
                        )
                    """
                ),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "LEGACY_API_LOG_FORMAT": "json"},
        )

        (line,) = done.stderr.strip().splitlines()
        event = json.loads(line)
        assert {"event": "legacy_api.info_event", "rows": 5, "request_id": "rid-9"}.items() <= (
            event.items()
        )
        assert "ABCDEF0123456789" not in line

    def test_unknown_format_is_refused(self):
        """set_log_format names the formats it knows."""
        with pytest.raises(ValueError, match="json, kv"):
            set_log_format("xml")
