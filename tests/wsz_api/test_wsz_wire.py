"""What the shim sends to 4D: new_data_only and date_created_start become a valid $filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from fourd_emulator import EmulatorConfig, serve
from legacy_adapters.bootstrap import build_client
from legacy_adapters.fourd import HttpRequest, HttpResponse, RequestsTransport
from legacy_core.errors import ConfigurationError
from legacy_core.query import render
from wsz_api import use_client
from wsz_api._threshold import new_data_filter, new_data_threshold
from wsz_api.getTable import fetch_data_from_api

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@attrs.define
class ObservedTransport:
    """The real requests transport, keeping every request it sent for inspection."""

    inner: RequestsTransport = attrs.field(factory=RequestsTransport)
    sent: list[HttpRequest] = attrs.field(factory=list)

    def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)
        return self.inner.send(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    """An emulator for the wire tests."""
    with serve(EmulatorConfig(rows=60, seed=5)) as server:
        yield server.base_url


@pytest.fixture
def transport(live_url: str) -> Iterator[ObservedTransport]:
    """A shim client over the observed transport, with an in-process session store."""
    observed = ObservedTransport()
    config: dict[str, Any] = {"environments": {"live": live_url}, "session_store": "memory"}
    use_client(build_client(config, transport=observed))
    try:
        yield observed
    finally:
        use_client(None)
        observed.close()


def _params(transport: ObservedTransport) -> list[tuple[str, str]]:
    return [p for r in transport.sent if "/rest/Artikel_Variante" in r.url for p in r.params]


@pytest.mark.integration
class TestWhatIsSent:
    def test_new_data_only_is_a_greater_or_equal_filter_on_both_dates(
        self, transport: ObservedTransport, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """new_data_only=True sends created_date >= T OR modified_date >= T, nothing raw."""
        monkeypatch.setenv("LEGACY_API_NEW_DATA_SINCE", "2025-06-01")
        fetch_data_from_api("Artikel_Variante", new_data_only=True)
        params = _params(transport)
        filters = {v for k, v in params if k == "$filter"}
        assert {'created_date >= "2025-06-01" OR modified_date >= "2025-06-01"'} == filters
        names = {k for k, _ in params}
        assert not names & {"new_data_only", "date_created_start", "top", "limit"}

    def test_date_created_start_is_anded_with_the_threshold(
        self, transport: ObservedTransport, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """date_created_start adds created_date >= D with AND, in parentheses."""
        monkeypatch.setenv("LEGACY_API_NEW_DATA_SINCE", "2025-06-01")
        fetch_data_from_api(
            "Artikel_Variante", new_data_only=True, date_created_start=dt.datetime(2024, 3, 5, 9, 0)
        )
        filters = {v for k, v in _params(transport) if k == "$filter"}
        expected = (
            '(created_date >= "2025-06-01" OR modified_date >= "2025-06-01") '
            'AND created_date >= "2024-03-05"'
        )
        assert {expected} == filters

    def test_new_data_only_false_sends_no_filter(self, transport: ObservedTransport) -> None:
        """new_data_only=False with no date reads without $filter, paged with $top."""
        fetch_data_from_api("Artikel_Variante", top=5, skip=2, new_data_only=False)
        params = _params(transport)
        assert "$filter" not in {k for k, _ in params}
        assert ("$top", "5") in params
        assert ("$skip", "2") in params

    def test_where_text_is_sent_as_written(self, transport: ObservedTransport) -> None:
        """A legacy where= string reaches 4D unchanged as the $filter."""
        frame = fetch_data_from_api("Artikel_Variante", new_data_only=False, where="Nummer >= 1")
        assert {"Nummer >= 1"} == {v for k, v in _params(transport) if k == "$filter"}
        assert 60 == len(frame)


class TestNewDataThreshold:
    def test_default_is_seven_days_back(self) -> None:
        """Without settings the threshold is today minus seven days."""
        assert dt.date(2025, 6, 3) == new_data_threshold(today=dt.date(2025, 6, 10), environ={})

    def test_days_setting(self) -> None:
        """LEGACY_API_NEW_DATA_DAYS moves the window."""
        environ = {"LEGACY_API_NEW_DATA_DAYS": "0"}
        assert dt.date(2025, 6, 10) == new_data_threshold(
            today=dt.date(2025, 6, 10), environ=environ
        )

    def test_since_wins_over_days(self) -> None:
        """An explicit LEGACY_API_NEW_DATA_SINCE is used as is."""
        environ = {"LEGACY_API_NEW_DATA_SINCE": "2024-12-31", "LEGACY_API_NEW_DATA_DAYS": "3"}
        assert dt.date(2024, 12, 31) == new_data_threshold(environ=environ)

    @pytest.mark.parametrize(
        "environ",
        [
            {"LEGACY_API_NEW_DATA_SINCE": "31.12.2024"},
            {"LEGACY_API_NEW_DATA_DAYS": "-1"},
            {"LEGACY_API_NEW_DATA_DAYS": "week"},
        ],
    )
    def test_invalid_settings_raise(self, environ: dict[str, str]) -> None:
        """A malformed threshold setting is a ConfigurationError naming the variable."""
        with pytest.raises(ConfigurationError, match="LEGACY_API_NEW_DATA"):
            new_data_threshold(environ=environ)

    def test_filter_uses_only_greater_or_equal(self) -> None:
        """The rendered filter never uses strict > on dates."""
        text = render(new_data_filter(dt.date(2025, 1, 1))).text
        assert ">=" in text
        assert " > " not in text
