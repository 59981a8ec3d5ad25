"""The read cache's pure parts: the row codec, the modes, the generic store, the metrics."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy_adapters.stores import MemorySessionStore, cache_store
from legacy_core import instrument
from legacy_core._steps import Steps, run
from legacy_core.cache import (
    ReadCache,
    StoreCache,
    Unencodable,
    check_mode,
    decode_rows,
    encode_rows,
    just,
)
from legacy_core.clock import SystemClock
from legacy_core.errors import InvalidQuery

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=2))])),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=5) | st.just("\x00t"), inner, max_size=4),
    ),
    max_leaves=12,
)


class TestRowCodec:
    """Records survive the stored form exactly: types, nesting, key order."""

    @given(
        st.lists(
            st.dictionaries(st.text(max_size=8).filter(lambda k: k != "\x00t"), values, max_size=5),
            max_size=5,
        )
    )
    def test_round_trip(self, records: list[dict[str, object]]) -> None:
        """Whatever 4D's typed or raw records hold comes back equal and of the same types."""
        rows, count = decode_rows(encode_rows(records, len(records) + 3))
        assert records == rows
        assert len(records) + 3 == count
        assert [list(r) for r in records] == [list(r) for r in rows]
        assert [repr(r) for r in records] == [repr(r) for r in rows]

    def test_special_floats_and_escapes(self) -> None:
        """NaN and infinities survive, and a mapping that looks like a tag stays a mapping."""
        record = {"n": math.inf, "tagged": {"\x00t": "d", "v": "2024-01-02"}}
        rows, _ = decode_rows(encode_rows([record, {"x": math.nan}], 2))
        assert record == rows[0]
        assert math.isnan(rows[1]["x"])  # type: ignore[arg-type]

    def test_aware_datetime_keeps_its_offset(self) -> None:
        """A UTC __TIMESTAMP comes back aware, with the same instant and offset."""
        stamp = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
        (row,), _ = decode_rows(encode_rows([{"__TIMESTAMP": stamp}], 1))
        assert stamp == row["__TIMESTAMP"]
        assert dt.timedelta(0) == row["__TIMESTAMP"].utcoffset()  # type: ignore[union-attr]

    def test_unknown_types_refused(self) -> None:
        """A value the codec cannot hold exactly raises Unencodable (the read is not cached)."""
        with pytest.raises(Unencodable):
            encode_rows([{"x": {1, 2}}], 1)
        with pytest.raises(Unencodable):
            encode_rows([{"x": {1: "int key"}}], 1)
        with pytest.raises(Unencodable):
            encode_rows([{"x": decimal.Context()}], 1)
        with pytest.raises(Unencodable):
            encode_rows([{"\x00t": 1}], 1)  # no 4D field has a NUL in its name

    def test_shallow_and_deep_payloads(self) -> None:
        """Tags in fields only take the quick path; a nested tag the full one; both exact."""
        day = dt.date(2024, 2, 29)
        flat = [{"Datum": day, "Obj": {"a": [1, "x"]}}]
        nested = [{"Datum": day, "Obj": {"when": day}}]
        assert b'"deep":false' in encode_rows(flat, 1)
        assert b'"deep":true' in encode_rows(nested, 1)
        assert (flat, 1) == decode_rows(encode_rows(flat, 1))
        assert (nested, 1) == decode_rows(encode_rows(nested, 1))

    def test_garbage_is_a_value_error(self) -> None:
        """A payload that is not a cached read raises ValueError or TypeError, not more."""
        for payload in (b"", b"[]", b'{"rows": 3, "count": 1}', b"\xff"):
            with pytest.raises((ValueError, TypeError)):
                decode_rows(payload)


class TestModes:
    """``cache=`` takes True, False or "refresh"."""

    @pytest.mark.parametrize("mode", [True, False, "refresh"])
    def test_valid(self, mode: object) -> None:
        """The three modes pass unchanged."""
        assert mode == check_mode(mode, table="T")

    @pytest.mark.parametrize("mode", [None, 1, 0, "yes", "Refresh"])
    def test_invalid(self, mode: object) -> None:
        """Anything else is InvalidQuery naming the table."""
        with pytest.raises(InvalidQuery, match="cache must be") as info:
            check_mode(mode, table="Artikel_Tags", environment="live")
        assert ("live", "Artikel_Tags") == (info.value.environment, info.value.table)


