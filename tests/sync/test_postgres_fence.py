"""Fencing tokens in the PostgreSQL sink: an older token's batch is rolled back (StaleRun)."""

from __future__ import annotations

import pytest

from legacy_adapters.sync import PostgresSink, SyncRunner
from legacy_core.errors import StaleRun
from legacy_core.service import LegacyClient
from legacy_core.sync import SyncMapping

from .conftest import Fourd
from .test_postgres_sync import database, pg_table, psycopg  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

TABLE = "Artikel_Familie"


def run(client: LegacyClient, url: str, fence: int) -> None:
    """One fenced run into the PostgreSQL database at ``url``."""
    sink = PostgresSink(url)
    try:
        SyncRunner(client, SyncMapping(TABLE), sink, fence=fence).run()
    finally:
        sink.close()


def test_postgres_refuses_an_older_token(client: LegacyClient, fourd: Fourd, database: str) -> None:  # noqa: F811
    """After token 7 committed, a run with token 6 is refused and changes neither rows nor fence."""
    run(client, database, 7)
    before = pg_table(database, TABLE)
    fourd.update(TABLE, {"__KEY": sorted(before)[0], "Bezeichnung": "vom alten Lauf"})
    with pytest.raises(StaleRun, match="fencing token 6 is older"):
        run(client, database, 6)
    assert before == pg_table(database, TABLE)
    with psycopg.connect(database) as db:
        fence = db.execute(
            "SELECT fence FROM _legacy_sync_checkpoints WHERE mapping = %s", (TABLE,)
        ).fetchone()
    assert (7,) == fence
    run(client, database, 8)
    assert len(fourd.records(TABLE)) == len(pg_table(database, TABLE))
