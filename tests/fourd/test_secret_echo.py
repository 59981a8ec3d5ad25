"""No secret in any error (issue 11, items 2 and 4): a server that echoes every request header.

The echoing server puts the request's headers — the session cookie, the login password —
into its ``__ERROR`` messages, ``statusText`` and bodies, plain, JSON-escaped and
percent-encoded. Every error path is driven through the real client; its str, repr,
traceback, pickle, body, entries and the application's rendered JSON log lines are
scanned for every spelling of every secret.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import structlog

from legacy_adapters.bootstrap import build_client
from legacy_core.errors import LegacyError
from legacy_core.secrets import redact_secrets, spellings
from legacy_core.service import LegacyClient

from .rawserver import RawRequest, RawServer, http_response

pytestmark = pytest.mark.integration

COOKIE = "C0FFEE00DEADBEEF0123456789ABCDEF"
PASSWORD = 'pa"ss w\\ö€rd&=%'
USER = "legacy"


def _echo(request: RawRequest) -> dict[str, str]:
    # Header bytes came as UTF-8; RawServer decoded them as Latin-1.
    return {k: v.encode("latin-1").decode("utf-8", "replace") for k, v in request.headers}


def _error_body(request: RawRequest, code: int) -> bytes:
    headers = _echo(request)
    plain = "; ".join(f"{k}: {v}" for k, v in headers.items())
    return json.dumps(
        {
            "__ERROR": [
                {
                    "message": f"Request refused: {plain}",
                    "componentSignature": "dbmg",
                    "errCode": code,
                },
                {"message": json.dumps(headers), "componentSignature": "http", "errCode": code},
                {"message": quote(plain), "componentSignature": "http", "errCode": code},
            ],
            "__STATUS": {"status": 3, "statusText": quote_plus(plain), "success": False},
        }
    ).encode()


_ARTIKEL_CATALOG = json.dumps(
    {"dataClasses": [{"name": "Artikel", "attributes": [{"name": "Name", "type": "string"}]}]}
).encode()


def _scenario(kind: str) -> Callable[[RawRequest, int], Any]:
    """A handler: logins succeed (setting the cookie), data requests fail as ``kind``."""

    def handle(request: RawRequest, _n: int) -> Any:
        if kind.startswith("login") and "$directory/login" in request.target:
            status = 401 if kind == "login401" else 500
            return http_response(status, _error_body(request, 1822 if status == 401 else 1279))
        if "$directory/login" in request.target or "$info" in request.target:
            body = json.dumps({"result": True, "sessionInfo": []}).encode()
            cookie = f"WASID4D={COOKIE}; Path=/; Max-Age=3600; HttpOnly"
            return http_response(200, body, [("Set-Cookie", cookie)])
        if "$directory/logout" in request.target:
            return http_response(200, b'{"result": true}')
        if "$catalog/Artikel" in request.target:
            # The schema a write's field names are checked against before it is sent.
            return http_response(200, _ARTIKEL_CATALOG)
        echo = json.dumps(_echo(request))
        if kind == "protocol":
            return http_response(200, f"<html>{echo}</html>".encode())
        if kind == "truncated":
            return ("bytes", http_response(200, echo.encode(), content_length=10_000), "close")
        if kind == "timeout":
            time.sleep(1.5)
            return http_response(200, b"{}")
        status = {"401": 401, "402": 402, "404": 404, "500": 500, "write500": 500}[kind]
        code = {401: 1822, 402: 1823, 404: 1801, 500: 1279}[status]
        return http_response(status, _error_body(request, code))

    return handle


@pytest.fixture
def rendered() -> Iterator[list[str]]:
    """The application's structlog chain as the README recommends, rendering JSON lines."""
    lines: list[str] = []

    def sink(_logger: Any, _name: str, event: dict[str, Any]) -> Any:
        lines.append(json.dumps(event, default=str))
        raise structlog.DropEvent

    structlog.configure(
        processors=[
            structlog.processors.format_exc_info,
            redact_secrets,
            sink,
        ]
    )
    yield lines
    structlog.reset_defaults()


def _client(server: RawServer, tmp_path: Any) -> LegacyClient:
    return build_client(
        {
            "environments": {"live": server.base_url},
            "session_dir": str(tmp_path),
            "credentials": {"live": (USER, PASSWORD)},
            "retries": 1,
            "read_timeout": 0.5,
        }
    )


def _texts(err: LegacyError) -> list[str]:
    return [
        str(err),
        repr(err),
        "".join(traceback.format_exception(err)),
        pickle.dumps(err).decode("latin-1"),
        str(pickle.loads(pickle.dumps(err))),
        err.body or "",
        repr(err.errors),
    ]


def _hits(texts: list[str]) -> list[tuple[str, str]]:
    forms = {f.lower() for s in (COOKIE, PASSWORD) for f in spellings(s)}
    return [(form, t[:200]) for t in texts for form in forms if form in t.lower()]


KINDS = [
    *("401", "402", "404", "500", "protocol", "truncated", "timeout", "write500"),
    *("login401", "login500"),
]


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_in_errors_or_logs(kind: str, tmp_path: Any, rendered: list[str]) -> None:
    """Each error path: the server echoed the secrets, no error text or log line holds one."""
    server = RawServer(_scenario(kind))
    try:
        client = _client(server, tmp_path)
        call: Callable[[], object] = (
            (lambda: client.push_field("Artikel", "1", "Name", "x"))
            if kind == "write500"
            else (lambda: client.count("Artikel"))
        )
        with pytest.raises(LegacyError) as info:
            call()
        err = info.value
        logging.getLogger("legacy_api").error("failed", exc_info=err)
    finally:
        server.close()
    if kind.startswith("login"):
        logins = [r for r in server.requests if "$directory/login" in r.target]
        assert logins, "the login reached the echoing server"
        secret_sent = any(k.lower() == "password-4d" for r in logins for k, _ in r.headers)
    else:
        data = [r for r in server.requests if "/rest/Artikel" in r.target]
        assert data, "the data request reached the echoing server"
        secret_sent = any(COOKIE in v for r in data for _, v in r.headers)
    assert secret_sent  # there was a secret to leak
    if kind == "protocol":
        assert "X-Request-ID" in str(err)  # the echoed body is shown
    elif kind not in {"timeout", "truncated"}:
        assert "Request refused" in str(err)  # the server's own words reached the message
    assert [] == _hits(_texts(err))
    assert [] == _hits(rendered)


def test_stdlib_logging_is_redacted(tmp_path: Any) -> None:
    """Without structlog configured the library's stdlib lines are scrubbed too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("legacy_api")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    server = RawServer(_scenario("500"))
    try:
        with pytest.raises(LegacyError) as info:
            _client(server, tmp_path).count("Artikel")
        logger.error("failed: %s", info.value, exc_info=info.value)
    finally:
        server.close()
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    text = stream.getvalue()
    assert "legacy_api.http.request" in text
    assert [] == _hits([text])


def test_redaction_covers_every_spelling() -> None:
    """The redactor masks the plain, JSON-escaped and percent-encoded forms alike."""
    from legacy_core.secrets import redact, register_secret  # noqa: PLC0415

    register_secret(PASSWORD)
    text = " | ".join(
        [
            PASSWORD,
            json.dumps(PASSWORD),
            json.dumps(PASSWORD, ensure_ascii=False),
            quote(PASSWORD),
            quote_plus(PASSWORD),
            PASSWORD.upper(),
        ]
    )
    assert [] == _hits([redact(text)])
    assert redact(text).count("***") == 6