class TestStoreCache:
    """The generic store keeps one generation for everybody and a claim for one holder."""

    def test_generation_agreed_and_bumped(self) -> None:
        """Sixteen threads asking at once agree on one token; a bump replaces it for all."""
        cache = StoreCache(MemorySessionStore())
        tokens: list[str] = []
        start = threading.Barrier(16)

        def ask() -> None:
            start.wait()
            tokens.append(cache.generation("g"))

        threads = [threading.Thread(target=ask) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 1 == len(set(tokens))
        bumped = cache.bump("g")
        assert bumped != tokens[0]
        assert bumped == cache.generation("g")

    def test_claim_is_exclusive_until_released(self) -> None:
        """A second claim fails while the first is held, and succeeds after its release."""
        cache = cache_store(MemorySessionStore())
        release = cache.claim("k", 5.0)
        assert release is not None
        assert cache.claim("k", 5.0) is None
        release()
        again = cache.claim("k", 5.0)
        assert again is not None
        again()

    def test_put_replaces(self) -> None:
        """put stores and replaces; get reads what was last put."""
        cache = StoreCache(MemorySessionStore())
        assert cache.get("e") is None
        cache.put("e", b"one", 60)
        cache.put("e", b"two", 60)
        assert b"two" == cache.get("e")


class TestPolicy:
    """Which tables are cached, per environment."""

    def test_ttl(self) -> None:
        """A named table has its TTL; an unnamed one, a zero TTL or another environment: None."""
        cache = ReadCache(StoreCache(MemorySessionStore()), {"live": {"A": 60, "Z": 0}})
        assert 60 == cache.ttl("live", "A")
        assert cache.ttl("live", "B") is None
        assert cache.ttl("live", "Z") is None
        assert cache.ttl("test", "A") is None

    def test_entries_differ_by_shape_and_scope(self) -> None:
        """Two shapes or two servers give two keys; the same shape gives the same key."""
        cache = ReadCache(StoreCache(MemorySessionStore()), {"live": {"A": 60}})
        one = cache.entry("live", "s1", "A", "read", {"filter": None, "limit": 1}).key("g")
        same = cache.entry("live", "s1", "A", "read", {"limit": 1, "filter": None}).key("g")
        other = cache.entry("live", "s1", "A", "read", {"filter": None, "limit": 2}).key("g")
        server = cache.entry("live", "s2", "A", "read", {"filter": None, "limit": 1}).key("g")
        assert one == same
        assert len({one, other, server}) == 3


class TestMetrics:
    """The Prometheus counter legacy_api_cache_events_total counts the cache's events."""

    def test_counter(self) -> None:
        """cache_event increments the labelled counter in a real prometheus-client registry."""
        prometheus = pytest.importorskip("prometheus_client")  # the metrics extra
        from legacy_adapters.observe._metrics import PrometheusInstrumentation  # noqa: PLC0415

        CollectorRegistry = prometheus.CollectorRegistry  # noqa: N806 - the class
        made = PrometheusInstrumentation.create(CollectorRegistry(), add_to_default=False)
        instrument.install(made)
        try:
            instrument.cache_event("hits", "live", "Artikel_Tags")
            instrument.cache_event("hits", "live", "Artikel_Tags")
            instrument.cache_event("misses", "live", "Artikel_Tags")
        finally:
            instrument.uninstall(made)
        labels = {"environment": "live", "table": "Artikel_Tags"}
        hits = made.registry.get_sample_value(
            "legacy_api_cache_events_total", {**labels, "event": "hits"}
        )
        misses = made.registry.get_sample_value(
            "legacy_api_cache_events_total", {**labels, "event": "misses"}
        )
        assert (2.0, 1.0) == (hits, misses)


class TestReadSteps:
    """The policy's steps driven by the blocking driver over a real memory store."""

    def test_miss_store_hit_and_discard(self) -> None:
        """A miss stores the fetched payload, the next read serves it, a write discards it."""
        store = MemorySessionStore()
        cache = ReadCache(StoreCache(store), {"live": {"A": 60}})
        entry = cache.entry("live", "s", "A", "read", {"q": 1})
        fetched: list[int] = []

        def fetch() -> Steps[tuple[str, bytes | str]]:
            fetched.append(1)
            return just(("fresh", b"stored"))

        def read() -> str:
            steps = cache.read_steps(
                entry,
                True,
                fetch=fetch,
                decode=bytes.decode,
                serve=just,
                direct=lambda: just("direct"),
            )
            return run(steps, SystemClock())

        assert "fresh" == read()
        assert "stored" == read()
        assert [1] == fetched
        key = entry.key(StoreCache(store).generation(entry.generation_key))
        assert store.get(key) is not None
        run(cache.invalidate_steps("live", "s", ["A", "B"], "update"), SystemClock())
        assert store.get(key) is None  # the old generation's entry is gone, not only unreachable
        assert "fresh" == read()
        assert [1, 1] == fetched
