"""The Django app against a real project: checks, get_client, commands, health, Redis caches."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import warnings
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from tests.django.project.urls import HEALTH_CHECK_4

from legacy_adapters.django import check_health, get_client, reset_client
from legacy_adapters.django._client import session_provider
from legacy_adapters.django._health import register_health_check_plugin
from legacy_core.errors import ConfigurationError
from legacy_core.query import parse_where
from wsz_api import _client as wsz_client
from wsz_api import use_client
from wsz_api.getTable import fetch_data_from_api

needs_health_check_4 = pytest.mark.skipif(
    not HEALTH_CHECK_4, reason="django-health-check 4.x lists checks on its view (Django >= 5.2)"
)

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def legacy_ids(**changes: Any) -> list[str]:
    """Run the app's checks with LEGACY_API changed; return the message ids."""
    with override_settings(LEGACY_API={**settings.LEGACY_API, **changes}):
        return sorted(m.id for m in checks.run_checks(tags=["legacy_api"]) if m.id)


class TestSystemChecks:
    def test_valid_settings_pass(self) -> None:
        """The test project's settings produce no legacy_api message."""
        assert [] == legacy_ids()

    def test_missing_setting_is_an_error(self) -> None:
        """Without LEGACY_API the app reports E001."""
        with override_settings(LEGACY_API=None):
            ids = [m.id for m in checks.run_checks(tags=["legacy_api"])]
        assert ["legacy_api.E001"] == ids

    def test_no_environments_is_an_error(self) -> None:
        """An empty ENVIRONMENTS is E002."""
        assert ["legacy_api.E002"] == legacy_ids(ENVIRONMENTS={})

    @pytest.mark.parametrize(
        "url",
        ["wsz-db:8080", "ftp://wsz-db", "http://api:pw@wsz-db:8080", "http://wsz-db/rest/"],
    )
    def test_invalid_url_is_an_error(self, url: str) -> None:
        """URLs without http(s), with credentials or with a path are E003."""
        assert ["legacy_api.E003"] == legacy_ids(ENVIRONMENTS={"live": url})

    def test_environment_without_url_is_an_error(self) -> None:
        """An environment whose URL is empty is E002."""
        environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": ""}
        assert ["legacy_api.E002"] == legacy_ids(ENVIRONMENTS=environments)

    def test_default_environment_must_be_configured(self) -> None:
        """DEFAULT_ENVIRONMENT naming no environment is E006."""
        assert ["legacy_api.E006"] == legacy_ids(DEFAULT_ENVIRONMENT="prod")

    @pytest.mark.parametrize("alias", ["default", "files"])
    def test_non_atomic_session_cache_is_an_error(self, alias: str) -> None:
        """LocMem and FileBased caches cannot hold shared sessions: E004."""
        cache_settings = {
            **settings.CACHES,
            "files": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": "/tmp/legacy-api-never-used",
            },
        }
        with override_settings(CACHES=cache_settings):
            assert ["legacy_api.E004"] == legacy_ids(CACHE_ALIAS=alias)

    def test_unknown_cache_alias_is_an_error(self) -> None:
        """A CACHE_ALIAS missing from CACHES is E004."""
        assert ["legacy_api.E004"] == legacy_ids(CACHE_ALIAS="nowhere")

    def test_redis_caches_are_accepted(self) -> None:
        """Django's RedisCache and django_redis both pass."""
        assert [] == legacy_ids(CACHE_ALIAS="legacy_django_redis")

    def test_missing_session_key_warns_in_production(self) -> None:
        """Without SESSION_KEY and DEBUG off, W001 warns that cookies are stored unencrypted."""
        assert ["legacy_api.W001"] == legacy_ids(SESSION_KEY=None)

    def test_missing_session_key_is_fine_in_debug(self) -> None:
        """With DEBUG on, a missing key is not reported."""
        with override_settings(DEBUG=True):
            assert [] == legacy_ids(SESSION_KEY=None)

    @pytest.mark.parametrize(
        ("key", "name"), [("SESSION_STORE", "memcache"), ("BACKEND", "fourdd")]
    )
    def test_unknown_adapter_name_is_an_error(self, key: str, name: str) -> None:
        """Unregistered backend or session store names are E005."""
        assert ["legacy_api.E005"] == legacy_ids(**{key: name})

    def test_bad_numbers_are_errors(self) -> None:
        """Negative retries, a zero page size, a bad timeout and a negative TTL are reported."""
        ids = legacy_ids(RETRIES=-1, PAGE_SIZE=0, TIMEOUTS="soon", SCHEMA_TTL=-1)
        assert ["legacy_api.E001"] * 4 == ids

    def test_what_the_client_config_refuses_is_reported(self) -> None:
        """Credentials for an environment that is not configured are E001 at check time."""
        credentials = {"prod": {"username": "api", "password": "pw"}}
        assert ["legacy_api.E001"] == legacy_ids(CREDENTIALS=credentials)

    def test_manage_py_check_fails_on_errors(self) -> None:
        """``manage.py check`` stops with the app's error."""
        with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": {}}):
            with pytest.raises(Exception, match=r"legacy_api\.E002"):
                call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


