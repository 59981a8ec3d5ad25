"""The Django sink against real PostgreSQL and the emulator over HTTP (ADR 0031, ADR 0034)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from tests.sync.conftest import Fourd, expected_value, make_client
from tests.sync.test_sqlite_sync import mutate

from fourd_emulator import EmulatorServer

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


@pytest.fixture
def fourd(emulator: EmulatorServer) -> Iterator[Fourd]:
    """Plain-HTTP access to the reset emulator."""
    f = Fourd(emulator)
    yield f
    f.http.close()


def run(mapping: Any, emulator: EmulatorServer, **kw: Any) -> Any:
    """One run of ``mapping`` through a client of ``emulator``."""
    from legacy_adapters.django.sync import run_mapping  # noqa: PLC0415

    return run_mapping(mapping, client=make_client(emulator), **kw)


def fourd_variante(fourd: Fourd, fields: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Artikel_Variante as the Variante model should hold it, derived from 4D's own answer."""
    out = {}
    for rec in fourd.records(TABLE):
        row = {
            "legacy_key": rec["__KEY"],
            "legacy_stamp": rec["__STAMP"],
            "nummer": rec["Nummer"],
            "bezeichnung": rec["Bezeichnung"],
            "aktiv": rec["Aktiv"],
            "release_date": expected_value(rec["Release_Date"], "date", objects_as_text=False),
            "auslaufdatum": expected_value(rec["Auslaufdatum"], "date", objects_as_text=False),
            "preise": rec["Preise"],
            "typ": rec["Typ"],
        }
        out[rec["__KEY"]] = {k: v for k, v in row.items() if fields is None or k in fields}
    return out


def django_rows(model: Any, fields: Sequence[str], **where: Any) -> dict[str, dict[str, Any]]:
    """The rows of a model or queryset (dates as ISO text), by ``legacy_key``."""
    out = {}
    rows = model.objects if isinstance(model, type) else model
    for row in rows.filter(**where).values(*fields):
        out[row["legacy_key"]] = {
            k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()
        }
    return out


VARIANTE_FIELDS = (
    "legacy_key",
    "legacy_stamp",
    "nummer",
    "bezeichnung",
    "aktiv",
    "release_date",
    "auslaufdatum",
    "preise",
    "typ",
)


@pytest.mark.usefixtures("db_access")
class TestEquality:
    """After every run the Django table equals the 4D table: same keys, same values."""

    def test_runs_track_updates_creates_deletes_and_killed_sessions(
        self, emulator: EmulatorServer, fourd: Fourd
    ):
        """A full copy, then three rounds of changes with the session killed before each run."""
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        from legacy_adapters.django.models import SyncEvent, SyncRun  # noqa: PLC0415

        first = run(VARIANTE, emulator)
        assert first.full
        assert 600 == first.created
        assert fourd_variante(fourd) == django_rows(Variante, VARIANTE_FIELDS)
        rng = random.Random(5)
        for _ in range(3):
            mutate(fourd, rng)
            emulator.expire_sessions()
            summary = run(VARIANTE, emulator)
            assert not summary.full
            assert (5, 1, 2) == (summary.updated, summary.created, summary.deleted)
            assert fourd_variante(fourd) == django_rows(Variante, VARIANTE_FIELDS)
        runs = list(SyncRun.objects.filter(mapping="variante").order_by("started_at"))
        assert [600, 1, 1, 1] == [r.created for r in runs]
        assert [0, 2, 2, 2] == [r.deleted for r in runs]
        assert all(r.ok and r.requests and r.requests > 0 for r in runs)
        kinds = Counter(SyncEvent.objects.values_list("kind", flat=True))
        assert {"created": 603, "updated": 15, "deleted": 6} == dict(kinds)

    def test_soft_delete_flags_rows(self, emulator: EmulatorServer, fourd: Fourd):
        """With a ``legacy_deleted`` field, deleted entities stay as flagged rows."""
        from tests.django_sync.mappings import SOFT  # noqa: PLC0415
        from tests.django_sync.products.models import SoftVariante  # noqa: PLC0415

        run(SOFT, emulator)
        gone = [r["__KEY"] for r in fourd.records(TABLE)[:3]]
        for key in gone:
            fourd.delete(TABLE, key)
        summary = run(SOFT, emulator)
        assert 3 == summary.deleted
        fields = ("legacy_key", "legacy_stamp", "nummer", "bezeichnung")
        live = django_rows(SoftVariante, fields, legacy_deleted=False)
        assert fourd_variante(fourd, fields) == live
        assert set(gone) == set(
            SoftVariante.objects.filter(legacy_deleted=True).values_list("legacy_key", flat=True)
        )

    def test_bulk_upsert_keeps_primary_keys(self, emulator: EmulatorServer, fourd: Fourd):
        """An update is an upsert on the unique key: the row keeps its id, no duplicate."""
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        run(VARIANTE, emulator)
        key = fourd.records(TABLE)[10]["__KEY"]
        before = Variante.objects.get(legacy_key=key)
        fourd.update(TABLE, {"__KEY": key, "Bezeichnung": "umbenannt"})
        run(VARIANTE, emulator)
        after = Variante.objects.get(legacy_key=key)
        assert (before.pk, "umbenannt") == (after.pk, after.bezeichnung)
        assert 600 == Variante.objects.count()


