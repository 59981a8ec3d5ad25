"""The read cache of opted-in reference tables, shared by the deployment (ADR 0030).

Pure: the policy (:class:`ReadCache`: which tables, keys, single-flight, invalidation,
bounded waits, degrading to direct reads), the payload codecs (:func:`encode_rows` /
:func:`decode_rows`, Arrow IPC for columnar reads) and the generic :class:`StoreCache`
over any :class:`~legacy_core.ports.SessionStore` (memory, file, Redis, Django cache:
their ``get``, compare-and-set and lock). ``legacy_adapters.stores.cache_store`` picks it.

An entry is the whole result of one read, keyed by environment, table, the table's
*generation* and a digest of the rendered query. A write through the client replaces the
table's generation (a random token) in the shared store, so every process's entries of
that table become unreachable at once; they expire by their TTL.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import random
import secrets
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

import attrs

from legacy_core import instrument
from legacy_core._log import get_logger
from legacy_core._steps import Blocking, Emit, Sleep, Steps
from legacy_core.clock import SystemClock
from legacy_core.errors import InvalidQuery, LockTimeout
from legacy_core.model import Page, Record
from legacy_core.ports import Clock, SessionStore, Versioned

__all__ = [
    "CacheMode",
    "CacheStore",
    "ReadCache",
    "StoreCache",
    "Unencodable",
    "check_mode",
    "decode_rows",
    "encode_rows",
]

_log = get_logger()

T = TypeVar("T")
D = TypeVar("D")

CacheMode: TypeAlias = bool | Literal["refresh"]
"""A read verb's ``cache=``: True (use it), False (bypass), ``"refresh"`` (read 4D, store)."""

POLL = 0.05
"""Seconds between two looks of a process waiting for another one's fetch."""

_REMEMBERED = 256
"""Entries per table a process remembers to discard after a write (older ones only expire)."""

GENERATION_TTL = 7 * 86400.0
"""Seconds a table's generation token lives untouched (a lost one only causes misses)."""

_TAG = "\x00t"  # the key of a tagged value; no 4D attribute name holds a NUL


class Unencodable(TypeError):
    """A value the row codec cannot store exactly (the result is then not cached)."""


def check_mode(mode: object, *, table: str, environment: str | None = None) -> CacheMode:
    """``mode`` if it is a valid ``cache=`` argument, else InvalidQuery naming the table."""
    if mode is True or mode is False or mode == "refresh":
        return mode
    msg = f"cache must be True, False or 'refresh', not {mode!r}"
    raise InvalidQuery(msg, environment=environment, table=table)


# -- the row codec: JSON with tags for what JSON lacks -----------------------------------


_NATIVE = (bool, int, float, str, type(None))
_CONTAINERS = (dict, list, tuple)


def _pack(value: Any, tags: list[int]) -> Any:  # noqa: PLR0911, PLR0912 - one return per type
    """``value`` as JSON-native data, tagging what JSON lacks; ``tags[0]`` counts tags made."""
    kind = type(value)
    if kind in _NATIVE:
        return value
    tags[0] += 1
    if kind is dict:
        tags[0] -= 1  # a plain mapping is no tag
        packed = {}
        for k, v in value.items():
            if type(k) is not str:
                msg = f"a mapping key {k!r} is not a str"
                raise Unencodable(msg)
            packed[k] = _pack(v, tags)
        if _TAG in packed:  # a real mapping that looks like a tag: escape it
            tags[0] += 1
            return {_TAG: "map", "v": [[k, v] for k, v in packed.items()]}
        return packed
    if kind is list:
        tags[0] -= 1
        return [_pack(v, tags) for v in value]
    if kind is tuple:
        return {_TAG: "tuple", "v": [_pack(v, tags) for v in value]}
    if kind is dt.datetime:
        return {_TAG: "dtf" if value.fold else "dt", "v": value.isoformat()}
    if kind is dt.date:
        return {_TAG: "d", "v": value.isoformat()}
    if kind is dt.time:
        return {_TAG: "tf" if value.fold else "t", "v": value.isoformat()}
    if kind is dt.timedelta:
        return {_TAG: "td", "v": [value.days, value.seconds, value.microseconds]}
    if kind is decimal.Decimal:
        return {_TAG: "dec", "v": str(value)}
    if kind is bytes:
        return {_TAG: "b", "v": base64.b64encode(value).decode()}
    msg = f"{kind.__name__} values are not cached"
    raise Unencodable(msg)


