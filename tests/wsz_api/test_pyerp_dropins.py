"""pyERP's second-generation clients (LegacyAPIClient, LegacyERPClient) over the emulator.

The drop-ins talk HTTP to a real emulator through the shared client; each result is
checked against the table the emulator itself serves in one request.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from structlog.testing import capture_logs

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.bootstrap import build_client
from legacy_core.errors import InvalidQuery, RecordNotFound, UnknownTable
from wsz_api import _notice, use_client
from wsz_api.pyerp.external_api.legacy_erp import LegacyERPClient
from wsz_api.pyerp.legacy_sync import api_client as api_client_module
from wsz_api.pyerp.legacy_sync.api_client import LegacyAPIClient, api_client

TABLE = "Artikel_Variante"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator serving the live environment."""
    with serve(EmulatorConfig(rows=150, seed=17)) as server:
        yield server


@pytest.fixture(scope="module")
def every_row(emulator: EmulatorServer) -> pd.DataFrame:
    """The whole table as one request to 4D returns it (the oracle of these tests)."""
    with requests.Session() as http:
        reply = http.get(f"{emulator.base_url}/rest/{TABLE}", params={"$top": 10**6}, timeout=30)
        http.get(f"{emulator.base_url}/rest/$directory/logout", timeout=10)
    return pd.DataFrame(reply.json()["__ENTITIES"])


@pytest.fixture
def shared(emulator: EmulatorServer) -> Iterator[None]:
    """The shim's client over HTTP to the emulator, small pages, fresh notices."""
    client = build_client(
        {"environments": {"live": emulator.base_url}, "session_store": "memory"}, page_size=25
    )
    use_client(client)
    _notice.reset_notices()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield
    use_client(None)


def _day(wire: Any) -> dt.date | None:
    if not isinstance(wire, str) or wire in ("0!0!0", ""):
        return None
    d, m, y = map(int, wire.split("!"))
    return dt.date(y, m, d)


@pytest.mark.integration
@pytest.mark.usefixtures("shared")
class TestLegacyERPClient:
    def test_triples_filter_like_the_server(self, every_row: pd.DataFrame) -> None:
        """[[field, op, value]] triples are ANDed and give exactly the matching rows."""
        low, high = sorted(every_row["Nummer"])[10], sorted(every_row["Nummer"])[60]
        frame = LegacyERPClient("live").fetch_table(
            TABLE, filter_query=[["Nummer", ">=", low], ["Nummer", "<", high]]
        )
        expected = every_row[(every_row["Nummer"] >= low) & (every_row["Nummer"] < high)]
        assert sorted(expected["__KEY"]) == sorted(frame["__KEY"])
        assert 50 == len(frame)

    def test_in_with_pyerps_stringified_list(self, every_row: pd.DataFrame) -> None:
        """pyERP's [["AbsNr", "in", str(list)]] form selects the listed values."""
        wanted = [str(n) for n in every_row["Nummer"][:3]]
        frame = LegacyERPClient().fetch_table(TABLE, filter_query=[["Nummer", "in", str(wanted)]])
        assert sorted(int(n) for n in wanted) == sorted(frame["Nummer"])

    def test_repeated_equals_on_one_field_mean_any_of_them(self, every_row: pd.DataFrame) -> None:
        """The extractors' parent-id filters ([[f, "=", a], [f, "=", b]]) select a and b."""
        a, b = every_row["Nummer"][0], every_row["Nummer"][5]
        frame = LegacyERPClient().fetch_table(
            TABLE, filter_query=[["Nummer", "=", a], ["Nummer", "=", b]]
        )
        assert sorted([a, b]) == sorted(frame["Nummer"])

    def test_date_filter_dict_keeps_whole_days(self, every_row: pd.DataFrame) -> None:
        """{"created_date": {"gte": datetime, "lt": datetime}} filters on calendar days."""
        days = sorted(d for d in map(_day, every_row["created_date"]) if d)
        start, end = days[20], days[80]
        frame = LegacyERPClient().fetch_table(
            TABLE,
            filter_query={
                "created_date": {"gte": dt.datetime.combine(start, dt.time(15)), "lt": end}
            },
        )
        expected = [d for d in days if start <= d < end]
        assert len(expected) == len(frame)
        assert all(start <= v.date() < end for v in frame["created_date"])

    def test_known_date_columns_come_back_as_datetimes(self) -> None:
        """As pyERP's BaseAPIClient did, created_date is parsed from D!M!YYYY to datetimes."""
        frame = LegacyERPClient().fetch_table(TABLE, top=5)
        assert all(isinstance(v, (pd.Timestamp, dt.datetime)) for v in frame["created_date"])

    def test_omitted_new_data_only_returns_every_row(self, every_row: pd.DataFrame) -> None:
        """No new_data_only and no top: all rows, read in pages (ADR 0008, 0016)."""
        assert len(every_row) == len(LegacyERPClient().fetch_table(TABLE))

    def test_unknown_operator_raises_naming_the_table(self) -> None:
        """A bad triple is an InvalidQuery before any request, never a dropped condition."""
        with pytest.raises(InvalidQuery, match="unknown operator") as info:
            LegacyERPClient().fetch_table(TABLE, filter_query=[["Nummer", "~~", 1]])
        assert TABLE == info.value.table

    def test_record_and_push_round_trip(self, every_row: pd.DataFrame) -> None:
        """push_field writes one field, fetch_record reads it back; True means it happened."""
        key = every_row["__KEY"][3]
        client = LegacyERPClient("live")
        assert True is client.push_field(TABLE, key, "Bezeichnung", "Drop-in Engel")
        assert "Drop-in Engel" == client.fetch_record(TABLE, key)["Bezeichnung"]

    def test_unknown_table_raises_typed_error(self) -> None:
        """An unknown table raises UnknownTable, and logs no WARNING beside it."""
        with capture_logs() as logs, pytest.raises(UnknownTable):
            LegacyERPClient().fetch_table("Gibtsnicht")
        http = [e for e in logs if e["event"] == "legacy_api.http.request"]
        assert http
        assert [] == [e for e in http if e["log_level"] == "warning"]

    def test_check_connection(self) -> None:
        """check_connection is True against a running server."""
        assert True is LegacyERPClient().check_connection()


