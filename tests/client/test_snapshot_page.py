"""``snapshot_page``: a snapshot that outlives the call, sync and async, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import legacy_api
from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_core.errors import EntitySetExpired, InvalidQuery, UnknownField
from legacy_core.model import Page

pytestmark = pytest.mark.integration

TABLE = "Kunden"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One emulator for the module, reset per test."""
    with serve(EmulatorConfig(rows=50, seed=3)) as srv:
        yield srv


@pytest.fixture
def client(server: EmulatorServer) -> Iterator[legacy_api.LegacyClient]:
    """A sync client on the reset emulator."""
    server.reset()
    c = legacy_api.build_client({"environments": {"live": server.base_url}})
    yield c
    c.close()


def _keys(page: Page) -> list[int]:
    return [r["Kundennr"] for r in page.records]


def test_later_windows_ignore_rows_created_after_opening(
    client: legacy_api.LegacyClient,
) -> None:
    """Windows of an opened set equal the direct read at opening, despite a row added since."""
    expected = [r["Kundennr"] for r in client.iter_records(TABLE, order_by="Kundennr")]
    first = client.snapshot_page(TABLE, order_by="Kundennr", limit=10)
    assert first.entity_set is not None
    assert first.count == len(expected)
    client.create(TABLE, {"Kundennr": min(expected) - 1, "Name": "früher"})
    keys = _keys(first)
    for skip in range(10, len(expected), 10):
        page = client.snapshot_page(TABLE, entity_set=first.entity_set, skip=skip, limit=10)
        assert page.entity_set == first.entity_set
        keys += _keys(page)
    assert keys == expected


def test_a_released_set_raises_entity_set_expired(client: legacy_api.LegacyClient) -> None:
    """Reading a set 4D no longer holds raises EntitySetExpired (not an empty page)."""
    first = client.snapshot_page(TABLE, limit=5)
    assert first.entity_set is not None
    client.reader.release_snapshot("live", TABLE, first.entity_set)
    with pytest.raises(EntitySetExpired):
        client.snapshot_page(TABLE, entity_set=first.entity_set, skip=5, limit=5)


def test_an_unknown_field_is_refused_before_opening(
    client: legacy_api.LegacyClient, server: EmulatorServer
) -> None:
    """A misspelt field is an UnknownField, and no entity set is created for it."""
    client.describe(TABLE)
    with pytest.raises(UnknownField):
        client.snapshot_page(TABLE, fields=["Nam"], limit=5)
    assert server.stats()["active_entity_sets"] == 0


def test_async_snapshot_page_matches_the_sync_one(
    client: legacy_api.LegacyClient, server: EmulatorServer
) -> None:
    """The async verb pages the same set to the same rows as the sync verb."""

    async def pages() -> list[int]:
        async with legacy_api.build_async_client({"environments": {"live": server.base_url}}) as ac:
            first = await ac.snapshot_page(TABLE, order_by="Kundennr", limit=20)
            assert first.entity_set is not None
            second = await ac.snapshot_page(TABLE, entity_set=first.entity_set, skip=20, limit=20)
            return _keys(first) + _keys(second)

    sync_first = client.snapshot_page(TABLE, order_by="Kundennr", limit=40)
    assert asyncio.run(pages()) == _keys(sync_first)


def test_a_zero_limit_is_refused(client: legacy_api.LegacyClient, server: EmulatorServer) -> None:
    """``limit=0`` is an InvalidQuery naming the table, and nothing is sent to 4D."""
    before = server.stats()["requests_total"]
    with pytest.raises(InvalidQuery, match="Kunden"):
        client.snapshot_page(TABLE, limit=0)
    assert server.stats()["requests_total"] == before