_UNPACK: dict[str, Callable[[Any], Any]] = {
    "map": dict,
    "tuple": tuple,
    "dt": dt.datetime.fromisoformat,
    "d": dt.date.fromisoformat,
    "t": dt.time.fromisoformat,
    # isoformat drops ``fold`` (which of a repeated wall time): kept by the tag
    "dtf": lambda v: dt.datetime.fromisoformat(v).replace(fold=1),
    "tf": lambda v: dt.time.fromisoformat(v).replace(fold=1),
    "td": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "dec": decimal.Decimal,
    "b": base64.b64decode,
}


def _unpack(obj: dict[str, Any]) -> Any:
    tag = obj.get(_TAG)
    if tag is None:
        return obj
    return _UNPACK[tag](obj["v"])


def _pack_record(record: Record, tags: list[int]) -> tuple[dict[str, Any], bool]:
    """A record packed, and whether a tag sits below its fields (nested, or a container)."""
    out: dict[str, Any] = {}
    deep = False
    for name, value in record.items():
        if type(value) in _CONTAINERS:
            before = tags[0]
            out[name] = _pack(value, tags)
            deep = deep or tags[0] != before
        else:
            out[name] = _pack(value, tags)
    if _TAG in out:
        msg = f"a field named {_TAG!r}"
        raise Unencodable(msg)
    return out, deep


def encode_page(records: Iterable[Record]) -> tuple[bytes, bool]:
    """One page's records as the comma-joined JSON of each (b'' for none).

    The flag says whether any of them needs the slow, nested decoding (a tag below its
    fields).
    """
    tags = [0]
    packed = []
    deep = False
    for record in records:
        row, nested = _pack_record(record, tags)
        packed.append(row)
        deep = deep or nested
    text = json.dumps(packed, ensure_ascii=False, separators=(",", ":"))
    return text[1:-1].encode(), deep


def encode_rows(records: Iterable[Record], count: int) -> bytes:
    """A read's records and its selection's size as one payload; Unencodable if not exact."""
    part, deep = encode_page(records)
    return _rows_payload([part], count, deep=deep)


def _rows_payload(parts: Sequence[bytes], count: int, *, deep: bool) -> bytes:
    body = b",".join(p for p in parts if p)
    flag = b"true" if deep else b"false"
    return b'{"count":%d,"deep":%s,"rows":[' % (count, flag) + body + b"]}"


def decode_rows(payload: bytes) -> tuple[list[Record], int]:
    """The records and the count of :func:`encode_rows`; ValueError if it is not one.

    Records from 4D carry tags only in their fields (dates, times), so the usual payload
    is parsed plainly and only those fields are unpacked: about three times faster than a
    hook on every object, which only a ``deep`` payload needs.
    """
    try:
        data = json.loads(payload)
        rows, count, deep = data["rows"], data["count"], data["deep"]
        if deep:
            rows = json.loads(payload, object_hook=_unpack)["rows"]
        else:
            for row in rows:
                for name, value in row.items():
                    if type(value) is dict and _TAG in value:
                        row[name] = _unpack(value)
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        msg = f"not a cached read: {type(exc).__name__}"
        raise ValueError(msg) from None
    if not isinstance(rows, list) or not isinstance(count, int):
        msg = "not a cached read"
        raise TypeError(msg)
    return rows, count


def encode_arrow(table: Any, count: int) -> bytes:
    """A columnar read's table (Arrow IPC stream) after its count; exact for every type."""
    import pyarrow as pa  # noqa: PLC0415 - only columnar reads come here

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return struct.pack(">q", count) + bytes(sink.getvalue().to_pybytes())


def decode_arrow(payload: bytes) -> tuple[Any, int]:
    """The table and the count of :func:`encode_arrow`; ValueError if it is not one."""
    import pyarrow as pa  # noqa: PLC0415

    if len(payload) < 8:
        msg = "not a cached columnar read"
        raise ValueError(msg)
    (count,) = struct.unpack(">q", payload[:8])
    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload[8:])).read_all()
    except pa.ArrowInvalid as exc:
        msg = f"not a cached columnar read: {exc}"
        raise ValueError(msg) from None
    return table, int(count)