class Crash(Exception):
    """The fault a test injects."""


@pytest.mark.usefixtures("db_access")
class TestCrashes:
    """A crash after a batch's commit, or inside its transaction, loses and doubles nothing."""

    def test_crash_after_commit_resumes_once(self, emulator: EmulatorServer, fourd: Fourd):
        """A run killed right after its second batch committed is completed, each event once."""
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        from legacy_adapters.django.models import SyncEvent, SyncPending, SyncRun  # noqa: PLC0415
        from legacy_adapters.django.signals import legacy_sync_batch  # noqa: PLC0415

        batches = {"n": 0}

        def die_after_second(**kw: Any) -> None:
            batches["n"] += 1
            if batches["n"] == 2:
                raise Crash

        legacy_sync_batch.connect(die_after_second, dispatch_uid="crash")
        try:
            with pytest.raises(Crash):
                run(VARIANTE, emulator)
        finally:
            legacy_sync_batch.disconnect(dispatch_uid="crash")
        assert 400 == Variante.objects.count()  # both batches committed before the crash
        assert 400 == SyncPending.objects.filter(mapping="variante").count()
        crashed = SyncRun.objects.get()
        assert "Crash" in crashed.error
        mutate(fourd, random.Random(3))
        run(VARIANTE, emulator)
        assert fourd_variante(fourd) == django_rows(Variante, VARIANTE_FIELDS)
        assert 0 == SyncPending.objects.count()
        created = Counter(SyncEvent.objects.filter(kind="created").values_list("key", flat=True))
        deleted = Counter(SyncEvent.objects.filter(kind="deleted").values_list("key", flat=True))
        assert {1} == set(created.values())  # no entity announced twice across the crash
        assert set(fourd_variante(fourd)) <= set(created)
        assert set(deleted) <= set(created) - set(fourd_variante(fourd))
        assert set(deleted.values()) <= {1}

    def test_database_error_mid_batch_rolls_back_whole_batch(
        self, emulator: EmulatorServer, fourd: Fourd
    ):
        """A PostgreSQL error in a batch's outbox insert undoes its rows; the re-run fills them."""
        from django.db import connection  # noqa: PLC0415
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        from legacy_adapters.django.models import SyncEvent  # noqa: PLC0415
        from legacy_core.errors import SinkError  # noqa: PLC0415

        keys = [r["__KEY"] for r in fourd.records(TABLE)]
        poison = keys[300]  # in the second page of 200
        with connection.cursor() as cur:
            cur.execute(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.key = '{poison}' THEN RAISE EXCEPTION 'injected fault'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cur.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON legacy_api_syncevent "
                "FOR EACH ROW EXECUTE FUNCTION poison()"
            )
        try:
            with pytest.raises(SinkError, match="injected fault") as caught:
                run(VARIANTE, emulator)
        finally:
            with connection.cursor() as cur:
                cur.execute("DROP TRIGGER poison ON legacy_api_syncevent")
                cur.execute("DROP FUNCTION poison()")
        assert "products.Variante" in str(caught.value)
        assert 200 == Variante.objects.count()  # only the first batch
        assert 200 == SyncEvent.objects.count()
        run(VARIANTE, emulator)
        assert fourd_variante(fourd) == django_rows(Variante, VARIANTE_FIELDS)
        created = Counter(SyncEvent.objects.values_list("kind", "key"))
        assert 600 == len(created)
        assert {1} == set(created.values())


