"""The old call forms of COMPAT.md, in-process, over a client on the in-memory backend."""

from __future__ import annotations

import datetime as dt
import logging
import warnings

import pandas as pd
import pytest

from legacy_core.errors import InvalidQuery, RecordNotFound, UnknownTable
from legacy_core.query import field
from legacy_core.service import LegacyClient
from wsz_api import WszApiWarning
from wsz_api.api import WSZ_API
from wsz_api.api_logger import get_logger, logger
from wsz_api.getRecord import get_record, getRecord
from wsz_api.getTable import fetch_data_from_api, new_data_threshold
from wsz_api.pushField import push_data, push_field_to_api

pytestmark = [
    pytest.mark.usefixtures("memory_client", "no_threshold_env"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

KEYS = [f"{i:032X}" for i in range(1, 7)]


class TestFetchDataFromApi:
    def test_positional_table_name_with_new_data_only_false_returns_every_row(self) -> None:
        """A positional table name and new_data_only=False give all rows in server order."""
        frame = fetch_data_from_api("Artikel_Variante", new_data_only=False)
        assert KEYS == list(frame["__KEY"])

    def test_columns_are_raw_entity_keys_in_server_order(self, memory_client: LegacyClient) -> None:
        """Columns are the entity keys exactly as and in the order the backend sends them."""
        frame = fetch_data_from_api(table_name="Artikel_Variante", new_data_only=False)
        sent = memory_client.get_record("Artikel_Variante", KEYS[0], raw=True)
        assert list(sent) == list(frame.columns)

    def test_values_stay_as_sent(self, today: dt.date) -> None:
        """D!M!YYYY dates stay strings and nested objects stay dicts."""
        frame = fetch_data_from_api("Artikel_Variante", new_data_only=False)
        first = frame.iloc[0]
        created = today - dt.timedelta(days=1)
        assert f"{created.day}!{created.month}!{created.year}" == first["created_date"]
        assert {"Coll": [{"Art": "Laden", "Preis": 39.5, "VE": 1}]} == first["Preise"]

    def test_top_caps_the_rows_returned_across_pages(self) -> None:
        """top=3 returns three rows although the page size is two."""
        frame = fetch_data_from_api("Artikel_Variante", top=3, new_data_only=False)
        assert KEYS[:3] == list(frame["__KEY"])

    def test_top_larger_than_the_table_returns_everything(self) -> None:
        """top=10000 (callers' "all") returns every row."""
        frame = fetch_data_from_api("Artikel_Variante", top=10000, new_data_only=False)
        assert 6 == len(frame)

    def test_limit_is_an_alias_of_top(self) -> None:
        """limit= caps the rows like top=."""
        frame = fetch_data_from_api("Artikel_Variante", limit=2, new_data_only=False)
        assert KEYS[:2] == list(frame["__KEY"])

    def test_top_and_limit_that_disagree_raise(self) -> None:
        """Conflicting top and limit raise InvalidQuery instead of guessing."""
        with pytest.raises(InvalidQuery, match="disagree"):
            fetch_data_from_api("Artikel_Variante", top=2, limit=3)

    def test_skip_and_top_page_through_the_table(self) -> None:
        """table_name=, top=, skip= return the window after the skipped rows."""
        frame = fetch_data_from_api(
            table_name="Artikel_Variante", top=2, skip=3, new_data_only=False
        )
        assert KEYS[3:5] == list(frame["__KEY"])

    def test_offset_is_an_alias_of_skip(self) -> None:
        """offset= skips rows like skip=."""
        frame = fetch_data_from_api("Artikel_Variante", offset=4, new_data_only=False)
        assert KEYS[4:] == list(frame["__KEY"])

    def test_omitted_new_data_only_returns_every_row(self) -> None:
        """A call that does not pass new_data_only gets all rows, never a silent window."""
        frame = fetch_data_from_api("Artikel_Variante")
        assert KEYS == list(frame["__KEY"])

    def test_new_data_only_true_keeps_the_window(self) -> None:
        """new_data_only=True keeps only rows created or modified in the last seven days."""
        frame = fetch_data_from_api("Artikel_Variante", new_data_only=True)
        assert KEYS[:3] == list(frame["__KEY"])

    def test_default_can_be_switched_back_to_the_window(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """LEGACY_API_NEW_DATA_ONLY_DEFAULT=true restores the window for omitted calls."""
        monkeypatch.setenv("LEGACY_API_NEW_DATA_ONLY_DEFAULT", "true")
        assert KEYS[:3] == list(fetch_data_from_api("Artikel_Variante")["__KEY"])

    def test_new_data_since_setting_moves_the_threshold(
        self, monkeypatch: pytest.MonkeyPatch, today: dt.date
    ) -> None:
        """LEGACY_API_NEW_DATA_SINCE sets the threshold, observable via new_data_threshold()."""
        since = today - dt.timedelta(days=550)
        monkeypatch.setenv("LEGACY_API_NEW_DATA_SINCE", since.isoformat())
        frame = fetch_data_from_api("Artikel_Variante", new_data_only=True)
        assert since == new_data_threshold()
        assert KEYS[:4] == list(frame["__KEY"])

    def test_date_created_start_as_text_restricts_to_newer_rows(self, today: dt.date) -> None:
        """date_created_start="YYYY-MM-DD" keeps rows created on or after that day."""
        start = (today - dt.timedelta(days=550)).isoformat()
        frame = fetch_data_from_api(
            table_name="Artikel_Variante",
            top=10,
            skip=0,
            new_data_only=False,
            date_created_start=start,
        )
        assert KEYS[:4] == list(frame["__KEY"])

    def test_date_created_start_as_datetime_is_accepted(self, today: dt.date) -> None:
        """A datetime counts by its calendar day."""
        start = dt.datetime.combine(today - dt.timedelta(days=2), dt.time(13, 30))
        frame = fetch_data_from_api(
            "Artikel_Variante", new_data_only=False, date_created_start=start
        )
        assert KEYS[:1] == list(frame["__KEY"])

    def test_invalid_date_created_start_raises_before_any_request(self) -> None:
        """A date that is not YYYY-MM-DD is an InvalidQuery naming the parameter."""
        with pytest.raises(InvalidQuery, match="date_created_start"):
            fetch_data_from_api("Artikel_Variante", date_created_start="1.1.2025")

    def test_no_rows_is_an_empty_dataframe(self) -> None:
        """A table without rows gives an empty DataFrame, never None."""
        frame = fetch_data_from_api("Leer", new_data_only=False)
        assert isinstance(frame, pd.DataFrame)
        assert frame.empty

    def test_top_zero_is_an_empty_dataframe(self) -> None:
        """top=0 asks for no rows."""
        frame = fetch_data_from_api("Artikel_Variante", top=0, new_data_only=False)
        assert 0 == len(frame)

    def test_unknown_table_raises_with_environment_and_table_first(self) -> None:
        """An unknown table raises; the first line names the environment and the table."""
        with pytest.raises(UnknownTable) as info:
            fetch_data_from_api("Gibt_Es_Nicht", new_data_only=False)
        first = str(info.value).split("\n")[0]
        assert "Gibt_Es_Nicht" in first
        assert "live" in first

    def test_mode_selects_the_environment(self, memory_client: LegacyClient) -> None:
        """mode="test" reads the test environment, which holds its own data."""
        memory_client.push_field(
            "Artikel_Variante", KEYS[0], "Bezeichnung", "nur test", environment="test"
        )
        frame = fetch_data_from_api("Artikel_Variante", top=1, new_data_only=False, mode="test")
        assert "nur test" == frame.iloc[0]["Bezeichnung"]

    def test_fields_where_and_order_by_are_honoured(self) -> None:
        """The legacy keywords fields, where and order_by shape the read."""
        frame = fetch_data_from_api(
            "Artikel_Variante",
            new_data_only=False,
            fields=["Nummer"],
            where=field("Nummer") >= 803724,
            order_by="Nummer desc",
        )
        assert [803726, 803725, 803724] == list(frame["Nummer"])
        assert "Bezeichnung" not in frame.columns

    def test_where_dict_is_a_conjunction_of_equalities(self) -> None:
        """where={"Nummer": n} selects the rows with that value."""
        frame = fetch_data_from_api(
            "Artikel_Variante", new_data_only=False, where={"Nummer": 803722}
        )
        assert [KEYS[1]] == list(frame["__KEY"])

    def test_session_cookie_keyword_is_accepted_and_ignored_with_a_warning(self) -> None:
        """session_cookie= is no TypeError: a WszApiWarning says the shared session is used."""
        with pytest.warns(WszApiWarning, match="session_cookie"):
            frame = fetch_data_from_api("Artikel_Variante", new_data_only=False, session_cookie="x")
        assert 6 == len(frame)

    def test_unknown_keyword_is_accepted_with_a_warning(self) -> None:
        """An unexpected keyword is ignored with a warning naming it, never a TypeError."""
        with pytest.warns(WszApiWarning, match="verbose"):
            fetch_data_from_api("Artikel_Variante", new_data_only=False, verbose=True)


class TestArgumentChecks:
    def test_counts_given_as_digit_text_are_accepted(self) -> None:
        """top="2" (read from a config file) works like top=2."""
        frame = fetch_data_from_api("Artikel_Variante", top="2", new_data_only=False)
        assert 2 == len(frame)

    @pytest.mark.parametrize(("name", "value"), [("top", -1), ("skip", "all"), ("limit", 1.5)])
    def test_invalid_counts_raise_before_any_request(self, name: str, value: object) -> None:
        """Negative or non-numeric counts are an InvalidQuery naming the parameter."""
        with pytest.raises(InvalidQuery, match=name):
            fetch_data_from_api("Artikel_Variante", **{name: value})

    def test_mode_and_environment_that_disagree_raise(self) -> None:
        """mode= and environment= naming different servers is refused."""
        with pytest.raises(InvalidQuery, match="disagree"):
            get_record("Artikel_Variante", KEYS[0], mode="live", environment="test")

    def test_wsz_api_constructor_accepts_legacy_arguments(self) -> None:
        """WSZ_API(session_cookie=...) warns and ignores instead of raising TypeError."""
        with pytest.warns(WszApiWarning, match="session_cookie"):
            api = WSZ_API(session_cookie="old")
        assert KEYS[0] == api.get_record("Artikel_Variante", KEYS[0])["__KEY"]


class TestDeprecationWarnings:
    pytestmark = pytest.mark.filterwarnings("default::DeprecationWarning")

    def test_one_warning_per_call_site_naming_the_modern_call(self) -> None:
        """A calling line gets one warning however often it calls, even under "always"."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                fetch_data_from_api("Artikel_Variante", top=1, new_data_only=False)
            fetch_data_from_api("Artikel_Variante", top=1, new_data_only=False)
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        assert 2 == len(deprecations)
        assert {__file__} == {w.filename for w in deprecations}
        assert "LegacyClient.fetch_frame" in str(deprecations[0].message)

    def test_every_entry_point_warns_at_the_callers_line(self) -> None:
        """Each old function and WSZ_API method attributes its warning to the caller."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            api = WSZ_API()
            api.get_record("Artikel_Variante", KEYS[0])
            get_record("Artikel_Variante", KEYS[0])
            getRecord("Artikel_Variante", KEYS[0])
            push_data(table="Artikel_Variante", column="Bezeichnung", key=KEYS[0], value="a")
            push_field_to_api("Artikel_Variante", KEYS[0], "Bezeichnung", "b")
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        assert 6 == len(deprecations)
        assert {__file__} == {w.filename for w in deprecations}


class TestPushData:
    def test_push_data_by_keyword_writes_and_returns_true(self) -> None:
        """push_data(table=, column=, key=, value=) updates the field and returns True."""
        assert push_data(table="Artikel_Variante", column="Bezeichnung", key=KEYS[1], value="Neu")
        assert "Neu" == get_record("Artikel_Variante", KEYS[1])["Bezeichnung"]

    def test_push_field_to_api_takes_the_old_positional_order(self) -> None:
        """push_field_to_api(table_name, record_id, field_name, field_value) returns True."""
        assert push_field_to_api("Artikel_Variante", KEYS[2], "alteNummer", "X-1") is True
        assert "X-1" == get_record("Artikel_Variante", KEYS[2])["alteNummer"]

    def test_failure_raises_instead_of_returning_false(self) -> None:
        """An unknown key raises RecordNotFound (ADR 0010), it never returns False."""
        with pytest.raises(RecordNotFound):
            push_data(table="Artikel_Variante", column="Bezeichnung", key="NOPE", value="x")


class TestGetRecord:
    def test_get_record_returns_the_entity_as_a_dict(self) -> None:
        """get_record(table_name, record_id) returns a dict with raw values."""
        record = get_record("Artikel_Variante", KEYS[0])
        assert isinstance(record, dict)
        assert KEYS[0] == record["__KEY"]
        assert {"Coll": [{"Art": "Laden", "Preis": 39.5, "VE": 1}]} == record["Preise"]

    def test_camel_case_alias_returns_the_same(self) -> None:
        """getRecord is the old alias of get_record."""
        assert get_record("Artikel_Variante", KEYS[3]) == getRecord("Artikel_Variante", KEYS[3])

    def test_wsz_api_object_get_record(self) -> None:
        """WSZ_API().get_record(table, key) returns the entity."""
        assert 803725 == WSZ_API().get_record("Artikel_Variante", KEYS[4])["Nummer"]

    def test_unknown_key_raises_lookup_error(self) -> None:
        """A missing entity raises RecordNotFound, which is a LookupError."""
        with pytest.raises(LookupError):
            get_record("Artikel_Variante", "NOPE")


class TestApiLogger:
    def test_logger_is_the_wsz_api_stdlib_logger_without_handlers(self) -> None:
        """api_logger.logger is logging's 'wsz_api' logger and import adds no handler."""
        assert logging.getLogger("wsz_api") is logger
        assert [] == logger.handlers
        assert "wsz_api.sync" == get_logger("sync").name
