"""The recording and replaying transports, fault injection, and ``use_cassette``.

Both sit on the 4D adapter's transport seam, so the real reader, writer and session
provider run on top of them: :class:`Recorder` forwards to a real transport and records,
:class:`Replayer` answers from a cassette. What does not live here: the file format
(``_cassette.py``), secrets (``_scrub.py``) and matching (``_match.py``).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from legacy_adapters.fourd import HttpRequest, HttpResponse, Transport
from legacy_adapters.recorded._cassette import (
    Body,
    Cassette,
    Interaction,
    RecordedError,
    RecordedRequest,
    RecordedResponse,
    RecordMode,
)
from legacy_adapters.recorded._errors import CassetteMiss
from legacy_adapters.recorded._match import MatchKey, describe_miss, match_key
from legacy_adapters.recorded._scrub import PLACEHOLDER, Scrubber, restore_placeholders
from legacy_core._log import get_logger
from legacy_core.errors import ConfigurationError, ServerUnavailable, Timeout

__all__ = ["Faults", "Recorder", "Replayer", "use_cassette"]

_log = get_logger()

# Request headers that are noise for a reader of the cassette (and never matched).
_SKIP_REQUEST_HEADERS = frozenset(
    {"x-request-id", "user-agent", "accept-encoding", "connection", "content-length", "host"}
)
# Response headers worth keeping: what the adapter reads, plus what explains an answer.
_KEEP_RESPONSE_HEADERS = frozenset(
    {"content-type", "retry-after", "set-cookie", "location", "www-authenticate", "server"}
)


def _split_url(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    return unquote(parts.path), tuple(parse_qsl(parts.query, keep_blank_values=True))


def recorded_request(request: HttpRequest, scrubber: Scrubber | None) -> RecordedRequest:
    """Return the cassette form of ``request``: decoded, no base URL, secrets replaced."""
    path, url_query = _split_url(request.url)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        if name.lower() in _SKIP_REQUEST_HEADERS:
            continue
        headers[name] = scrubber.header(name, value) if scrubber else value
    body = Body.decode(request.body)
    query = url_query + tuple(request.params)
    if scrubber is not None:
        query = tuple((n, scrubber.text(v)) for n, v in query)
        body = body.map_strings(scrubber.text) if body is not None else None
    return RecordedRequest(
        environment=request.environment,
        method=request.method.upper(),
        path=path,
        query=query,
        headers=headers,
        body=body,
    )


@attrs.frozen
class Faults:
    """Faults injected on replay, drawn from a seeded generator so a run is repeatable.

    ``busy`` and ``reset`` are probabilities per request of a 503 answer and of a
    connection reset (ServerUnavailable); ``latency`` seconds are added to every answer.
    A faulted request does not consume its recording: the retry gets the real answer.
    """

    busy: float = 0.0
    reset: float = 0.0
    latency: float = 0.0
    seed: int = 0
    methods: frozenset[str] = frozenset({"GET", "POST"})

    def __attrs_post_init__(self) -> None:
        for name in ("busy", "reset"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                msg = f"Faults.{name} is a probability between 0 and 1, got {value}"
                raise ConfigurationError(msg)
        if self.busy + self.reset > 1.0:
            msg = "Faults.busy + Faults.reset must not exceed 1"
            raise ConfigurationError(msg)
        if self.latency < 0:
            msg = f"Faults.latency must be >= 0, got {self.latency}"
            raise ConfigurationError(msg)


@attrs.define
class Recorder:
    """A transport that forwards to ``inner`` and records every interaction, from any thread.

    Secrets are replaced while recording and once more when saving (a value learned late,
    such as a session id first seen in a later ``$info``, is still replaced everywhere).
    :meth:`save` writes the cassette and fails with SecretLeak if a known secret remains.
    """

    inner: Transport
    cassette: Cassette = attrs.field(factory=Cassette)
    scrubber: Scrubber = attrs.field(factory=Scrubber)

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send through ``inner`` and record the answer or the transport error."""
        return self.exchange(request)[0]

    def exchange(self, request: HttpRequest) -> tuple[HttpResponse, int]:
        """Send, record, and return the answer with the index of its interaction."""
        self.scrubber.learn_request_headers(request.headers)
        try:
            response = self.inner.send(request)
        except ServerUnavailable as exc:
            error = RecordedError(
                "Timeout" if isinstance(exc, Timeout) else "ServerUnavailable",
                self.scrubber.text(exc.message),
                exc.not_applied,
            )
            self.cassette.append(Interaction(recorded_request(request, self.scrubber), error=error))
            raise
        self.scrubber.learn_response(response.headers, response.set_cookies)
        body = Body.decode(response.body)
        if body is not None and body.kind == "json":
            self.scrubber.learn_body(body.value)
        recorded = RecordedResponse(
            status=response.status,
            headers={
                k.lower(): self.scrubber.header(k, v)
                for k, v in response.headers.items()
                if k.lower() in _KEEP_RESPONSE_HEADERS
            },
            set_cookies=tuple(
                (name, self.scrubber.text(value)) for name, value in response.set_cookies
            ),
            body=body.map_strings(self.scrubber.text) if body is not None else None,
            elapsed=response.elapsed,
        )
        index = self.cassette.append(
            Interaction(recorded_request(request, self.scrubber), response=recorded)
        )
        return response, index

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the cassette (re-scrubbed) and scan the file for every known secret."""
        return self.cassette.save(path, secrets=self.scrubber.secrets, scrub=self.scrubber.text)

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


def _parse_mode(value: RecordMode | str) -> RecordMode:
    return RecordMode.parse(value)


@attrs.define
class Replayer:
    """A transport that answers from a cassette.

    Matching is by request content (see ``_match.py``), so a recording made by several
    threads replays in any arrival order; repeated identical requests get their recorded
    answers in recorded order. In mode ``none`` a request without a recording raises
    CassetteMiss showing the nearest interaction; in mode ``new`` it is forwarded to
    ``inner`` and recorded. ``allow_repeats`` replays the last answer again once a
    request's recordings are used up.
    """

    cassette: Cassette
    mode: RecordMode = attrs.field(default=RecordMode.NONE, converter=_parse_mode)
    inner: Transport | None = None
    faults: Faults | None = None
    allow_repeats: bool = False
    scrubber: Scrubber = attrs.field(factory=Scrubber)
    sleep: Callable[[float], None] = time.sleep
    injected: dict[str, int] = attrs.field(init=False, factory=lambda: {"busy": 0, "reset": 0})
    """How many faults of each kind were injected so far."""
    _queues: dict[MatchKey, list[int]] = attrs.field(init=False, factory=dict)
    _played: dict[MatchKey, int] = attrs.field(init=False, factory=lambda: defaultdict(int))
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _rng: random.Random = attrs.field(init=False)
    _recorder: Recorder | None = attrs.field(init=False, default=None)

    @_rng.default
    def _make_rng(self) -> random.Random:
        return random.Random(self.faults.seed if self.faults else 0)  # noqa: S311 - not crypto

    def __attrs_post_init__(self) -> None:
        if self.mode in {RecordMode.ONCE, RecordMode.ALL}:
            msg = f"a Replayer replays in mode none or new; use use_cassette() for {self.mode}"
            raise ConfigurationError(msg)
        if self.mode is RecordMode.NEW:
            if self.inner is None:
                msg = "record mode new needs a real transport to forward misses to"
                raise ConfigurationError(msg)
            # New secrets must not reuse a placeholder number the cassette already has.
            self.scrubber.reserve(PLACEHOLDER.findall(self.cassette.dumps().decode()))
            self._recorder = Recorder(self.inner, self.cassette, self.scrubber)
        for i, interaction in enumerate(self.cassette.snapshot()):
            self._queues.setdefault(match_key(interaction.request), []).append(i)

    def send(self, request: HttpRequest) -> HttpResponse:
        """Answer ``request`` from the cassette (or inject a fault first)."""
        fault = self._draw_fault(request)
        if fault == "reset":
            msg = f"{request.environment} dropped the connection (injected fault)"
            raise ServerUnavailable(msg, **_context(request))
        # Cookie values and X-Request-ID are not part of the key: no scrubbing needed.
        sent = recorded_request(request, None)
        key = match_key(sent)
        if fault == "busy":
            self._delay()
            return _busy_response()
        with self._lock:
            queue = self._queues.get(key, [])
            played = self._played[key]
            index: int | None = None
            if played < len(queue):
                index = queue[played]
                self._played[key] = played + 1
            elif queue and self.allow_repeats:
                index = queue[-1]
        if index is None:
            if self._recorder is not None:
                return self._record(request, key)
            msg = describe_miss(
                sent,
                self.cassette.snapshot(),
                cassette=str(self.cassette.path or "<in-memory cassette>"),
                exhausted=len(queue),
            )
            raise CassetteMiss(msg, **_context(request))
        self._delay()
        return self._answer(self.cassette.interactions[index], request)

    def _record(self, request: HttpRequest, key: MatchKey) -> HttpResponse:
        assert self._recorder is not None
        response, index = self._recorder.exchange(request)
        with self._lock:
            # Count it as played: the next identical request must not replay it.
            self._queues.setdefault(key, []).append(index)
            self._played[key] += 1
        return response

    def _draw_fault(self, request: HttpRequest) -> str | None:
        if self.faults is None or request.method.upper() not in self.faults.methods:
            return None
        with self._lock:
            draw = self._rng.random()
            fault = None
            if draw < self.faults.busy:
                fault = "busy"
            elif draw < self.faults.busy + self.faults.reset:
                fault = "reset"
            if fault is not None:
                self.injected[fault] += 1
            return fault

    def _delay(self) -> None:
        if self.faults is not None and self.faults.latency > 0:
            self.sleep(self.faults.latency)

    def _answer(self, interaction: Interaction, request: HttpRequest) -> HttpResponse:
        if interaction.error is not None:
            error_type = Timeout if interaction.error.type == "Timeout" else ServerUnavailable
            msg = f"{restore_placeholders(interaction.error.message)} (replayed)"
            raise error_type(msg, not_applied=interaction.error.not_applied, **_context(request))
        response = interaction.response
        assert response is not None
        body = response.body.map_strings(restore_placeholders) if response.body else None
        return HttpResponse(
            status=response.status,
            headers={k: restore_placeholders(v) for k, v in response.headers.items()},
            body=body.encode() if body is not None else b"",
            set_cookies=tuple((n, restore_placeholders(v)) for n, v in response.set_cookies),
            elapsed=response.elapsed + (self.faults.latency if self.faults else 0.0),
        )

    def unplayed(self) -> list[int]:
        """Return the indices of recorded interactions that no request has used yet."""
        with self._lock:
            used = {i for key, queue in self._queues.items() for i in queue[: self._played[key]]}
        return [i for i in range(len(self.cassette)) if i not in used]

    def save(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """In mode ``new``, write the cassette with what was recorded; else do nothing."""
        if self._recorder is None:
            return None
        return self._recorder.save(path)

    def close(self) -> None:
        """Close the inner transport, if any."""
        if self.inner is not None:
            self.inner.close()


def _context(request: HttpRequest) -> dict[str, Any]:
    return {
        "environment": request.environment,
        "method": request.method,
        "path": request.path,
        "request_id": request.request_id,
    }


def _busy_response() -> HttpResponse:
    body = (
        b'{"__ERROR":[{"message":"Server busy (injected fault)",'
        b'"componentSignature":"replay","errCode":503}]}'
    )
    return HttpResponse(status=503, headers={"content-type": "application/json"}, body=body)


@contextlib.contextmanager
def use_cassette(
    path: str | os.PathLike[str],
    *,
    mode: RecordMode | str = RecordMode.NONE,
    transport: Transport | None = None,
    scrubber: Scrubber | None = None,
    faults: Faults | None = None,
    allow_repeats: bool = False,
) -> Iterator[Recorder | Replayer]:
    """Yield the transport for ``path`` in ``mode`` and save what was recorded on exit.

    ``none`` replays (the file must exist), ``once`` records when the file is missing and
    replays otherwise, ``new`` replays and records misses, ``all`` records from scratch.
    ``transport`` is the real transport to record through (needed by every mode but none).
    """
    record_mode = RecordMode.parse(mode)
    target = Path(path)
    scrub = scrubber if scrubber is not None else Scrubber()
    exists = target.exists()
    records_all = record_mode is RecordMode.ALL or (record_mode is RecordMode.ONCE and not exists)
    if (records_all or record_mode is RecordMode.NEW) and transport is None:
        msg = f"record mode {record_mode} needs the real transport to record through"
        raise ConfigurationError(msg)
    active: Recorder | Replayer
    if records_all:
        assert transport is not None
        active = Recorder(transport, Cassette(path=target), scrub)
    else:
        cassette = Cassette.load(target)
        active = Replayer(
            cassette,
            mode=RecordMode.NEW if record_mode is RecordMode.NEW else RecordMode.NONE,
            inner=transport,
            faults=faults,
            allow_repeats=allow_repeats,
            scrubber=scrub,
        )
    _log.debug("legacy_api.recorded.open", path=str(target), mode=str(record_mode))
    try:
        yield active
    finally:
        if isinstance(active, Recorder) or (
            isinstance(active, Replayer) and record_mode is RecordMode.NEW
        ):
            active.save(target)
