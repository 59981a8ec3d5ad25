"""4D-aware request matching: the canonical key of a request and a readable miss diff.

Two requests match when environment, method, path, canonical query, body and the names
(not values) of the cookies sent are the same. Parameter order and percent-encoding do
not matter, ``$limit`` is ``$top``, whitespace outside string literals in ``$filter``
and around commas in ``$attributes``/``$orderby`` does not matter; ``X-Request-ID`` and
cookie values are ignored.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from urllib.parse import unquote

import attrs

from legacy_adapters.recorded._cassette import Interaction, RecordedRequest
from legacy_adapters.recorded._scrub import parse_cookie_header

__all__ = ["MatchKey", "canonical_filter", "describe_miss", "match_key"]

_SYNONYMS = {"$limit": "$top"}
_DIFF_LINES = 20
_LIST_PARAMS = {"$attributes", "$orderby", "$expand"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_OPERATOR = re.compile(r"\s*([=<>!#()\[\],&|%])\s*")


@attrs.frozen
class MatchKey:
    """What must be equal for a recorded interaction to answer a request."""

    environment: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str | None
    cookies: tuple[str, ...]


def canonical_filter(text: str) -> str:
    """``$filter`` text with whitespace outside string literals normalised.

    Runs of whitespace become one space, and none is kept around operators and brackets,
    so ``Nummer=1`` and ``Nummer  =  1`` are the same filter; literals stay as written.
    """
    out: list[str] = []
    pos = 0
    for m in _STRING.finditer(text):
        out.append(_normalise(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_normalise(text[pos:]))
    return "".join(out).strip()


def _normalise(chunk: str) -> str:
    return _OPERATOR.sub(r"\1", re.sub(r"\s+", " ", chunk))


def _canonical_value(name: str, value: str) -> str:
    value = unquote(value)
    if name == "$filter":
        return canonical_filter(value)
    if name in _LIST_PARAMS:
        return ",".join(" ".join(v.split()) for v in value.split(","))
    return value.strip()


def canonical_query(query: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Return the decoded, synonym-folded, sorted query parameters."""
    pairs = []
    for name, value in query:
        n = unquote(name).strip()
        n = _SYNONYMS.get(n.lower(), n)
        pairs.append((n, _canonical_value(n, value)))
    return tuple(sorted(pairs))


def canonical_path(path: str) -> str:
    """Return the decoded path without a trailing slash."""
    p = unquote(path)
    return p.rstrip("/") or "/"


def match_key(request: RecordedRequest) -> MatchKey:
    """Return the key a request is matched on."""
    cookies: list[str] = []
    for name, value in request.headers.items():
        if name.lower() == "cookie":
            cookies.extend(n for n, _ in parse_cookie_header(value))
    return MatchKey(
        environment=request.environment,
        method=request.method.upper(),
        path=canonical_path(request.path),
        query=canonical_query(request.query),
        body=request.body.canonical() if request.body is not None else None,
        cookies=tuple(sorted(cookies)),
    )


def _display_query(request: RecordedRequest) -> dict[str, str]:
    # Canonical names, original values: the diff shows what the code really sent.
    out: dict[str, str] = {}
    for name, value in request.query:
        n = unquote(name).strip()
        out[_SYNONYMS.get(n.lower(), n)] = unquote(value)
    return out


def _body_diff(recorded: RecordedRequest, sent: RecordedRequest) -> list[str]:
    def lines(request: RecordedRequest) -> list[str]:
        if request.body is None:
            return []
        if request.body.kind == "json":
            return json.dumps(request.body.value, indent=1, sort_keys=True).splitlines()
        return str(request.body.value).splitlines()

    diff = list(
        difflib.unified_diff(lines(recorded), lines(sent), "recorded", "sent", n=1, lineterm="")
    )
    shown = diff[:_DIFF_LINES] + (["…"] if len(diff) > _DIFF_LINES else [])
    return ["  body differs:", *(f"    {line}" for line in shown)]


def _differences(
    sent: MatchKey, recorded: MatchKey, sent_req: RecordedRequest, rec_req: RecordedRequest
) -> list[str]:
    lines: list[str] = []
    for label in ("environment", "method", "path"):
        a, b = getattr(recorded, label), getattr(sent, label)
        if a != b:
            lines.append(f"  {label}: recorded {a!r}, sent {b!r}")
    rec_q, sent_q = dict(recorded.query), dict(sent.query)
    rec_show, sent_show = _display_query(rec_req), _display_query(sent_req)
    for name in sorted(set(rec_q) | set(sent_q)):
        if rec_q.get(name) != sent_q.get(name):
            a_txt = repr(rec_show[name]) if name in rec_q else "(absent)"
            b_txt = repr(sent_show[name]) if name in sent_q else "(absent)"
            lines.append(f"  query {name}: recorded {a_txt}, sent {b_txt}")
    if recorded.body != sent.body:
        lines.extend(_body_diff(rec_req, sent_req))
    if recorded.cookies != sent.cookies:
        lines.append(f"  cookies: recorded {list(recorded.cookies)}, sent {list(sent.cookies)}")
    return lines


def _short(text: str | None, limit: int = 200) -> str:
    if text is None:
        return "(none)"
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _distance(sent: MatchKey, recorded: MatchKey) -> int:
    score = 0
    score += 100 if sent.environment != recorded.environment else 0
    score += 50 if sent.method != recorded.method else 0
    score += 20 if sent.path != recorded.path else 0
    rec_q, sent_q = dict(recorded.query), dict(sent.query)
    score += sum(1 for n in set(rec_q) | set(sent_q) if rec_q.get(n) != sent_q.get(n))
    score += 2 if sent.body != recorded.body else 0
    score += 1 if sent.cookies != recorded.cookies else 0
    return score


def describe_miss(
    request: RecordedRequest,
    interactions: Sequence[Interaction],
    *,
    cassette: str,
    exhausted: int = 0,
) -> str:
    """Describe a miss: what was sent and how the nearest recorded request differs."""
    sent = match_key(request)
    query = "&".join(f"{n}={v}" for n, v in sent.query)
    head = (
        f"no recorded interaction in {cassette} matches {sent.method} {sent.path}"
        + (f"?{query}" if query else "")
        + f" (environment {sent.environment})"
    )
    if exhausted:
        return (
            f"{head}\n  all {exhausted} recorded answer(s) to this request were already played; "
            "the code under test sends it more often than when it was recorded"
        )
    if not interactions:
        return f"{head}\n  the cassette is empty"
    scored = sorted((_distance(sent, match_key(x.request)), i) for i, x in enumerate(interactions))
    _, nearest = scored[0]
    rec = interactions[nearest].request
    diff = _differences(sent, match_key(rec), request, rec)
    return "\n".join(
        [head, f"  nearest recorded interaction #{nearest}: {rec.method} {rec.path}", *diff]
    )
