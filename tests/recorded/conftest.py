"""Fixtures of the recorded fake's tests: a scripted 4D stand-in and a fresh emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from recorded_support import (
    COOKIE,
    PASSWORD,
    USER,
    ScriptedTransport,
    json_response,
)

from fourd_emulator import EmulatorConfig, EmulatorServer, serve
from legacy_adapters.fourd import HttpRequest, HttpResponse


@pytest.fixture
def scripted() -> ScriptedTransport:
    """A scripted 4D stand-in: ``$info`` logs in, collections answer one entity."""

    def handler(request: HttpRequest) -> HttpResponse:
        if request.path.endswith("/$info"):
            return json_response(
                {"sessionInfo": [{"sessionID": COOKIE, "lifeTime": 60, "userName": ""}]},
                cookies=(("WASID4D", COOKIE),),
            )
        if request.method == "POST":
            return json_response({"__KEY": "1", "__STAMP": 2, "Name": "saved"})
        return json_response(
            {
                "__entityModel": "Kunde",
                "__COUNT": 1,
                "__ENTITIES": [{"__KEY": "1", "__STAMP": 1, "Name": "Ada"}],
            }
        )

    return ScriptedTransport(handler)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A fresh emulator (200 rows per big table) on a free loopback port."""
    with serve(EmulatorConfig(rows=200, seed=0, users={USER: PASSWORD}), port=0) as server:
        yield server