class TestGetClient:
    def test_one_client_per_process_across_threads(self) -> None:
        """Sixteen threads asking at once get the same client, built once."""
        seen: list[int] = []
        barrier = threading.Barrier(16)

        def ask() -> None:
            barrier.wait()
            seen.append(id(get_client()))

        threads = [threading.Thread(target=ask) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert {id(get_client())} == set(seen)

    def test_env_selects_the_default_environment_on_shared_components(self) -> None:
        """get_client("test") defaults to test and shares the reader with the main client."""
        main, test = get_client(), get_client("test")
        assert ("live", "test") == (main.default_environment, test.default_environment)
        assert main.reader is test.reader
        assert main._breaker("test") is test._breaker("test")
        assert test is get_client("test")

    def test_unknown_env_raises(self) -> None:
        """An environment the settings do not name is a ConfigurationError."""
        with pytest.raises(ConfigurationError, match="nowhere"):
            get_client("nowhere")

    def test_schema_ttl_reaches_the_4d_reader(self) -> None:
        """SCHEMA_TTL reaches the 4D backend, which keeps each schema that long."""
        with override_settings(LEGACY_API={**settings.LEGACY_API, "SCHEMA_TTL": 120}):
            assert 120 == get_client().reader.schema_ttl

    def test_settings_change_rebuilds_the_client(self) -> None:
        """override_settings(LEGACY_API=...) drops the cached client."""
        before = get_client()
        with override_settings(LEGACY_API={**settings.LEGACY_API, "PAGE_SIZE": 7}):
            during = get_client()
            assert 7 == during.page_size
        assert before is not during

    def test_invalid_settings_raise_configuration_error(self) -> None:
        """Building from broken settings raises ConfigurationError naming the problem."""
        with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": {}}):
            with pytest.raises(ConfigurationError, match="no environments"):
                get_client()

    def test_reads_go_to_the_emulator(self, emulators: dict[str, Any]) -> None:
        """The client reads the configured environment over HTTP."""
        frame = get_client().fetch_frame("Artikel_Familie", limit=3)
        assert 3 == len(frame)
        assert 0 < emulators["live"].stats()["requests_total"]

    def test_wsz_api_uses_the_django_client_inside_django(self) -> None:
        """Inside a configured project the shim takes get_client() instead of env variables."""
        use_client(None)
        try:
            with pytest.warns(DeprecationWarning, match="fetch_frame"):
                frame = fetch_data_from_api("Artikel_Familie", top=2, new_data_only=False)
            assert wsz_client.get_client() is get_client()
        finally:
            use_client(None)
        assert 2 == len(frame)


@pytest.mark.usefixtures("flush_redis")
class TestSharedSessionInRedisCaches:
    @pytest.mark.parametrize("alias", ["legacy", "legacy_django_redis"])
    def test_session_is_stored_encrypted_and_reused_after_rebuild(
        self, alias: str, emulators: dict[str, Any]
    ) -> None:
        """Two clients (as two workers would) share one login through the Redis cache."""
        created = emulators["test"].stats()["sessions_created"]
        with override_settings(LEGACY_API={**settings.LEGACY_API, "CACHE_ALIAS": alias}):
            first = get_client("test")
            first.fetch_frame("Artikel_Familie", limit=1)
            environment = first.environments["test"]
            cookie = session_provider(first).acquire(environment).cookie_value
            reset_client()
            get_client("test").fetch_frame("Artikel_Familie", limit=1)
            stored = caches[alias].get(environment.session_key)
        assert created + 1 == emulators["test"].stats()["sessions_created"]
        assert stored is not None
        assert cookie.encode() not in bytes(stored["p"])

    def test_manage_py_processes_share_one_session(
        self, server_env: dict[str, str], emulators: dict[str, Any]
    ) -> None:
        """Four concurrent manage.py processes on django_redis log in once."""
        created = emulators["live"].stats()["sessions_created"]
        env = {
            **os.environ,
            **server_env,
            "DJANGO_SETTINGS_MODULE": "tests.django.project.settings",
            "LEGACY_TEST_CACHE_ALIAS": "legacy_django_redis",
            "PYTHONPATH": ROOT,
        }
        manage = os.path.join(ROOT, "tests", "django", "project", "manage.py")
        command = [sys.executable, manage, "legacy_api_fetch", "Artikel_Familie", "--limit", "2"]
        procs = [
            subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [0, 0, 0, 0] == [p.returncode for p in procs], outputs[0][1][-2000:]
        # structlog is unconfigured here, so its default console output shares stdout.
        headers = [line for out, _ in outputs for line in out.splitlines() if "__KEY," in line]
        assert 4 == len(headers)
        assert all(h.startswith("__KEY,__TIMESTAMP,__STAMP") for h in headers)
        assert created + 1 == emulators["live"].stats()["sessions_created"]


class TestFetchCommand:
    def test_json_output_with_limit(self) -> None:
        """--limit and --format json print that many records."""
        out = io.StringIO()
        call_command("legacy_api_fetch", "Artikel_Familie", "--limit", "4", "--format", "json",
                     stdout=out)  # fmt: skip
        assert 4 == len(json.loads(out.getvalue()))

    def test_where_fields_and_env(self) -> None:
        """--where in the where language, --fields and --env shape the read."""
        first = get_client("test").fetch_frame("Artikel_Familie", limit=1, raw=True)
        number = int(first.iloc[0]["Nummer"])
        out = io.StringIO()
        call_command("legacy_api_fetch", "Artikel_Familie", "--env", "test",
                     "--where", f"Nummer = {number} or Nummer = -1",
                     "--fields", "Nummer,Bezeichnung", "--format", "json", stdout=out)  # fmt: skip
        rows = json.loads(out.getvalue())
        assert [number] == [r["Nummer"] for r in rows]
        assert {"__KEY", "__TIMESTAMP", "__STAMP", "Nummer", "Bezeichnung"} == set(rows[0])

    def test_where_means_what_it_means_in_the_cli(self) -> None:
        """The same --where text selects the same rows as the CLI's parser (and repeats AND)."""
        expected = get_client().fetch_frame(
            "Artikel_Variante", where=parse_where("Typ = 1 and Aktiv = true"), fields="Nummer"
        )
        out = io.StringIO()
        call_command("legacy_api_fetch", "Artikel_Variante", "--where", "Typ = 1",
                     "--where", "Aktiv = true", "--fields", "Nummer", "--format", "json",
                     stdout=out)  # fmt: skip
        assert 0 < len(expected)
        assert sorted(expected["Nummer"]) == sorted(r["Nummer"] for r in json.loads(out.getvalue()))

    def test_old_field_equals_value_form_still_works_with_a_warning(self) -> None:
        """FIELD=VALUE with an unquoted text value keeps its old meaning, deprecated."""
        name = str(get_client().fetch_frame("Artikel_Variante", limit=1)["Bezeichnung"][0])
        assert " " in name  # the case the where language reads differently
        out, err = io.StringIO(), io.StringIO()
        with pytest.warns(DeprecationWarning, match="old FIELD=VALUE form"):
            call_command("legacy_api_fetch", "Artikel_Variante", "--where", f"Bezeichnung={name}",
                         "--fields", "Bezeichnung", "--format", "json", stdout=out,
                         stderr=err)  # fmt: skip
        rows = json.loads(out.getvalue())
        assert rows
        assert {name} == {r["Bezeichnung"] for r in rows}
        assert "deprecated" in err.getvalue()

    def test_old_form_with_the_same_meaning_is_not_deprecated(self) -> None:
        """FIELD=VALUE that the where language reads the same way raises no warning."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            call_command("legacy_api_fetch", "Artikel_Familie", "--where", "Nummer=1",
                         "--format", "json", stdout=io.StringIO())  # fmt: skip

    def test_bad_where_names_the_position(self) -> None:
        """A --where that is neither language nor old form stops before any request."""
        with pytest.raises(CommandError, match="position 8"):
            call_command("legacy_api_fetch", "Artikel_Familie", "--where", "Nummer eq 5",
                         stdout=io.StringIO())  # fmt: skip

    def test_csv_writes_nested_objects_as_json(self) -> None:
        """Nested 4D objects are JSON text in CSV, not Python reprs."""
        out = io.StringIO()
        call_command("legacy_api_fetch", "Artikel_Variante", "--limit", "3", "--fields", "Preise",
                     stdout=out)  # fmt: skip
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert 3 == len(rows)
        prices = [json.loads(r["Preise"]) for r in rows]
        assert all(isinstance(p["Coll"], list) for p in prices)

    def test_unknown_table_is_a_command_error_naming_it(self) -> None:
        """A missing table stops the command with the error's first line."""
        with pytest.raises(CommandError, match=r"Gibtsnicht.*status=404"):
            call_command("legacy_api_fetch", "Gibtsnicht", stdout=io.StringIO())

    def test_where_and_raw_filter_together_are_refused(self) -> None:
        """Both filter forms at once is a usage error."""
        with pytest.raises(CommandError, match="either"):
            call_command("legacy_api_fetch", "Artikel_Familie", "--where", "Nummer=1",
                         "--raw-filter", "Nummer = 1", stdout=io.StringIO())  # fmt: skip


@pytest.mark.usefixtures("flush_redis")
class TestSessionCommand:
    def test_show_lists_sessions_without_values(self) -> None:
        """show prints each environment, the cookie name masked, never the value."""
        client = get_client()
        environment = client.environments["live"]
        cookie = session_provider(client).acquire(environment).cookie_value
        out = io.StringIO()
        call_command("legacy_api_session", "show", stdout=out)
        text = out.getvalue()
        assert cookie not in text
        assert "live" in text
        assert "=***" in text
        assert "no shared session stored" in text  # test was never used

    def test_refresh_logs_in_once_more(self, emulators: dict[str, Any]) -> None:
        """refresh replaces the stored session with one new login and logs the old one out."""
        client = get_client()
        provider = session_provider(client)
        environment = client.environments["live"]
        old = provider.acquire(environment)
        before = emulators["live"].stats()
        out = io.StringIO()
        call_command("legacy_api_session", "refresh", stdout=out)
        new = provider.acquire(environment)
        after = emulators["live"].stats()
        assert before["sessions_created"] + 1 == after["sessions_created"]
        assert before["active_sessions"] == after["active_sessions"]
        assert new.generation > old.generation
        assert new.cookie_value not in out.getvalue()

    def test_unknown_environment_is_refused(self) -> None:
        """--env with an unknown name is a CommandError."""
        with pytest.raises(CommandError, match="unknown environment"):
            call_command("legacy_api_session", "show", "--env", "prod", stdout=io.StringIO())


class TestHealth:
    def test_view_returns_json_200_when_all_environments_answer(self) -> None:
        """GET /legacy-api/health/ answers 200 with ok per environment."""
        response = Client().get("/legacy-api/health/")
        body = response.json()
        assert 200 == response.status_code
        assert True is body["ok"]
        assert {"live", "test"} == set(body["environments"])

    def test_view_returns_503_when_an_environment_is_down(self) -> None:
        """A server that refuses connections makes the report unhealthy (503)."""
        environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": "http://127.0.0.1:1"}
        with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": environments}):
            response = Client().get("/legacy-api/health/")
        body = response.json()
        assert 503 == response.status_code
        assert (True, False) == (body["environments"]["live"]["ok"], body["ok"])
        assert body["environments"]["test"]["error"]

    def test_one_environment_by_url(self) -> None:
        """/health/test/ reports only the test environment."""
        body = Client().get("/legacy-api/health/test/").json()
        assert ["test"] == list(body["environments"])

    @needs_health_check_4
    def test_django_health_check_view_runs_our_check(self) -> None:
        """django-health-check's view lists the check per configuration and reports OK."""
        response = Client().get("/ht/?format=json")
        assert 200 == response.status_code
        assert 2 == sum("LegacyApiHealthCheck" in key for key in response.json())

    @needs_health_check_4
    def test_django_health_check_reports_a_down_environment(self) -> None:
        """A refused connection makes django-health-check answer 500, naming the environment."""
        environments = {**settings.LEGACY_API["ENVIRONMENTS"], "test": "http://127.0.0.1:1"}
        with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": environments}):
            response = Client().get("/ht/?format=json")
        assert 500 == response.status_code
        assert "4D test" in json.dumps(response.json())

    @needs_health_check_4
    def test_plugin_registration_is_skipped_without_the_3x_registry(self) -> None:
        """With django-health-check 4.x installed there is no plugin_dir to register with."""
        assert False is register_health_check_plugin()

    @pytest.mark.skipif(HEALTH_CHECK_4, reason="django-health-check 3.x only (Django < 5.2)")
    def test_health_check_3x_page_lists_our_backend(self) -> None:
        """With django-health-check 3.x the app registers its backend; its page shows it OK."""
        response = Client().get("/ht/?format=json")
        assert 200 == response.status_code
        assert "Legacy 4D API" in response.json()

    def test_configuration_problem_is_reported_not_raised(self) -> None:
        """Broken settings give ok=False with the error, not a 500."""
        with override_settings(LEGACY_API={**settings.LEGACY_API, "ENVIRONMENTS": {}}):
            report = check_health()
        assert False is report["ok"]
        assert "ConfigurationError" in report["error"]
