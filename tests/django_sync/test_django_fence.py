"""Fencing tokens in the Django sink: an older token's batch is rolled back (StaleRun)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.sync.conftest import Fourd, make_client

from fourd_emulator import EmulatorServer

from .test_django_sink import VARIANTE_FIELDS, django_rows

pytestmark = pytest.mark.integration


@pytest.fixture
def fourd(emulator: EmulatorServer) -> Iterator[Fourd]:
    """Plain-HTTP access to the reset emulator."""
    f = Fourd(emulator)
    yield f
    f.http.close()


def fenced_run(emulator: EmulatorServer, fence: int) -> None:
    """One run of the Variante mapping into PostgreSQL holding fencing token ``fence``."""
    from legacy_adapters.sync import SyncRunner  # noqa: PLC0415

    from .mappings import VARIANTE  # noqa: PLC0415

    sink = VARIANTE.sink()
    SyncRunner(make_client(emulator), VARIANTE.mapping, sink, fence=fence, sink_lock=False).run()


@pytest.mark.usefixtures("db_access")
def test_django_sink_refuses_an_older_token(emulator: EmulatorServer, fourd: Fourd) -> None:
    """After token 7 committed, token 6's batch is refused: rows and fence stay token 7's."""
    from tests.django_sync.products.models import Variante  # noqa: PLC0415

    from legacy_adapters.django.models import SyncCheckpoint  # noqa: PLC0415
    from legacy_core.errors import StaleRun  # noqa: PLC0415

    fenced_run(emulator, 7)
    before = django_rows(Variante, VARIANTE_FIELDS)
    assert before
    changed = sorted(before)[0]
    fourd.update("Artikel_Variante", {"__KEY": changed, "Bezeichnung": "vom alten Lauf"})
    with pytest.raises(StaleRun, match="fencing token 6 is older"):
        fenced_run(emulator, 6)
    assert before == django_rows(Variante, VARIANTE_FIELDS)
    assert [7] == list(SyncCheckpoint.objects.values_list("fence", flat=True))
    fenced_run(emulator, 8)
    assert django_rows(Variante, ["legacy_key", "bezeichnung"])[changed]["bezeichnung"] == (
        "vom alten Lauf"
    )
    assert [8] == list(SyncCheckpoint.objects.values_list("fence", flat=True))
