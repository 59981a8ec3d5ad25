"""The Django side of observability: request ids to 4D, LegacyErrors as HTTP, /metrics.

Views of the test project use the real client against the emulators over HTTP; the
request-id tests also serve Django itself over real HTTP (a WSGI server in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import attrs
import pytest
import requests
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import AsyncClient, Client, override_settings

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.django import get_client
from legacy_core import instrument
from legacy_core.instrument import HttpEvent, NoInstrumentation

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


@attrs.define
class HttpIds(NoInstrumentation):
    """Keeps the request id of every HTTP request sent to 4D."""

    ids: list[str | None] = attrs.field(factory=list)

    def http(self, event: HttpEvent) -> None:
        self.ids.append(event.request_id)


@pytest.fixture
def http_ids() -> Iterator[HttpIds]:
    seen = instrument.install(HttpIds())
    yield seen  # type: ignore[misc]
    instrument.uninstall(seen)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def django_url() -> Iterator[str]:
    """Django served over real HTTP on a free port (threads share the test's settings)."""
    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _first_key(emulators: dict[str, Any]) -> tuple[str, int]:
    emulators["live"].reset()
    record = get_client().fetch_frame(TABLE, limit=1, raw=True).iloc[0]
    return str(record["__KEY"]), int(record["__STAMP"])


class TestRequestIds:
    def test_incoming_id_reaches_every_4d_request(self, django_url, http_ids):
        """X-Request-ID sent to Django is the id of each 4D request the view made."""
        response = requests.get(
            f"{django_url}/demo/read/{TABLE}/", headers={"X-Request-ID": "req-4711"}, timeout=30
        )
        assert 200 == response.status_code
        assert "req-4711" == response.headers["X-Request-ID"]
        assert http_ids.ids
        assert {"req-4711"} == set(http_ids.ids)

    def test_the_id_is_in_the_4d_audit_of_a_write(self, django_url, emulators):
        """The emulator records the request id of the write it applied: the incoming one."""
        key, _ = _first_key(emulators)
        response = requests.get(
            f"{django_url}/demo/push/{TABLE}/{key}/",
            headers={"X-Request-ID": "write-0815"},
            timeout=30,
        )
        assert 200 == response.status_code
        assert ["write-0815"] == [a["request_id"] for a in emulators["live"].audit()]

    def test_without_an_id_one_is_made_and_returned(self, django_url, http_ids):
        """No (or an unusable) X-Request-ID: a fresh id is made, used for 4D and returned."""
        response = requests.get(
            f"{django_url}/demo/read/{TABLE}/", headers={"X-Request-ID": "bad id;\x7f"}, timeout=30
        )
        made = response.headers["X-Request-ID"]
        assert made != "bad id;\x7f"
        assert 32 == len(made)
        assert {made} == set(http_ids.ids)

    def test_each_request_gets_its_own_id(self, django_url, http_ids):
        """Two requests without ids get two different ids, none leaking into the next."""
        first = requests.get(f"{django_url}/demo/read/{TABLE}/", timeout=30)
        second = requests.get(f"{django_url}/demo/read/{TABLE}/", timeout=30)
        ids = [first.headers["X-Request-ID"], second.headers["X-Request-ID"]]
        assert ids[0] != ids[1]
        assert set(ids) == set(http_ids.ids)

    def test_async_view_gets_the_id_too(self, http_ids):
        """Through Django's async path the id reaches 4D from the view's worker thread."""
        response = asyncio.run(
            AsyncClient().get(f"/demo/acount/{TABLE}/", headers={"X-Request-ID": "async-1"})
        )
        assert 200 == response.status_code
        assert "async-1" == response["X-Request-ID"]
        assert http_ids.ids
        assert {"async-1"} == set(http_ids.ids)

    def test_async_view_errors_map_too(self):
        """An async view's UnknownTable is a 404 JSON answer as well."""
        response = asyncio.run(AsyncClient().get("/demo/acount/Nope/"))
        assert (404, "UnknownTable") == (response.status_code, response.json()["error"])


class TestErrorsAsHttp:
    def test_unknown_table_is_404_naming_it(self):
        """An unknown table answers 404 with environment, table and request id."""
        response = Client().get("/demo/read/Nope/", HTTP_X_REQUEST_ID="e-1")
        body = response.json()
        assert 404 == response.status_code
        assert ("UnknownTable", "live", "Nope", "e-1") == (
            body["error"],
            body["environment"],
            body["table"],
            body["request_id"],
        )

    def test_missing_record_is_404(self):
        """A key that does not exist answers 404 RecordNotFound."""
        response = Client().get(f"/demo/record/{TABLE}/99999999/")
        assert (404, "RecordNotFound") == (response.status_code, response.json()["error"])

    def test_stale_stamp_is_409(self, emulators):
        """A compare-and-set on a stale stamp answers 409."""
        key, stamp = _first_key(emulators)
        assert 200 == Client().get(f"/demo/push/{TABLE}/{key}/?stamp={stamp}").status_code
        response = Client().get(f"/demo/push/{TABLE}/{key}/?stamp={stamp}")
        assert (409, "StampConflict") == (response.status_code, response.json()["error"])

    def test_open_breaker_is_503_with_its_retry_after(self):
        """An open breaker answers 503 and Retry-After the seconds it stays open."""
        get_client().breaker("live").open_for(42, "test")
        response = Client().get(f"/demo/read/{TABLE}/")
        assert (503, "CircuitOpen") == (response.status_code, response.json()["error"])
        assert int(response["Retry-After"]) in {41, 42}

    def test_unreachable_server_is_503_with_a_default_retry_after(self):
        """A 4D that refuses connections answers 503 with the default Retry-After."""
        environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": "http://127.0.0.1:1"}
        with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": environments}):
            response = Client().get(f"/demo/read/{TABLE}/?env=test")
        assert (503, "ServerUnavailable", "test") == (
            response.status_code,
            response.json()["error"],
            response.json()["environment"],
        )
        assert "10" == response["Retry-After"]

    def test_no_licence_is_503(self):
        """A 4D with no licence free answers 503 with Retry-After."""
        with serve(EmulatorConfig(rows=5, licences=0)) as refusing:
            environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": refusing.base_url}
            legacy = {**settings.LEGACY_API, "ENVIRONMENTS": environments}
            with override_settings(LEGACY_API=legacy):
                response = Client().get(f"/demo/read/{TABLE}/?env=test")
        assert (503, "LicenceExhausted") == (response.status_code, response.json()["error"])
        assert int(response["Retry-After"]) >= 1

    def test_timeout_is_504(self):
        """A 4D slower than the read timeout answers 504."""
        with slow_emulator() as slow:
            environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": slow.base_url}
            legacy = {
                **settings.LEGACY_API,
                "ENVIRONMENTS": environments,
                "TIMEOUTS": {"CONNECT": 2.0, "READ": 0.2},
                "RETRIES": 0,
            }
            with override_settings(LEGACY_API=legacy):
                response = Client().get(f"/demo/read/{TABLE}/?env=test")
        assert (504, "Timeout") == (response.status_code, response.json()["error"])

    def test_protocol_error_is_502(self):
        """Truncated answers (a broken 4D or proxy) end as 502 ProtocolError."""
        with serve(EmulatorConfig(rows=5)) as broken:
            broken.set_faults(truncate_rate=1.0)
            environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": broken.base_url}
            legacy = {**settings.LEGACY_API, "ENVIRONMENTS": environments, "RETRIES": 0}
            with override_settings(LEGACY_API=legacy):
                response = Client().get(f"/demo/read/{TABLE}/?env=test")
        assert 502 == response.status_code, response.content
        assert "ProtocolError" == response.json()["error"]


@contextlib.contextmanager
def slow_emulator() -> Iterator[EmulatorServer]:
    """An emulator answering every request after a second."""
    with serve(EmulatorConfig(rows=5)) as slow:
        slow.set_faults(latency_ms=1000)
        yield slow


class TestMetricsView:
    def test_off_by_default_says_how_to_switch_on(self, monkeypatch):
        """Without the setting or variable /metrics is 404 naming LEGACY_API_METRICS."""
        monkeypatch.delenv("LEGACY_API_METRICS", raising=False)
        response = Client().get("/legacy-api/metrics")
        assert 404 == response.status_code
        assert b"LEGACY_API_METRICS" in response.content

    def test_on_serves_the_client_metrics(self):
        """With LEGACY_API_METRICS = True a view's reads show in the exposition."""
        pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")
        with override_settings(LEGACY_API_METRICS=True):
            before = Client().get("/legacy-api/metrics")
            assert 200 == Client().get(f"/demo/read/{TABLE}/").status_code
            after = Client().get("/legacy-api/metrics")
        assert 200 == before.status_code
        assert after["Content-Type"].startswith("text/plain")
        assert _rows(after.text) - _rows(before.text) == 3
        for part in instrument.installed():
            instrument.uninstall(part)


def _rows(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("legacy_api_rows_read_total{") and f'table="{TABLE}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


class TestHealthSessions:
    def test_health_reports_generation_and_licences(self, emulators):
        """Health names the shared session's generation and the licences 4D reports held."""
        emulators["live"].reset()
        body = Client().get("/legacy-api/health/live/").json()
        live = body["environments"]["live"]
        assert 200 == Client().get("/legacy-api/health/live/").status_code
        assert emulators["live"].stats()["active_sessions"] == live["licences_held"]
        assert isinstance(live["session_generation"], int)
        assert live["session_generation"] >= 1
