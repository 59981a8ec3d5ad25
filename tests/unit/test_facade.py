"""The public facade ``legacy_api`` (issue 14): one import for what the README shows."""

from __future__ import annotations

import subprocess
import sys

import pytest

import legacy_api
from legacy_adapters.bootstrap import build_client
from legacy_core import errors
from legacy_core.service import LegacyClient


class TestFacade:
    def test_names_resolve_to_their_homes(self) -> None:
        """Every re-exported name is the very object of its home module."""
        assert legacy_api.build_client is build_client
        assert legacy_api.LegacyClient is LegacyClient
        assert legacy_api.errors is errors
        assert set(legacy_api.__all__) <= set(dir(legacy_api))
        for name in legacy_api.__all__:
            assert getattr(legacy_api, name) is not None

    def test_unknown_name_is_an_attribute_error(self) -> None:
        """A misspelt name fails like any module attribute, naming it."""
        with pytest.raises(AttributeError, match="build_cliend"):
            legacy_api.build_cliend  # type: ignore[attr-defined]  # noqa: B018

    def test_import_is_cheap(self) -> None:
        """``import legacy_api`` loads neither requests, pandas nor the adapters."""
        code = (
            "import sys, legacy_api; "
            "print(sorted(m for m in ('requests', 'pandas', 'legacy_adapters') "
            "if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert "[]" == out

    def test_readme_example_builds_through_the_facade(self) -> None:
        """The facade builds a client and filters without touching the network."""
        from legacy_core.query import render  # noqa: PLC0415

        client = legacy_api.build_client({"environments": {"live": "http://x.invalid"}})
        assert isinstance(client, legacy_api.LegacyClient)
        assert "Nummer = 1" == render(legacy_api.field("Nummer") == 1).text


class TestWirePackage:
    def test_wire_is_pure(self) -> None:
        """``legacy_adapters.wire`` (messages, values, envelopes, codes) loads no HTTP library."""
        code = (
            "import sys, legacy_adapters.wire, legacy_adapters.wire._answers; "
            "print(sorted(m for m in ('requests', 'urllib3', 'httpx') if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert "[]" == out
