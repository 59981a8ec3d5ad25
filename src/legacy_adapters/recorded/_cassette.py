"""The cassette: recorded interactions and their readable, versioned JSON file format.

One interaction per request: the request as 4D sees it (environment, method, decoded
path, decoded query parameters including ``$filter``, JSON body, selected headers) and
the response (status, selected headers, cookies set, decoded body) or the transport
error it ended in. Secrets are already placeholders here; matching lives in
``_match.py``, the transports in ``_transport.py``.
"""

from __future__ import annotations

import base64
import enum
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from legacy_adapters.recorded._errors import SecretLeak
from legacy_adapters.recorded._scrub import find_leaks
from legacy_core._log import get_logger
from legacy_core.errors import ConfigurationError

__all__ = [
    "FORMAT",
    "VERSION",
    "Body",
    "Cassette",
    "Interaction",
    "RecordMode",
    "RecordedError",
    "RecordedRequest",
    "RecordedResponse",
    "scan_file",
]

FORMAT = "legacy-api-cassette"
VERSION = 1

_log = get_logger()


class RecordMode(enum.StrEnum):
    """When a cassette records.

    ``none`` replays only (a miss is an error), ``once`` records only when the file does
    not exist yet, ``new`` replays what it has and records the rest, ``all`` records
    everything again.
    """

    NONE = "none"
    ONCE = "once"
    NEW = "new"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | RecordMode) -> RecordMode:
        """Return the mode named ``value`` (any case); ConfigurationError for anything else."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(m.value for m in cls)
            msg = f"unknown record mode {value!r}; use one of {names}"
            raise ConfigurationError(msg) from None


@attrs.frozen
class Body:
    """A decoded body: ``kind`` is ``json``, ``text`` or ``base64`` (bytes that are not text)."""

    kind: str
    value: Any

    @classmethod
    def decode(cls, data: bytes | None) -> Body | None:
        """Decode raw bytes into the most readable form that round-trips."""
        if data is None:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return cls("base64", base64.b64encode(data).decode("ascii"))
        if text.strip():
            try:
                return cls("json", json.loads(text))
            except ValueError:
                pass
        return cls("text", text)

    def encode(self) -> bytes:
        """Return the bytes to hand back on replay (JSON compact, as 4D sends it)."""
        if self.kind == "json":
            return json.dumps(self.value, ensure_ascii=False, separators=(",", ":")).encode()
        if self.kind == "base64":
            return base64.b64decode(self.value)
        return str(self.value).encode("utf-8")

    def canonical(self) -> str:
        """Return a stable text form for matching: key order and whitespace do not matter."""
        if self.kind == "json":
            return json.dumps(self.value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return f"{self.kind}:{self.value}"

    def map_strings(self, fn: Any) -> Body:
        """Return the same body with ``fn`` applied to every string (placeholders in and out)."""
        if self.kind == "json":
            return Body("json", _map_strings(self.value, fn))
        if self.kind == "text":
            return Body("text", fn(self.value))
        return self


def _map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {fn(k): _map_strings(v, fn) for k, v in value.items()}
    return value


@attrs.frozen
class RecordedRequest:
    """A request as recorded: no base URL (it changes between runs), secrets as placeholders."""

    environment: str
    method: str
    path: str
    """Percent-decoded path, e.g. ``/rest/Artikel_Variante``."""
    query: tuple[tuple[str, str], ...] = ()
    """Decoded query parameters in the order sent (``$filter`` as 4D reads it)."""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: Body | None = None


@attrs.frozen
class RecordedResponse:
    """A response as recorded."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    """Selected headers, names lower-cased."""
    set_cookies: tuple[tuple[str, str], ...] = ()
    body: Body | None = None
    elapsed: float = 0.0


@attrs.frozen
class RecordedError:
    """A transport failure seen while recording (``ServerUnavailable`` or ``Timeout``)."""

    type: str
    message: str
    not_applied: bool = False


@attrs.frozen
class Interaction:
    """One request and what came back: a response or a transport error."""

    request: RecordedRequest
    response: RecordedResponse | None = None
    error: RecordedError | None = None


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return Path(value) if value else None


@attrs.define
class Cassette:
    """An ordered list of interactions, safe to append to from several threads.

    ``existed`` says whether it was loaded from a file (``once`` mode replays then).
    """

    path: Path | None = attrs.field(default=None, converter=_optional_path)
    interactions: list[Interaction] = attrs.field(factory=list)
    existed: bool = False
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, alias="_lock")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read a cassette file; ConfigurationError when it is missing or not a cassette."""
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            msg = f"cassette {p} does not exist; record it with --legacy-record=once"
            raise ConfigurationError(msg) from None
        except ValueError as exc:
            msg = f"cassette {p} is not valid JSON: {exc}"
            raise ConfigurationError(msg) from None
        return cls.from_json(doc, path=p)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Cassette:
        """Load the cassette at ``path`` if it exists, else start an empty one there."""
        p = Path(path)
        return cls.load(p) if p.exists() else cls(path=p)

    @classmethod
    def from_json(cls, doc: Any, *, path: Path | None = None) -> Cassette:
        """Build a cassette from its decoded JSON document (checks format and version)."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            msg = f"cassette {path or ''} is not a {FORMAT} document"
            raise ConfigurationError(msg)
        version = doc.get("version")
        if version != VERSION:
            msg = (
                f"cassette {path or ''} has format version {version!r}; "
                f"this legacy-api reads {VERSION}"
            )
            raise ConfigurationError(msg)
        interactions = [_interaction_from_json(i) for i in doc.get("interactions", [])]
        return cls(path=path, interactions=interactions, existed=path is not None)

    def __len__(self) -> int:
        return len(self.interactions)

    def append(self, interaction: Interaction) -> int:
        """Add an interaction at the end and return its index."""
        with self._lock:
            self.interactions.append(interaction)
            return len(self.interactions) - 1

    def snapshot(self) -> list[Interaction]:
        """Return a copy of the interactions (consistent while other threads append)."""
        with self._lock:
            return list(self.interactions)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON document of this cassette."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "interactions": [
                {"index": i, **_interaction_to_json(x)} for i, x in enumerate(self.snapshot())
            ],
        }

    def dumps(self, scrub: Any = None) -> bytes:
        """Return the file content: indented UTF-8 JSON, ``scrub`` applied to every string."""
        doc: Any = self.to_json()
        if scrub is not None:
            doc = _map_strings(doc, scrub)
        return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    def save(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        secrets: Sequence[str] = (),
        scrub: Any = None,
    ) -> Path:
        """Write the cassette atomically after scanning it for every value in ``secrets``.

        Raises SecretLeak (and writes nothing) when any secret would end up in the file.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            msg = "cassette has no path to save to"
            raise ConfigurationError(msg)
        data = self.dumps(scrub)
        _raise_on_leaks(data, secrets, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # A cassette is meant to be committed: readable like any source file.
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # Scan what is on disk too: the file, not our intention, is what gets committed.
        scan_file(target, secrets)
        self.path = target
        _log.info(
            "legacy_api.recorded.saved", path=str(target), interactions=len(self.interactions)
        )
        return target


def scan_file(path: str | os.PathLike[str], secrets: Iterable[str]) -> None:
    """Raise SecretLeak if any of ``secrets`` appears in the file at ``path`` (it is removed)."""
    p = Path(path)
    try:
        _raise_on_leaks(p.read_bytes(), list(secrets), p)
    except SecretLeak:
        p.unlink(missing_ok=True)
        raise


def _raise_on_leaks(data: bytes, secrets: Sequence[str], target: Path) -> None:
    leaks = find_leaks(data, secrets)
    if leaks:
        # Name how many and where, never the values themselves.
        msg = (
            f"refusing to keep cassette {target}: {len(leaks)} known secret value(s) "
            "would appear in it (cookie, credential or configured header); "
            "add the header to secret_headers or the value to secret_values"
        )
        raise SecretLeak(msg)


def _query_to_json(query: tuple[tuple[str, str], ...]) -> Any:
    names = [n for n, _ in query]
    if len(set(names)) == len(names):
        return dict(query)
    return [list(p) for p in query]


def _query_from_json(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        return tuple((str(k), str(v)) for k, v in value.items())
    return tuple((str(k), str(v)) for k, v in value or ())


def _body_to_json(body: Body | None) -> dict[str, Any]:
    return {} if body is None else {body.kind: body.value}


def _body_from_json(doc: Mapping[str, Any]) -> Body | None:
    for kind in ("json", "text", "base64"):
        if kind in doc:
            return Body(kind, doc[kind])
    return None


def _interaction_to_json(x: Interaction) -> dict[str, Any]:
    r = x.request
    req: dict[str, Any] = {"environment": r.environment, "method": r.method, "path": r.path}
    if r.query:
        req["query"] = _query_to_json(r.query)
    if r.headers:
        req["headers"] = dict(r.headers)
    req.update(_body_to_json(r.body))
    out: dict[str, Any] = {"request": req}
    if x.response is not None:
        s = x.response
        resp: dict[str, Any] = {"status": s.status}
        if s.headers:
            resp["headers"] = dict(s.headers)
        if s.set_cookies:
            resp["set_cookies"] = [list(c) for c in s.set_cookies]
        resp["elapsed"] = round(s.elapsed, 4)
        resp.update(_body_to_json(s.body))
        out["response"] = resp
    if x.error is not None:
        out["error"] = {
            "type": x.error.type,
            "message": x.error.message,
            "not_applied": x.error.not_applied,
        }
    return out


def _interaction_from_json(doc: Mapping[str, Any]) -> Interaction:
    r = doc["request"]
    request = RecordedRequest(
        environment=str(r["environment"]),
        method=str(r["method"]).upper(),
        path=str(r["path"]),
        query=_query_from_json(r.get("query")),
        headers={str(k): str(v) for k, v in (r.get("headers") or {}).items()},
        body=_body_from_json(r),
    )
    response = None
    if "response" in doc:
        s = doc["response"]
        response = RecordedResponse(
            status=int(s["status"]),
            headers={str(k).lower(): str(v) for k, v in (s.get("headers") or {}).items()},
            set_cookies=tuple((str(n), str(v)) for n, v in s.get("set_cookies", ())),
            body=_body_from_json(s),
            elapsed=float(s.get("elapsed", 0.0)),
        )
    error = None
    if "error" in doc:
        e = doc["error"]
        error = RecordedError(str(e["type"]), str(e.get("message", "")), bool(e.get("not_applied")))
    return Interaction(request=request, response=response, error=error)
