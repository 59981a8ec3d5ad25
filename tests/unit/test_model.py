"""The core's frozen values: environments, sessions, queries, pages and writes."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from legacy_core.errors import ConfigurationError, InvalidQuery
from legacy_core.model import (
    Environment,
    FieldUpdate,
    OrderBy,
    Page,
    Query,
    Session,
    WriteResult,
    validate_identifier,
)
from legacy_core.ports import LoginResult
from legacy_core.query import field

COOKIE = "0123456789ABCDEF0123456789ABCDEF"


class TestEnvironment:
    """An Environment validates its name and URL and keys its session by both."""

    def test_trailing_slash_stripped(self) -> None:
        """The base URL is kept without a trailing slash."""
        assert "http://wsz-db:8080" == Environment("live", "http://wsz-db:8080/").base_url

    @pytest.mark.parametrize("name", ["", "Live", "live!", "1live", "x" * 33, "li ve", 5, None])
    def test_invalid_name(self, name: Any) -> None:
        """Names are short lowercase words; anything else is a configuration error naming it."""
        with pytest.raises(ConfigurationError, match=re.escape(repr(name))):
            Environment(name, "http://wsz-db:8080")

    @pytest.mark.parametrize("url", ["wsz-db:8080", "ftp://wsz-db", "http://user:pw@wsz-db:8080"])
    def test_invalid_url(self, url: str) -> None:
        """Only http(s) URLs without credentials are accepted; the error names the environment."""
        with pytest.raises(ConfigurationError) as info:
            Environment("live", url)
        assert "live" == info.value.environment
        assert "pw" not in str(info.value)

    def test_session_key(self) -> None:
        """The session key names the environment and a hash of its URL."""
        key = Environment("live", "http://wsz-db:8080").session_key
        assert re.fullmatch(r"legacy_api:session:live:[0-9a-f]{16}", key)

    def test_test_and_live_never_share_a_key(self) -> None:
        """Different URLs give different keys; the same URL the same key."""
        live = Environment("live", "http://wsz-db:8080")
        test = Environment("test", "http://wsz-test:8080")
        assert live.session_key != test.session_key
        assert live.session_key != Environment("live", "http://other:8080").session_key
        assert live.session_key == Environment("live", "http://wsz-db:8080/").session_key

    def test_repr(self) -> None:
        """The repr is short: name and URL."""
        assert "<Environment live http://wsz-db:8080>" == repr(
            Environment("live", "http://wsz-db:8080")
        )

    def test_frozen(self) -> None:
        """Environments cannot be changed after they are built."""
        env = Environment("live", "http://wsz-db:8080")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            env.name = "test"  # type: ignore[misc]


class TestSession:
    """A Session never shows its cookie value."""

    def session(self) -> Session:
        """A session with a recognisable cookie value."""
        return Session("live", "http://wsz-db:8080", "WASID4D", COOKIE, generation=3, lifetime=3600)

    def test_repr_hides_value(self) -> None:
        """repr, str and f-strings show the cookie name and *** but never the value."""
        session = self.session()
        for text in (repr(session), str(session), f"{session}", repr([session])):
            assert COOKIE not in text
            assert "WASID4D=***" in text
        assert "<Session live WASID4D=*** generation=3 lifetime=3600s>" == repr(session)

    def test_evolved_repr_hides_value(self) -> None:
        """A session changed with ``attrs.evolve`` still hides its value."""
        assert COOKIE not in repr(attrs.evolve(self.session(), generation=4))

    def test_cookie_header(self) -> None:
        """The cookie header is exactly one NAME=VALUE pair."""
        assert f"WASID4D={COOKIE}" == self.session().cookie_header()

    def test_login_result_hides_value(self) -> None:
        """A LoginResult hides its cookie value too."""
        result = LoginResult("4DSID_WSZ-DB", COOKIE, 7200)
        assert "<LoginResult 4DSID_WSZ-DB=*** lifetime=7200s>" == repr(result)


class TestValidateIdentifier:
    """validate_identifier accepts 4D names and names what it refuses."""

    @pytest.mark.parametrize("name", ["Nummer", "__KEY", "_x", "Artikel_Variante", "a1", "x" * 255])
    def test_valid(self, name: str) -> None:
        """Letters, digits and underscores, not starting with a digit, up to 255 characters."""
        assert name == validate_identifier(name)

    @pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "x" * 256, "Artikel; DROP", "ö"])
    def test_invalid(self, name: str) -> None:
        """Everything else is an InvalidQuery quoting the name and the role."""
        with pytest.raises(InvalidQuery, match="invalid table"):
            validate_identifier(name, "table")


class TestQuery:
    """A Query normalises its projection and order and validates its window."""

    def test_defaults(self) -> None:
        """Without options a query reads the server's default page from the start."""
        query = Query("live", "Artikel")
        assert (None, (), (), None, 0, None, False) == (
            query.filter,
            query.attributes,
            query.order_by,
            query.top,
            query.skip,
            query.entity_set,
            query.typed,
        )

    def test_attributes_from_text(self) -> None:
        """A comma-separated projection becomes a tuple of names."""
        assert ("Nummer", "Bezeichnung") == Query(
            "live", "A", attributes="Nummer, Bezeichnung"
        ).attributes

    @pytest.mark.parametrize(
        ("spec", "expected"),
        [
            ("Nummer", (OrderBy("Nummer"),)),
            ("Nummer desc", (OrderBy("Nummer", descending=True),)),
            ("Nummer ASC", (OrderBy("Nummer"),)),
            ("-Nummer", (OrderBy("Nummer", descending=True),)),
            ("Nummer desc, Bezeichnung", (OrderBy("Nummer", True), OrderBy("Bezeichnung"))),
            (["-A", OrderBy("B")], (OrderBy("A", True), OrderBy("B"))),
        ],
        ids=repr,
    )
    def test_order_forms(self, spec: Any, expected: tuple[OrderBy, ...]) -> None:
        """Order accepts 'F', 'F desc', '-F', comma lists and OrderBy values."""
        assert expected == Query("live", "A", order_by=spec).order_by

    @pytest.mark.parametrize(
        ("spec", "culprit"), [("Nummer up", "Nummer up"), ([5], "int"), ("-1x", "1x")]
    )
    def test_bad_order(self, spec: Any, culprit: str) -> None:
        """A malformed order names what was wrong."""
        with pytest.raises(InvalidQuery, match=culprit):
            Query("live", "A", order_by=spec)

    def test_page_changes_only_the_window(self) -> None:
        """``page`` returns the same query for another window."""
        query = Query("live", "A", filter=field("N") == 1, order_by="N", top=10)
        moved = query.page(20, 5)
        assert (20, 5) == (moved.skip, moved.top)
        assert attrs.evolve(moved, skip=0, top=10) == query

    def test_frozen(self) -> None:
        """Queries cannot be changed in place."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            Query("live", "A").top = 5  # type: ignore[misc]

    def test_zero_top_allowed(self) -> None:
        """``top=0`` (count only) is a valid window."""
        assert 0 == Query("live", "A", top=0).top


class TestPage:
    """A Page knows how many records it holds."""

    def test_sent_defaults_to_records(self) -> None:
        """``sent`` is the number of records unless given."""
        page = Page(records=[{"a": 1}, {"a": 2}], count=10, first=4)
        assert (2, "<Page first=4 sent=2 count=10>") == (page.sent, repr(page))


class TestFieldUpdate:
    """A FieldUpdate checks its key, fields and expected stamp."""

    def test_environment_defaults_to_none(self) -> None:
        """Without an environment the writer's default applies."""
        assert None is FieldUpdate("A", "1", {"x": 1}).environment
        assert "test" == FieldUpdate("A", "1", {"x": 1}, environment="test").environment

    def test_values_copied(self) -> None:
        """Changing the caller's dict afterwards does not change the update."""
        values = {"x": 1}
        update = FieldUpdate("A", "1", values)
        values["x"] = 2
        assert {"x": 1} == update.values

    @pytest.mark.parametrize("key", ["", 5, None])
    def test_bad_key(self, key: Any) -> None:
        """A key is a non-empty string (4D keys are strings even when numeric)."""
        with pytest.raises(InvalidQuery, match="key"):
            FieldUpdate("A", key, {"x": 1})

    def test_no_values(self) -> None:
        """An update must set at least one field."""
        with pytest.raises(InvalidQuery, match="sets no field"):
            FieldUpdate("A", "1", {})

    @pytest.mark.parametrize(
        ("values", "culprit"), [({"__STAMP": 2}, "__STAMP"), ({"a b": 1}, "a b")]
    )
    def test_bad_field(self, values: dict[str, Any], culprit: str) -> None:
        """Managed and unaddressable fields are refused by name."""
        with pytest.raises(InvalidQuery, match=culprit):
            FieldUpdate("A", "1", values)

    def test_negative_stamp(self) -> None:
        """An expected stamp is never negative."""
        with pytest.raises(InvalidQuery, match="expected_stamp"):
            FieldUpdate("A", "1", {"x": 1}, -1)

    def test_write_result_repr_hides_record(self) -> None:
        """A WriteResult's repr does not dump the whole record."""
        result = WriteResult("A", "1", 2, {"Geheim": "x"})
        assert "Geheim" not in repr(result)