@pytest.mark.integration
@pytest.mark.usefixtures("shared")
class TestLegacyAPIClient:
    def test_module_singleton_is_a_client(self) -> None:
        """api_client is the module's LegacyAPIClient instance, built without I/O."""
        assert isinstance(api_client, LegacyAPIClient)
        assert api_client is api_client_module.api_client

    def test_default_top_caps_at_100_and_says_so(
        self, every_row: pd.DataFrame, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """fetch_table(t) keeps pyERP's top=100 cap; reaching it is a WARNING and a stderr line."""
        with capture_logs() as logs:
            frame = api_client.fetch_table(TABLE)
            api_client.fetch_table(TABLE, skip=10)
        assert list(every_row["__KEY"][:100]) == list(frame["__KEY"])
        reached = [e for e in logs if e["event"] == "legacy_api.wsz.top_reached"]
        assert ["warning", "warning"] == [e["log_level"] for e in reached]
        assert 1 == capsys.readouterr().err.count("top=100")

    def test_new_data_only_true_logs_the_threshold(self) -> None:
        """new_data_only=True names its threshold and how to change it at WARNING."""
        with capture_logs() as logs:
            api_client.fetch_table(TABLE, top=None, new_data_only=True)
        [event] = [e for e in logs if e["event"] == "legacy_api.wsz.new_data_only"]
        assert "warning" == event["log_level"]
        assert "LEGACY_API_NEW_DATA_SINCE" in event["message"]

    def test_fetch_record_of_a_missing_key_raises(self) -> None:
        """A missing key raises RecordNotFound instead of pyERP's empty dict."""
        with pytest.raises(RecordNotFound):
            api_client.fetch_record(TABLE, "0" * 32)

    def test_both_generations_share_one_session(self, emulator: EmulatorServer) -> None:
        """Calls through both drop-ins and wsz_api log in once in total."""
        before = requests.get(f"{emulator.base_url}/_emulator/stats", timeout=10).json()
        api_client.fetch_table(TABLE, top=3)
        LegacyERPClient().fetch_table(TABLE, top=3)
        api_client.refresh_session()
        after = requests.get(f"{emulator.base_url}/_emulator/stats", timeout=10).json()
        assert 1 == after["sessions_created"] - before["sessions_created"]
