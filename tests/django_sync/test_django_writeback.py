"""Write-back from Django models to 4D: real PostgreSQL, the emulator over HTTP (ADR 0036)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.django_sync.mappings import VARIANTE
from tests.sync.conftest import Fourd, make_client

from fourd_emulator import EmulatorServer
from legacy_core.errors import ConfigurationError
from legacy_core.sync import LocalChange, SyncMapping

pytestmark = pytest.mark.integration

TABLE = "Artikel_Variante"


@pytest.fixture
def fourd(emulator: EmulatorServer) -> Iterator[Fourd]:
    """Plain-HTTP access to the reset emulator."""
    f = Fourd(emulator)
    yield f
    f.http.close()


def variante(policy: str) -> Any:
    """The variants' Django mapping with conflict policy ``policy``."""
    from legacy_adapters.django.sync import DjangoMapping  # noqa: PLC0415

    m = SyncMapping(
        TABLE, name="variante", fields=list(VARIANTE.mapping.fields), conflict_policy=policy
    )
    return DjangoMapping(m, model="products.Variante")


def copy_in(mapping: Any, emulator: EmulatorServer) -> None:
    """One sync run of ``mapping`` into its model."""
    from legacy_adapters.django.sync import run_mapping  # noqa: PLC0415

    run_mapping(mapping, client=make_client(emulator))


def write_back(mapping: Any, emulator: EmulatorServer, **kw: Any) -> Any:
    """One write-back run of ``mapping`` from its model's database."""
    from legacy_adapters.sync import WriteBack  # noqa: PLC0415

    return WriteBack(make_client(emulator), mapping.mapping, mapping.sink(), **kw).run()


def fourd_row(fourd: Fourd, key: str) -> dict[str, Any]:
    """One entity as 4D holds it now."""
    return next(r for r in fourd.records(TABLE) if r["__KEY"] == key)


def model_row(key: str) -> Any:
    """The Variante row of ``key``."""
    from tests.django_sync.products.models import Variante  # noqa: PLC0415

    return Variante.objects.get(legacy_key=key)


def statuses(mapping: str) -> list[str]:
    """The statuses of every recorded change of ``mapping``, oldest first."""
    from legacy_adapters.django.models import SyncOutgoing  # noqa: PLC0415

    return list(SyncOutgoing.objects.filter(mapping=mapping).values_list("status", flat=True))


def conflicted(policy: str, fourd: Fourd, emulator: EmulatorServer, row: int) -> tuple[Any, str]:
    """Copy in, record a local change of one row from its model instance, then edit it in 4D."""
    from legacy_adapters.django import record_change  # noqa: PLC0415

    m = variante(policy)
    copy_in(m, emulator)
    key = fourd.records(TABLE)[row]["__KEY"]
    record_change(m, model_row(key), {"bezeichnung": "local edit"})
    fourd.update(TABLE, {"__KEY": key, "Bezeichnung": "edited in 4D"})
    return m, key


@pytest.mark.usefixtures("db_access")
def test_a_local_change_is_pushed_and_the_model_row_takes_the_new_stamp(
    fourd: Fourd, emulator: EmulatorServer
) -> None:
    """A change recorded from a model instance lands in 4D; the row takes 4D's stamp, no echo."""
    from legacy_adapters.django import record_change  # noqa: PLC0415
    from legacy_adapters.django.models import SyncEvent  # noqa: PLC0415

    m = variante("manual")
    copy_in(m, emulator)
    key = fourd.records(TABLE)[3]["__KEY"]
    base = model_row(key).legacy_stamp
    record_change(m, model_row(key), {"Bezeichnung": "pushed"})
    summary = write_back(m, emulator)
    now = fourd_row(fourd, key)
    assert (summary.saved, summary.conflicts) == (1, 0)
    assert "pushed" == now["Bezeichnung"] == model_row(key).bezeichnung
    assert now["__STAMP"] == model_row(key).legacy_stamp == base + 1
    assert ["done"] == statuses(m.name)
    events = SyncEvent.objects.count()
    copy_in(m, emulator)
    assert events == SyncEvent.objects.count()  # our own write is no remote change


@pytest.mark.usefixtures("db_access")
def test_manual_parks_both_versions_in_sync_conflict_and_resolving_pushes(
    fourd: Fourd, emulator: EmulatorServer
) -> None:
    """manual: 4D keeps its edit, SyncConflict holds both versions; resolving local pushes."""
    from legacy_adapters.django import DjangoChanges  # noqa: PLC0415

    m, key = conflicted("manual", fourd, emulator, 7)
    remote_stamp = fourd_row(fourd, key)["__STAMP"]
    summary = write_back(m, emulator)
    assert summary.parked == 1
    assert "edited in 4D" == fourd_row(fourd, key)["Bezeichnung"]
    store = DjangoChanges()
    (conflict,) = store.conflicts(m.name)
    assert (conflict.key, conflict.local) == (key, {"Bezeichnung": "local edit"})
    assert ("edited in 4D", remote_stamp) == (conflict.remote["Bezeichnung"], conflict.remote_stamp)
    assert ["parked"] == statuses(m.name)
    store.resolve(conflict.id, "local")
    assert [] == store.conflicts(m.name)
    again = write_back(m, emulator)
    assert (again.saved, again.conflicts) == (1, 0)
    assert "local edit" == fourd_row(fourd, key)["Bezeichnung"] == model_row(key).bezeichnung
    with pytest.raises(ConfigurationError, match="no open conflict"):
        store.resolve(conflict.id, "legacy")


