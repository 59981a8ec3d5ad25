"""Tests of 4D-aware matching: canonical keys and the readable diff of a miss."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st
from recorded_support import make_request

from legacy_adapters.recorded import Cassette, Interaction, canonical_filter, match_key
from legacy_adapters.recorded._match import describe_miss
from legacy_adapters.recorded._transport import recorded_request


def key(path, params=(), **kw):
    """The match key of a request built like the 4D adapter builds it."""
    return match_key(recorded_request(make_request(path, params, **kw), None))


_PARAM = st.tuples(
    st.sampled_from(["$filter", "$top", "$skip", "$orderby", "$attributes", "$params"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="%"), max_size=20
    ),
)


class TestMatchKey:
    @given(st.lists(_PARAM, max_size=5, unique_by=lambda p: p[0]), st.randoms())
    def test_order_and_encoding_do_not_matter(self, params, rnd):
        """Shuffled parameters, percent-encoded once, give the same key."""
        shuffled = list(params)
        rnd.shuffle(shuffled)
        encoded = tuple((n, quote(v, safe="")) for n, v in shuffled)
        assert key("/rest/Kunde", tuple(params)) == key("/rest/Kunde", encoded)

    def test_ignores_request_id_and_cookie_value(self):
        """X-Request-ID and the cookie value are not part of the key; the cookie name is."""
        a = key("/rest/Kunde", headers={"X-Request-ID": "a", "Cookie": "WASID4D=AAAA"})
        b = key("/rest/Kunde", headers={"X-Request-ID": "b", "Cookie": "WASID4D=BBBB"})
        none = key("/rest/Kunde")
        assert a == b
        assert a != none

    def test_base_url_does_not_matter(self):
        """A replay against another port matches a recording made on the first."""
        assert key("/rest/Kunde", base_url="http://127.0.0.1:1") == key(
            "/rest/Kunde", base_url="http://10.0.0.5:8080"
        )

    def test_environment_matters(self):
        """Live and test recordings never answer each other."""
        assert key("/rest/Kunde", environment="live") != key("/rest/Kunde", environment="test")

    def test_limit_is_top(self):
        """``$limit`` and ``$top`` are the same 4D parameter."""
        assert key("/rest/Kunde", (("$limit", "10"),)) == key("/rest/Kunde", (("$top", "10"),))

    def test_json_body_key_order(self):
        """Two JSON bodies with the same content match whatever their key order."""
        a = key("/rest/Kunde", method="POST", body={"__KEY": "1", "Name": "x"})
        b = key("/rest/Kunde", method="POST", body={"Name": "x", "__KEY": "1"})
        c = key("/rest/Kunde", method="POST", body={"Name": "y", "__KEY": "1"})
        assert a == b
        assert a != c

    def test_path_encoding(self):
        """A percent-encoded path matches its decoded form."""
        assert key("/rest/Kunde(%221%22)") == key('/rest/Kunde("1")')


class TestCanonicalFilter:
    def test_whitespace_outside_literals(self):
        """Spacing around operators and between words does not matter."""
        assert canonical_filter('Nummer=1  AND  Name = "a  b"') == canonical_filter(
            'Nummer = 1 AND Name="a  b"'
        )

    def test_literals_are_kept(self):
        """Spaces inside a string literal still matter."""
        assert canonical_filter('Name = "a b"') != canonical_filter('Name = "a  b"')


class TestDescribeMiss:
    def test_names_the_nearest_and_its_differences(self):
        """The miss message shows the closest recording and each differing parameter."""
        recorded = recorded_request(
            make_request("/rest/Kunde", (("$filter", "Nummer = 1"), ("$top", "100"))), None
        )
        near = Interaction(recorded)
        far = Interaction(recorded_request(make_request("/rest/$info"), None))
        sent = recorded_request(make_request("/rest/Kunde", (("$filter", "Nummer = 2"),)), None)
        text = describe_miss(sent, [far, near], cassette="c.json")
        assert "nearest recorded interaction #1: GET /rest/Kunde" in text
        assert "query $filter: recorded 'Nummer = 1', sent 'Nummer = 2'" in text
        assert "query $top: recorded '100', sent (absent)" in text

    def test_empty_cassette(self):
        """A miss on an empty cassette says so."""
        sent = recorded_request(make_request("/rest/Kunde"), None)
        assert "the cassette is empty" in describe_miss(
            sent, Cassette().interactions, cassette="c.json"
        )

    def test_body_diff(self):
        """A write whose body differs shows a unified diff of the JSON bodies."""
        rec = recorded_request(
            make_request("/rest/Kunde", method="POST", body={"__KEY": "1", "Name": "a"}), None
        )
        sent = recorded_request(
            make_request("/rest/Kunde", method="POST", body={"__KEY": "1", "Name": "b"}), None
        )
        text = describe_miss(sent, [Interaction(rec)], cassette="c.json")
        assert '    - "Name": "a",' in text.splitlines()
        assert '    + "Name": "b",' in text.splitlines()
