"""pyERP's YAML mappings, the ``legacy_api_sync`` command, the admin, the shipped migration."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.sync.conftest import Fourd, expected_value

from fourd_emulator import EmulatorServer

pytest.importorskip("yaml")

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS_YAML = Path(__file__).parent / "data" / "products_sync.yaml"
FAMILIE = "Artikel_Familie"


@pytest.fixture
def fourd(emulator: EmulatorServer) -> Iterator[Fourd]:
    """Plain-HTTP access to the reset emulator."""
    f = Fourd(emulator)
    yield f
    f.http.close()


def fourd_parents(fourd: Fourd) -> dict[str, dict[str, Any]]:
    """Artikel_Familie as pyERP's ParentProduct should hold it (the YAML's field_mappings)."""
    out = {}
    for r in fourd.records(FAMILIE):
        out[str(r["Nummer"])] = {
            "legacy_id": r["__KEY"],
            "legacy_stamp": r["__STAMP"],
            "sku": str(r["Nummer"]),
            "name": r["Bezeichnung"],
            "name_en": r["Bezeichnung_ENG"],
            "description": r["Beschreibung"],
            "description_en": r["Beschreibung_ENG"],
            "short_description": r["Beschreibung_kurz"],
            "short_description_en": r["Beschreibung_kurz_ENG"],
            "weight": r["Gewicht"],
            "category_code": r["ArtGr"],
            "is_hanging": r["Haengend"],
            "is_one_sided": r["Einseitig"],
            "release_date": expected_value(r["Release_date"], "date", objects_as_text=False),
            "is_new": r["Neu"],
        }
    return out


def django_parents() -> dict[str, dict[str, Any]]:
    """The ParentProduct rows (dates as ISO text), by sku."""
    from tests.django_sync.products.models import ParentProduct  # noqa: PLC0415

    fields = [f.name for f in ParentProduct._meta.fields if f.name != "id"]
    return {
        row["sku"]: {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
        for row in ParentProduct.objects.values(*fields)
    }


class TestYamlLoader:
    """pyERP's real products_sync.yaml becomes two mappings; nothing passes unreported."""

    def test_products_file_becomes_parent_and_variant_mappings(self):
        """Tables, business keys, targets, order and strategy come from the file's keys."""
        from legacy_adapters.django.sync import load_yaml  # noqa: PLC0415
        from legacy_core.sync import ModifiedWatermark  # noqa: PLC0415

        load = load_yaml(PRODUCTS_YAML)
        parent, variants = load.mappings
        assert ("parent_products", "Artikel_Familie", "Nummer") == (
            parent.name,
            parent.mapping.table,
            parent.mapping.key,
        )
        assert ("variants", "Artikel_Variante", "Nummer") == (
            variants.name,
            variants.mapping.table,
            variants.mapping.key,
        )
        assert ("products.ParentProduct", "products.VariantProduct") == (
            parent.model,
            variants.model,
        )
        assert ("__KEY", "legacy_id") == (
            parent.mapping.fields[0].source,
            parent.mapping.fields[0].target,
        )
        assert 14 == len(parent.mapping.fields)
        assert 18 == len(variants.mapping.fields)
        assert ((), ("parent_products",)) == (parent.after, variants.after)
        assert ("newest_wins", "live", 1000) == (
            parent.update_strategy,
            parent.environment,
            parent.batch_size,
        )
        assert ModifiedWatermark("modified_date", "modified_time") == parent.mapping.watermark
        assert [] == load.unknown
        notes = "\n".join(load.notes)
        for path in (
            "parent_products.transformer.config.custom_transformers",
            "parent_products.transformer.config.validation_rules",
            "variants.source.config.filters",
            "parent_products.schedule.frequency",
            "parent_products.incremental.timestamp_filter_format",
            "product_images: skipped",
        ):
            assert path in notes

    def test_unknown_key_is_an_error_or_reported(self, tmp_path: Path):
        """A key no pyERP file uses fails the load; with ``strict=False`` it is listed."""
        from legacy_adapters.django.sync import load_yaml  # noqa: PLC0415
        from legacy_core.errors import ConfigurationError  # noqa: PLC0415

        text = PRODUCTS_YAML.read_text(encoding="utf-8").replace(
            "      unique_field: sku\n      update_strategy: newest_wins\n  schedule:",
            "      unique_field: sku\n      update_strategy: newest_wins\n      batch: 5\n"
            "  schedule:",
            1,
        )
        path = tmp_path / "typo.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=r"parent_products\.loader\.config\.batch"):
            load_yaml(path)
        assert ["parent_products.loader.config.batch"] == load_yaml(path, strict=False).unknown

    @pytest.mark.parametrize(
        ("old", "new", "error"),
        [
            ("unique_field: sku", "unique_field: ean", "unique_field 'ean' is not a target"),
            ("timestamp_field: modified_date", "timestamp_field: stamp", "neither a \\*_date"),
            ("update_strategy: newest_wins", "update_strategy: sometimes", "not one of"),
            ("table_name: Artikel_Familie", "table_nam: Artikel_Familie", "table_name is missing"),
        ],
    )
    def test_entries_the_engine_cannot_run_are_refused(
        self, tmp_path: Path, old: str, new: str, error: str
    ):
        """A key, watermark, strategy or table the engine cannot honour is a ConfigurationError."""
        from legacy_adapters.django.sync import load_yaml  # noqa: PLC0415
        from legacy_core.errors import ConfigurationError  # noqa: PLC0415

        path = tmp_path / "bad.yaml"
        path.write_text(PRODUCTS_YAML.read_text(encoding="utf-8").replace(old, new, 1))
        with pytest.raises(ConfigurationError, match=error):
            load_yaml(path, strict=False)

    @pytest.mark.usefixtures("db_access")
    def test_loaded_parent_mapping_keeps_parent_products_equal(
        self, emulator: EmulatorServer, fourd: Fourd
    ):
        """The YAML's parent mapping copies Artikel_Familie, then follows updates and deletes."""
        from tests.sync.conftest import make_client  # noqa: PLC0415

        from legacy_adapters.django.sync import load_yaml, run_mapping  # noqa: PLC0415

        parent = load_yaml(PRODUCTS_YAML).mappings[0]
        assert run_mapping(parent, client=make_client(emulator)).full
        assert fourd_parents(fourd) == django_parents()
        records = fourd.records(FAMILIE)
        fourd.update(FAMILIE, {"__KEY": records[0]["__KEY"], "Gewicht": 0.25, "Neu": True})
        fourd.delete(FAMILIE, records[1]["__KEY"])
        emulator.expire_sessions()
        summary = run_mapping(parent, client=make_client(emulator))
        assert (False, 1, 1) == (summary.full, summary.updated, summary.deleted)
        assert fourd_parents(fourd) == django_parents()