@pytest.mark.usefixtures("db_access")
class TestSignalAndLock:
    """The per-batch signal, and one run per mapping at a time."""

    def test_signal_once_per_committed_batch(self, emulator: EmulatorServer, fourd: Fourd):
        """``legacy_sync_batch`` carries each committed batch's events, then a finished one."""
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        from legacy_adapters.django.signals import legacy_sync_batch  # noqa: PLC0415

        got: list[dict[str, Any]] = []

        def receiver(sender: Any, **kw: Any) -> None:
            got.append({"sender": sender, **kw})

        legacy_sync_batch.connect(receiver, dispatch_uid="test")
        try:
            run(VARIANTE, emulator)
            first = list(got)
            got.clear()
            key = fourd.records(TABLE)[0]["__KEY"]
            fourd.update(TABLE, {"__KEY": key, "Bezeichnung": "signalisiert"})
            run(VARIANTE, emulator)
        finally:
            legacy_sync_batch.disconnect(dispatch_uid="test")
        assert [200, 200, 200, 0] == [len(s["events"]) for s in first]
        assert [False, False, False, True] == [s["finished"] for s in first]
        assert {Variante} == {s["sender"] for s in first}
        updated = [e for s in got for e in s["events"]]
        assert [("updated", key, ("__STAMP", "bezeichnung"))] == [
            (e.kind, e.key, e.changed) for e in updated
        ]

    def test_second_run_refused_while_one_holds_the_lock(self, emulator: EmulatorServer):
        """While another connection holds the mapping's advisory lock a run fails at once."""
        from django.db import connections  # noqa: PLC0415
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415

        from legacy_core.errors import SinkError  # noqa: PLC0415

        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            try:
                with VARIANTE.sink().lock("variante"):
                    holding.set()
                    release.wait(30)
            finally:
                connections.close_all()

        worker = threading.Thread(target=hold)
        worker.start()
        try:
            assert holding.wait(30)
            with pytest.raises(SinkError, match="another run of mapping variante"):
                run(VARIANTE, emulator)
        finally:
            release.set()
            worker.join(30)
        assert run(VARIANTE, emulator).full  # the lock went with the other run


class TestOtherBackends:
    """The same equality on SQLite, and with the upsert fallback of backends like MySQL."""

    def test_sqlite_database(self, emulator: EmulatorServer, fourd: Fourd, sqlite_access: str):
        """Into a SQLite database (``using=``): equal after a copy and after changes."""
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        from legacy_adapters.django.models import SyncCheckpoint  # noqa: PLC0415

        run(VARIANTE, emulator, using=sqlite_access)
        mutate(fourd, random.Random(9))
        emulator.expire_sessions()
        summary = run(VARIANTE, emulator, using=sqlite_access)
        assert (5, 1, 2) == (summary.updated, summary.created, summary.deleted)
        rows = Variante.objects.using(sqlite_access)
        assert fourd_variante(fourd) == django_rows(rows, VARIANTE_FIELDS)
        assert 2 == SyncCheckpoint.objects.using(sqlite_access).get().runs

    @pytest.mark.usefixtures("db_access")
    def test_fallback_without_conflict_target(
        self, emulator: EmulatorServer, fourd: Fourd, monkeypatch: pytest.MonkeyPatch
    ):
        """Where ``update_conflicts`` cannot name the key: bulk_update + bulk_create, equal."""
        from django.db import connections  # noqa: PLC0415
        from tests.django_sync.mappings import VARIANTE  # noqa: PLC0415
        from tests.django_sync.products.models import Variante  # noqa: PLC0415

        features = connections["default"].features
        monkeypatch.setattr(features, "supports_update_conflicts_with_target", False)
        run(VARIANTE, emulator)
        ids = dict(Variante.objects.values_list("legacy_key", "pk"))
        mutate(fourd, random.Random(13))
        summary = run(VARIANTE, emulator)
        assert (5, 1, 2) == (summary.updated, summary.created, summary.deleted)
        assert fourd_variante(fourd) == django_rows(Variante.objects, VARIANTE_FIELDS)
        kept = dict(Variante.objects.values_list("legacy_key", "pk"))
        assert all(ids[k] == pk for k, pk in kept.items() if k in ids)