# -- the store --------------------------------------------------------------------------


@runtime_checkable
class CacheStore(Protocol):
    """Where every process's cache entries, generations and fetch claims live."""

    def get(self, key: str) -> bytes | None:
        """The entry's payload, or None when absent or expired."""
        ...

    def put(self, key: str, payload: bytes, ttl: float) -> None:
        """Store (or replace) the entry for ``ttl`` seconds."""
        ...

    def generation(self, key: str) -> str:
        """The table's current generation token (made, once for everybody, when absent)."""
        ...

    def bump(self, key: str) -> str:
        """Replace the table's generation with a new token and return it."""
        ...

    def claim(self, key: str, ttl: float) -> Callable[[], None] | None:
        """Take the fetch claim of ``key`` (held at most ``ttl``) without waiting.

        Returns the function that gives it back, or None when another process holds it.
        """
        ...

    def discard(self, key: str) -> None:
        """Remove the entry of an old generation.

        Stores that expire only what is read (memory, files) would keep it until then.
        """
        ...


@attrs.define(repr=False)
class StoreCache:
    """A :class:`CacheStore` over a session store's ``get``, compare-and-set and lock.

    Each operation is one primitive of the store (or a compare-and-set loop), all of
    them atomic for the deployment on Redis and the Django cache, and for the host on
    the file store; no script of its own is needed.
    """

    store: SessionStore

    def __repr__(self) -> str:
        return f"<StoreCache on {self.store!r}>"

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``."""
        current = self.store.get(key)
        return None if current is None else current.payload

    def put(self, key: str, payload: bytes, ttl: float) -> None:
        """Replace whatever is there (three tries against concurrent writers, then leave it)."""
        for _ in range(3):
            current = self.store.get(key)
            expected = None if current is None else current.generation
            value = Versioned((expected or 0) + 1, payload)
            if self.store.compare_and_set(key, expected, value, ttl):
                return

    def generation(self, key: str) -> str:
        """The token under ``key``; a new one stored only if absent, so all agree on it."""
        for _ in range(3):
            current = self.store.get(key)
            if current is not None:
                return current.payload.decode()
            token = secrets.token_hex(8)
            if self.store.compare_and_set(key, None, Versioned(1, token.encode()), GENERATION_TTL):
                return token
        return secrets.token_hex(8)  # nobody agrees: a token of our own is a miss, not stale

    def bump(self, key: str) -> str:
        """Store a new token whatever the old one was."""
        token = secrets.token_hex(8)
        self.put(key, token.encode(), GENERATION_TTL)
        return token

    def discard(self, key: str) -> None:
        """Delete the entry whatever it holds."""
        current = self.store.get(key)
        if current is not None:
            self.store.delete_if(key, current.generation)

    def claim(self, key: str, ttl: float) -> Callable[[], None] | None:
        """The store's lock taken with no wait; its release as the returned function."""
        held = self.store.lock(key, ttl, 0.0)
        try:
            held.__enter__()
        except LockTimeout:
            return None

        def release() -> None:
            held.__exit__(None, None, None)

        return release


# -- the policy -------------------------------------------------------------------------


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        msg = f"cache {attribute.name} must be a number > 0, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class Entry:
    """Where one read's result lives: its keys in the store and what it is about."""

    environment: str
    table: str
    ttl: float
    base: str
    """``legacy_api:cache:{environment}:{scope}:{table}``: the prefix of every key."""
    digest: str
    kind: str

    @property
    def generation_key(self) -> str:
        """The store key of the table's generation."""
        return self.base + ":gen"

    def key(self, generation: str) -> str:
        """The entry's key under ``generation``."""
        return f"{self.base}:{generation}:{self.kind}:{self.digest}"


