"""Explicit capabilities (issue 14): sessions, per-environment views and the health probe."""

from __future__ import annotations

from typing import Any

import pytest

from legacy_adapters.bootstrap import build_client
from legacy_adapters.memory import MemoryBackend
from legacy_core.errors import ConfigurationError
from legacy_core.ports import HealthProbe
from legacy_core.sessions import SharedSessionProvider


class TestCapabilities:
    def test_fourd_client_exposes_its_session_provider(self, tmp_path: Any) -> None:
        """build_client hands the provider it built to the client: no probing needed."""
        client = build_client(
            {"environments": {"live": "http://x.invalid"}, "session_dir": str(tmp_path)}
        )
        assert isinstance(client.sessions, SharedSessionProvider)
        assert client.sessions is client.reader.sessions  # type: ignore[attr-defined]

    def test_memory_client_has_no_sessions(self) -> None:
        """A backend without 4D sessions leaves ``sessions`` None."""
        backend = MemoryBackend()
        client = build_client(
            {"environments": {"live": "http://x.invalid"}, "backend": "memory"}, backend=backend
        )
        assert client.sessions is None
        assert not isinstance(backend, HealthProbe)

    def test_for_environment_shares_breakers(self, tmp_path: Any) -> None:
        """A view on another environment shares the breakers; unknown names are refused."""
        client = build_client(
            {
                "environments": {"live": "http://x.invalid", "test": "http://y.invalid"},
                "session_dir": str(tmp_path),
            }
        )
        view = client.for_environment("test")
        assert "test" == view.default_environment
        assert view.breaker("live") is client.breaker("live")
        assert client.for_environment("live") is client
        with pytest.raises(ConfigurationError, match="prod"):
            client.for_environment("prod")