@pytest.mark.usefixtures("db_access")
class TestCommand:
    """``manage.py legacy_api_sync``: one mapping, --all, --full, --yaml and exit statuses."""

    def call(self, *args: str, **settings: Any) -> tuple[str, str]:
        """Run the command in this process; its stdout and stderr."""
        from django.core.management import call_command  # noqa: PLC0415
        from django.test import override_settings  # noqa: PLC0415

        out, err = io.StringIO(), io.StringIO()
        with override_settings(**settings):
            call_command("legacy_api_sync", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_one_mapping_from_yaml_then_incremental_then_full(
        self, emulator: EmulatorServer, fourd: Fourd
    ):
        """The first run copies, the second reads only changes, --full copies again."""
        from legacy_adapters.django.models import SyncRun  # noqa: PLC0415

        out, err = self.call("parent_products", "--yaml", str(PRODUCTS_YAML))
        assert out.startswith("parent_products: full copy, 150 rows read")
        assert "note: parent_products.transformer.config.custom_transformers" in err
        assert fourd_parents(fourd) == django_parents()
        out, _ = self.call("parent_products", "--yaml", str(PRODUCTS_YAML))
        assert out.startswith("parent_products: incremental")
        out, _ = self.call("parent_products", "--full", "--yaml", str(PRODUCTS_YAML))
        assert "full copy, 150 rows read, 0 created, 0 updated, 0 deleted" in out
        assert [True, False, True] == list(
            SyncRun.objects.order_by("started_at").values_list("full", flat=True)
        )

    def test_all_runs_python_mappings_in_order(self, emulator: EmulatorServer):
        """--all runs every mapping of LEGACY_API_SYNC_MAPPINGS, each logged in SyncRun."""
        from legacy_adapters.django.models import SyncRun  # noqa: PLC0415

        out, _ = self.call(
            "--all", "--json", LEGACY_API_SYNC_MAPPINGS=["tests.django_sync.mappings.ALL"]
        )
        lines = out.splitlines()
        assert 2 == len(lines)
        assert ['"mapping": "variante"', '"mapping": "parent_products"'] == [
            line.split(", ")[0].lstrip("{") for line in lines
        ]
        assert {"variante", "parent_products"} == set(
            SyncRun.objects.values_list("mapping", flat=True)
        )

    def test_all_from_yaml_runs_parents_first_and_reports_a_failed_mapping(
        self, emulator: EmulatorServer
    ):
        """Parents run first; variants naming fields the server lacks fail with status 1."""
        from django.core.management import CommandError  # noqa: PLC0415

        from legacy_adapters.django.models import SyncRun  # noqa: PLC0415

        with pytest.raises(CommandError, match=r"1 of 2 mapping\(s\) failed: variants") as caught:
            self.call("--all", "--yaml", str(PRODUCTS_YAML))
        assert 1 == caught.value.returncode
        runs = list(SyncRun.objects.order_by("started_at").values_list("mapping", "error"))
        assert ["parent_products", "variants"] == [m for m, _e in runs]
        assert "" == runs[0][1]
        assert "Bezeichnung_ENG" in runs[1][1]  # a field of pyERP's variant mapping 4D lacks

    @pytest.mark.parametrize(
        ("args", "status", "message"),
        [
            (("variante", "--all"), 2, "give one MAPPING or --all"),
            ((), 2, "give one MAPPING or --all"),
            (("nonesuch",), 1, "unknown sync mapping 'nonesuch'; known: parent_products, variante"),
            (("--all", "--yaml", "/nonexistent.yaml"), 1, "cannot read sync YAML"),
        ],
    )
    def test_usage_and_input_errors(self, args: tuple[str, ...], status: int, message: str):
        """Usage errors exit 2, unknown mappings and unreadable files 1 (ADR 0026)."""
        from django.core.management import CommandError  # noqa: PLC0415

        with pytest.raises(CommandError, match=message) as caught:
            self.call(*args, LEGACY_API_SYNC_MAPPINGS=["tests.django_sync.mappings.ALL"])
        assert status == caught.value.returncode

    def test_unreachable_server_exits_3(self, emulator: EmulatorServer):
        """A 4D server that refuses connections is the server's fault: status 3, run logged."""
        from django.conf import settings  # noqa: PLC0415
        from django.core.management import CommandError  # noqa: PLC0415

        from legacy_adapters.django import reset_client  # noqa: PLC0415
        from legacy_adapters.django.models import SyncRun  # noqa: PLC0415

        legacy = {**settings.LEGACY_API, "ENVIRONMENTS": {"live": "http://127.0.0.1:1"}}
        legacy["RETRIES"] = 0
        reset_client()
        with pytest.raises(CommandError) as caught:
            self.call(
                "variante",
                LEGACY_API=legacy,
                LEGACY_API_SYNC_MAPPINGS=["tests.django_sync.mappings.VARIANTE"],
            )
        reset_client()
        assert 3 == caught.value.returncode
        assert SyncRun.objects.get().error

    def test_manage_py_subprocess(
        self, emulator: EmulatorServer, fourd: Fourd, db_access: str, redis_url: str
    ):
        """``manage.py legacy_api_sync`` in its own process syncs and exits 0, then 1."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.django.project.settings",
            "LEGACY_TEST_LIVE_URL": emulator.base_url,
            "LEGACY_TEST_REDIS_URL": redis_url,
            "LEGACY_TEST_CACHE_ALIAS": "legacy",
            "LEGACY_TEST_DJANGO_DB": db_access,
            "PYTHONPATH": str(ROOT),
        }
        manage = str(ROOT / "tests" / "django" / "project" / "manage.py")
        ok = subprocess.run(
            [sys.executable, manage, "legacy_api_sync", "parent_products", "--yaml", PRODUCTS_YAML],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert 0 == ok.returncode, ok.stderr
        assert ok.stdout.startswith("parent_products: full copy, 150 rows read")
        assert fourd_parents(fourd) == django_parents()
        bad = subprocess.run(
            [sys.executable, manage, "legacy_api_sync", "nonesuch"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert 1 == bad.returncode
        assert "unknown sync mapping 'nonesuch'" in bad.stderr


@pytest.mark.usefixtures("db_access")
class TestAdminAndMigrations:
    """The read-only admin views and the migration the app ships."""

    def test_admin_lists_runs_and_checkpoints_read_only(self, emulator: EmulatorServer):
        """A superuser sees the runs and checkpoints and cannot add or change one."""
        from django.contrib.auth.models import User  # noqa: PLC0415
        from django.test import Client, override_settings  # noqa: PLC0415
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.sync.conftest import make_client  # noqa: PLC0415

        from legacy_adapters.django.models import SyncCheckpoint, SyncRun  # noqa: PLC0415
        from legacy_adapters.django.sync import run_mapping  # noqa: PLC0415

        run_mapping(VARIANTE, client=make_client(emulator))
        user = User.objects.create_superuser("admin", "a@example.org", "pw")
        client = Client()
        client.force_login(user)
        with override_settings(ROOT_URLCONF="tests.django_sync.urls"):
            runs = client.get("/admin/legacy_api/syncrun/")
            checkpoints = client.get("/admin/legacy_api/synccheckpoint/")
            add = client.get("/admin/legacy_api/syncrun/add/")
            run_id = SyncRun.objects.get().pk
            change = client.post(f"/admin/legacy_api/syncrun/{run_id}/change/", {"error": "x"})
        assert 200 == runs.status_code
        assert "variante" in runs.content.decode()
        assert 200 == checkpoints.status_code
        assert "Artikel_Variante" in checkpoints.content.decode()
        assert 403 == add.status_code
        assert 403 == change.status_code
        assert "" == SyncRun.objects.get().error
        assert 1 == SyncCheckpoint.objects.count()

    def test_migrations_are_complete_and_applied(self):
        """``makemigrations --check`` finds nothing missing; the sync tables exist."""
        from django.core.management import call_command  # noqa: PLC0415
        from django.db import connection  # noqa: PLC0415

        call_command("makemigrations", "legacy_api", "--check", "--dry-run", stdout=io.StringIO())
        tables = set(connection.introspection.table_names())
        assert {
            "legacy_api_synccheckpoint",
            "legacy_api_syncpending",
            "legacy_api_syncevent",
            "legacy_api_syncrun",
        } <= tables


VARIANTE_YAML = """\
variante:
  source:
    type: api
    config: {environment: live, table_name: Artikel_Variante, page_size: 100}
  transformer:
    config:
      field_mappings:
        __KEY: legacy_key
        Nummer: nummer
        Bezeichnung: bezeichnung
        Aktiv: aktiv
  loader:
    type: django_model
    config: {app_name: products, model_name: Variante, unique_field: legacy_key}
"""


@pytest.mark.usefixtures("db_access")
def test_manage_py_killed_mid_run_resumes_without_loss_or_doubles(
    emulator: EmulatorServer, fourd: Fourd, redis_url: str, tmp_path: Path
):
    """A manage.py run killed (SIGKILL) after some batches committed is finished by the next."""
    import signal  # noqa: PLC0415
    import time  # noqa: PLC0415
    from collections import Counter  # noqa: PLC0415

    from tests.django_sync.products.models import Variante  # noqa: PLC0415

    from legacy_adapters.django.models import SyncEvent, SyncPending, SyncRun  # noqa: PLC0415

    path = tmp_path / "variante.yaml"
    path.write_text(VARIANTE_YAML, encoding="utf-8")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.django.project.settings",
        "LEGACY_TEST_LIVE_URL": emulator.base_url,
        "LEGACY_TEST_REDIS_URL": redis_url,
        "LEGACY_TEST_CACHE_ALIAS": "legacy",
        "PYTHONPATH": str(ROOT),
    }
    manage = str(ROOT / "tests" / "django" / "project" / "manage.py")
    emulator.set_faults(latency_ms=250)  # a page every ~0.25 s: time to kill mid-run
    proc = subprocess.Popen(
        [sys.executable, manage, "legacy_api_sync", "variante", "--yaml", str(path)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while SyncPending.objects.count() < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    emulator.set_faults(latency_ms=0)
    committed = Variante.objects.count()
    assert 200 <= committed < 600  # killed part-way, after at least two batches
    assert SyncRun.objects.get().finished_at is None  # the killed run never finished
    from django.core.management import call_command  # noqa: PLC0415

    call_command("legacy_api_sync", "variante", "--yaml", str(path), stdout=io.StringIO())
    wanted = {
        r["__KEY"]: (r["__STAMP"], r["Nummer"], r["Bezeichnung"], r["Aktiv"])
        for r in fourd.records("Artikel_Variante")
    }
    have = {
        k: (s, n, b, a)
        for k, s, n, b, a in Variante.objects.values_list(
            "legacy_key", "legacy_stamp", "nummer", "bezeichnung", "aktiv"
        )
    }
    assert wanted == have
    events = Counter(SyncEvent.objects.values_list("kind", "key"))
    assert 600 == len(events)
    assert {1} == set(events.values())
    assert 0 == SyncPending.objects.count()