@attrs.define
class ReadCache:
    """The read cache of a client: which tables, where, and the single-flight rule.

    ``tables`` maps each environment to ``{table: ttl seconds}``; a table not named is
    never cached. Failures of the store are logged and the read goes to 4D instead.
    """

    store: CacheStore
    tables: Mapping[str, Mapping[str, float]]
    max_bytes: int = 4_000_000
    """Results whose payload is larger are not stored (``legacy_api.cache.refused``)."""
    wait: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))
    """Seconds a miss waits for another process's fetch of the same entry, then reads 4D."""
    lock_ttl: float = attrs.field(default=60.0, validator=_positive)
    """Seconds a fetch claim lives if its holder dies."""
    clock: Clock = attrs.field(factory=SystemClock)
    jitter: random.Random = attrs.field(factory=random.Random, repr=False)
    _stored: dict[str, deque[str]] = attrs.field(init=False, factory=dict, repr=False)
    """Generation key -> the entries this process stored under it, discarded on a bump."""
    _guard: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def ttl(self, environment: str, table: str) -> float | None:
        """The TTL of ``table`` in ``environment``, or None when it is not cached."""
        ttl = self.tables.get(environment, {}).get(table)
        return ttl if ttl is not None and ttl > 0 else None

    def entry(self, environment: str, scope: str, table: str, kind: str, shape: object) -> Entry:
        """The entry of one read; ``shape`` is JSON of what makes its result (the query)."""
        ttl = self.ttl(environment, table)
        assert ttl is not None
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"), default=repr)
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        return Entry(environment, table, ttl, _base(environment, scope, table), digest, kind)

    def bypass(self, environment: str, table: str, kind: str) -> None:
        """Log and count a read that skipped the cache (``cache=False``)."""
        _log.info("legacy_api.cache.bypass", environment=environment, table=table, read=kind)
        instrument.cache_event("bypassed", environment, table)

    def read_steps(  # noqa: PLR0911 - each way out is one case of the rule
        self,
        entry: Entry,
        mode: CacheMode,
        *,
        fetch: Callable[[], Steps[tuple[T, bytes | str]]],
        decode: Callable[[bytes], D],
        serve: Callable[[D], Steps[T]],
        direct: Callable[[], Steps[T]],
    ) -> Steps[T]:
        """A read through the cache.

        ``fetch`` reads 4D (handing the result on as it goes) and returns it with its
        payload, or with the reason it cannot be stored; ``decode`` and ``serve`` turn a
        stored payload into the result; ``direct`` is the uncached read, for a failing
        store or a long wait.
        """
        env, table = entry.environment, entry.table
        try:
            generation: str = yield Blocking(lambda: self.store.generation(entry.generation_key))
        except Exception as exc:  # noqa: BLE001 - a failing cache never fails a read
            self._failed(entry, "generation", exc)
            return (yield from direct())
        key = entry.key(generation)
        if mode == "refresh":
            _log.info("legacy_api.cache.refresh", environment=env, table=table, read=entry.kind)
            instrument.cache_event("refreshes", env, table)
            result, payload = yield from fetch()
            yield from self._store(entry, key, payload)
            return result
        found = yield from self._look(entry, key, decode)
        if found is None:
            return (yield from direct())
        if found[0]:
            self._hit(entry, waited=None)
            return (yield from serve(found[1]))
        release = yield from self._claim(entry, key)
        if release is False:
            return (yield from direct())
        started = self.clock.monotonic()
        waited = release is None
        while release is None:  # another process is fetching: wait for its entry
            if self.clock.monotonic() - started >= self.wait:
                _log.warning(
                    "legacy_api.cache.wait_exceeded",
                    environment=env,
                    table=table,
                    limit_s=self.wait,
                )
                instrument.cache_event("timeouts", env, table)
                return (yield from direct())
            yield Sleep(POLL * (0.5 + self.jitter.random()))
            found = yield from self._look(entry, key, decode)
            if found is None:
                return (yield from direct())
            if found[0]:
                self._hit(entry, waited=self.clock.monotonic() - started)
                return (yield from serve(found[1]))
            release = yield from self._claim(entry, key)
            if release is False:
                return (yield from direct())
        try:
            # Another process may have stored it between our look and our claim.
            found = yield from self._look(entry, key, decode)
            if found is not None and found[0]:
                self._hit(entry, waited=self.clock.monotonic() - started if waited else None)
                return (yield from serve(found[1]))
            _log.info("legacy_api.cache.miss", environment=env, table=table, read=entry.kind)
            instrument.cache_event("misses", env, table)
            result, payload = yield from fetch()
            yield from self._store(entry, key, payload)
            return result
        finally:
            yield from self._release(entry, release)

    def invalidate_steps(
        self, environment: str, scope: str, tables: Iterable[str], verb: str
    ) -> Steps[None]:
        """Give each cached table of ``tables`` a new generation after a write (``verb``)."""
        for table in dict.fromkeys(tables):
            if self.ttl(environment, table) is None:
                continue
            try:
                yield Blocking(_bumper(self.store, _base(environment, scope, table) + ":gen"))
            except Exception as exc:  # noqa: BLE001 - the write is done; entries age out
                _log.warning(
                    "legacy_api.cache.invalidate_failed",
                    environment=environment,
                    table=table,
                    error=_error(exc),
                    stale_for_s=self.ttl(environment, table),
                )
                instrument.cache_event("errors", environment, table)
                continue
            _log.info(
                "legacy_api.cache.invalidated", environment=environment, table=table, write=verb
            )
            instrument.cache_event("invalidations", environment, table)
            yield from self._discard_old(_base(environment, scope, table) + ":gen")

    # -- internals -----------------------------------------------------------------------

    def _remember(self, entry: Entry, key: str) -> None:
        with self._guard:
            keys = self._stored.setdefault(entry.generation_key, deque(maxlen=_REMEMBERED))
            if key not in keys:
                keys.append(key)

    def _discard_old(self, generation_key: str) -> Steps[None]:
        """Remove the entries this process stored under the generation just replaced."""
        with self._guard:
            keys = list(self._stored.pop(generation_key, ()))
        if not keys:
            return

        def discard() -> None:
            for key in keys:
                self.store.discard(key)

        try:
            yield Blocking(discard)
        except Exception as exc:  # noqa: BLE001 - unreachable anyway; they expire by TTL
            _log.debug("legacy_api.cache.discard_failed", error=_error(exc))

    def _look(
        self, entry: Entry, key: str, decode: Callable[[bytes], D]
    ) -> Steps[tuple[Literal[True], D] | tuple[Literal[False], None] | None]:
        """(True, value) on a hit, (False, None) on a miss, None when the store failed."""
        try:
            payload: bytes | None = yield Blocking(lambda: self.store.get(key))
        except Exception as exc:  # noqa: BLE001
            self._failed(entry, "get", exc)
            return None
        if payload is None:
            return False, None
        try:
            return True, decode(payload)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # Another version's payload, or a damaged one: read 4D and store it anew.
            _log.warning(
                "legacy_api.cache.unreadable",
                environment=entry.environment,
                table=entry.table,
                error=_error(exc),
            )
            return False, None

    def _claim(self, entry: Entry, key: str) -> Steps[Callable[[], None] | Literal[False] | None]:
        """The release of our claim, None if held elsewhere, False when the store failed."""
        try:
            release: Callable[[], None] | None = yield Blocking(
                lambda: self.store.claim(key + ":lock", self.lock_ttl)
            )
        except Exception as exc:  # noqa: BLE001
            self._failed(entry, "claim", exc)
            return False
        return release

    def _release(self, entry: Entry, release: Callable[[], None]) -> Steps[None]:
        try:
            yield Blocking(release)
        except Exception as exc:  # noqa: BLE001 - the claim expires after lock_ttl
            self._failed(entry, "release", exc)

    def _store(self, entry: Entry, key: str, payload: bytes | str) -> Steps[None]:
        env, table = entry.environment, entry.table
        if isinstance(payload, str) or len(payload) > self.max_bytes:
            _log.info(
                "legacy_api.cache.refused",
                environment=env,
                table=table,
                read=entry.kind,
                reason=payload if isinstance(payload, str) else "too big",
                bytes=None if isinstance(payload, str) else len(payload),
                max_bytes=self.max_bytes,
            )
            instrument.cache_event("refused", env, table)
            return
        try:
            yield Blocking(lambda: self.store.put(key, payload, entry.ttl))
        except Exception as exc:  # noqa: BLE001
            self._failed(entry, "put", exc)
            return
        self._remember(entry, key)
        _log.info(
            "legacy_api.cache.store",
            environment=env,
            table=table,
            read=entry.kind,
            bytes=len(payload),
            ttl_s=entry.ttl,
        )
        instrument.cache_event("stored", env, table)

    def _hit(self, entry: Entry, *, waited: float | None) -> None:
        _log.info(
            "legacy_api.cache.hit",
            environment=entry.environment,
            table=entry.table,
            read=entry.kind,
            waited_ms=None if waited is None else round(waited * 1000, 1),
        )
        instrument.cache_event("hits", entry.environment, entry.table)

    def _failed(self, entry: Entry, what: str, exc: Exception) -> None:
        _log.warning(
            "legacy_api.cache.store_failed",
            environment=entry.environment,
            table=entry.table,
            operation=what,
            error=_error(exc),
        )
        instrument.cache_event("errors", entry.environment, entry.table)