@pytest.mark.usefixtures("db_access")
def test_local_wins_resends_over_the_concurrent_4d_edit(
    fourd: Fourd, emulator: EmulatorServer
) -> None:
    """local_wins: the change is resent on 4D's fresh stamp and the model row takes it."""
    m, key = conflicted("local_wins", fourd, emulator, 9)
    summary = write_back(m, emulator)
    assert (summary.conflicts, summary.resent, summary.parked) == (1, 1, 0)
    now = fourd_row(fourd, key)
    assert "local edit" == now["Bezeichnung"] == model_row(key).bezeichnung
    assert now["__STAMP"] == model_row(key).legacy_stamp
    assert ["done"] == statuses(m.name)


class _FaultyOnce:
    """A source that switches on truncated answers once the run asks for its changes."""

    def __init__(self, inner: Any, server: EmulatorServer) -> None:
        self.inner = inner
        self.server = server

    def pending(self, mapping: str) -> list[LocalChange]:
        self.server.set_faults(truncate_rate=1.0)  # the write is applied, its answer cut
        return list(self.inner.pending(mapping))

    def mark(self, mapping: str, change: LocalChange, status: Any, **kw: Any) -> None:
        self.inner.mark(mapping, change, status, **kw)


@pytest.mark.usefixtures("db_access")
def test_a_write_whose_answer_is_lost_is_neither_lost_nor_doubled(
    fourd: Fourd, emulator: EmulatorServer
) -> None:
    """A cut answer leaves the change unknown; the next run finds it applied and writes nothing."""
    from legacy_adapters.django import DjangoChanges, record_change  # noqa: PLC0415

    m = variante("manual")
    copy_in(m, emulator)
    key = fourd.records(TABLE)[5]["__KEY"]
    record_change(m, key, {"Bezeichnung": "maybe"}, base_stamp=model_row(key).legacy_stamp)
    try:
        first = write_back(m, emulator, source=_FaultyOnce(DjangoChanges(), emulator))
    finally:
        emulator.set_faults()
    assert (first.saved, first.unknown) == (0, 1)
    assert ["unknown"] == statuses(m.name)
    second = write_back(m, emulator)
    assert (second.applied, second.parked, second.saved) == (1, 0, 0)
    assert ["done"] == statuses(m.name)
    writes = [a for a in emulator.audit() if a["key"] == key and a["action"] != "create"]
    assert 1 == len(writes)
    assert "maybe" == fourd_row(fourd, key)["Bezeichnung"] == model_row(key).bezeichnung
    assert [] == DjangoChanges().conflicts(m.name)


@pytest.mark.usefixtures("db_access")
def test_changes_of_a_django_sink_is_the_django_store() -> None:
    """changes_of(DjangoSink) gives the SyncOutgoing/SyncConflict store on the sink's database."""
    from legacy_adapters.django import DjangoChanges  # noqa: PLC0415
    from legacy_adapters.sync import changes_of  # noqa: PLC0415

    store = changes_of(variante("manual").sink())
    assert isinstance(store, DjangoChanges)
    assert "default" == store.using
    with pytest.raises(ConfigurationError, match="sets no field"):
        store.record_change("variante", "1", {}, base_stamp=1)


@pytest.mark.usefixtures("db_access")
def test_the_command_with_write_back_pushes_then_syncs(
    fourd: Fourd, emulator: EmulatorServer, settings: Any
) -> None:
    """``legacy_api_sync variante --write-back`` pushes the recorded change, then syncs."""
    import io  # noqa: PLC0415

    from django.core.management import call_command  # noqa: PLC0415

    from legacy_adapters.django import record_change  # noqa: PLC0415

    m = VARIANTE  # conflict policy manual (the default)
    settings.LEGACY_API_SYNC_MAPPINGS = ["tests.django_sync.mappings.VARIANTE"]
    copy_in(m, emulator)
    key = fourd.records(TABLE)[11]["__KEY"]
    record_change(m, model_row(key), {"bezeichnung": "from the command"})
    out = io.StringIO()
    call_command("legacy_api_sync", "variante", "--write-back", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("variante: write-back, 1 pushed, 1 saved"), lines
    assert "from the command" == fourd_row(fourd, key)["Bezeichnung"]
    assert fourd_row(fourd, key)["__STAMP"] == model_row(key).legacy_stamp
    assert ["done"] == statuses(m.name)