def _base(environment: str, scope: str, table: str) -> str:
    return f"legacy_api:cache:{environment}:{scope}:{table}"


def _bumper(store: CacheStore, key: str) -> Callable[[], str]:
    return lambda: store.bump(key)


def _error(exc: BaseException) -> str:
    # The type and the first line: store errors name host:port, never a URL or password.
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


# -- what the client's read verbs need ---------------------------------------------------


@attrs.define
class PageCollector:
    """Gathers the pages of a read on a miss into the payload to store (bounded).

    Past ``max_bytes`` it stops gathering (the pages still reach the consumer) and the
    read is not stored.
    """

    columnar: bool
    max_bytes: int
    _parts: list[Any] = attrs.field(init=False, factory=list)
    _size: int = attrs.field(init=False, default=0)
    _count: int = attrs.field(init=False, default=0)
    _full: bool = attrs.field(init=False, default=False)
    _broken: bool = attrs.field(init=False, default=False)
    _deep: bool = attrs.field(init=False, default=False)

    def add(self, item: object) -> None:
        """Take one item of the page stream (a page, or a restart marker: start over)."""
        if not isinstance(item, Page):
            self._parts.clear()
            self._size, self._full, self._broken, self._deep = 0, False, False, False
            return
        self._count = item.count
        if self._full or self._broken:
            return
        if self.columnar:
            from legacy_core.columnar import ArrowRecords, records_to_table  # noqa: PLC0415

            records = item.records
            table = (
                records.table if isinstance(records, ArrowRecords) else records_to_table(records)
            )
            self._parts.append(table)
            self._size += int(table.nbytes)
        else:
            try:
                part, deep = encode_page(item.records)
            except Unencodable:
                self._broken = True
                self._parts.clear()
                return
            self._deep = self._deep or deep
            self._parts.append(part)
            self._size += len(part) + 1
        if self._size > self.max_bytes:
            self._full = True
            self._parts.clear()

    def payload(self) -> bytes | str:
        """What to store, or why not: ``too big``, or a value the codec cannot hold."""
        if self._full:
            return "too big"
        if self._broken:
            return "a value the cache cannot hold exactly"
        if self.columnar:
            from legacy_core.columnar import unify_tables  # noqa: PLC0415

            return encode_arrow(unify_tables(self._parts), self._count)
        return _rows_payload(self._parts, self._count, deep=self._deep)


def serve_pages(
    records: Sequence[Record],
    count: int,
    *,
    skip: int,
    page_size: int,
    limit: int | None,
    progress: Callable[[int, int], None] | None,
    sink: Callable[[Page], None] | None,
) -> Steps[None]:
    """Hand a cached read on as the pager would: pages of ``page_size``, then progress."""
    if limit == 0:
        if progress is not None:
            progress(0, 0)
        return
    total = len(records)
    starts = range(0, total, page_size) if total else range(1)
    for start in starts:
        page = Page(records[start : start + page_size], count, skip + start)
        if sink is None:
            yield Emit(page)
        else:
            sink(page)
    if progress is not None:
        progress(total, total)


def arrow_records(table: Any) -> Sequence[Record]:
    """A cached columnar read's table as the records of a page."""
    from legacy_core.columnar import ArrowRecords  # noqa: PLC0415

    return ArrowRecords(table)


def tap(steps: Steps[T], on_item: Callable[[Any], None]) -> Steps[T]:
    """``steps`` unchanged, with ``on_item`` called for every item it emits."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value, error = None, None
        if isinstance(effect, Emit):
            on_item(effect.item)
        try:
            value = yield effect
        except GeneratorExit:
            steps.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the inner steps, as yield from
            error = exc


def just(value: T) -> Steps[T]:
    """Steps that need nothing and return ``value``."""
    yield from ()
    return value
