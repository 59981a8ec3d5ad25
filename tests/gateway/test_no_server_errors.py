"""Odd and hostile input never gets a 5xx: each answer is a success or a 4xx problem."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

CASES: list[tuple[str, str, Any]] = [
    ("get", "/api/live/Kunden/%27%5D%20or%201/", None),
    ("get", "/api/live/Kunden/" + "x" * 3000 + "/", None),
    ("get", "/api/live/Kunden/?where=" + "(" * 3000, None),
    ("get", "/api/live/Kunden/?where=" + "a" * 5000, None),
    ("get", "/api/live/Kunden/?order_by=-", None),
    ("get", "/api/live/Kunden/?where=Name%20%3D%20%27x%27%20or%201%3D1", None),
    ("get", "/api/live/Kunden/?where=Kundennr%20%3D%20%27abc%27", None),
    ("get", "/api/live/Kunden/?where=Name%20in%20%5B%5D", None),
    ("get", "/api/live/Kunden/?where=Geburtsdatum%20%3E%202025-13-45", None),
    ("get", "/api/live/Kunden/?where=%00", None),
    ("get", "/api/live/Kunden/?order_by=Adressen", None),
    ("get", "/api/live/Kunden/?limit=%D9%A3", None),
    ("get", "/api/live/Kunden/?limit=" + "9" * 5000, None),
    ("get", "/api/live/select/", None),
    ("put", "/api/live/Kunden/x/", {"a": 1}),
    ("post", "/api/live/Kunden/", {"__KEY": "X1", "Name": "k"}),
    ("post", "/api/live/Kunden/", {"Kundennr": "not a number"}),
    ("post", "/api/live/Kunden/", {"Name": {"nested": [1]}}),
    ("post", "/api/live/Kunden/", {"Adressen": 1}),
    ("post", "/api/live/Kunden/", {"__STAMP": 1}),
    ("patch", "/api/live/Kunden/NOPE/", {"Name": "x"}),
    ("patch", "/api/live/Kunden/NOPE/", {"__STAMP": "1", "Name": "x"}),
    ("delete", "/api/live/Kunden/NOPE/", None),
    ("patch", "/api/live/Kunden/NOPE/", {"__STAMP": 10**30, "Name": "x"}),
    ("patch", "/api/live/Kunden/NOPE/", {"__STAMP": -1, "Name": "x"}),
    ("patch", "/api/live/Kunden/NOPE/", {"Name": "x" * 100_000}),
    ("post", "/api/live/Kunden/", {"Kundennr": 10**40}),
]


@pytest.mark.parametrize(("method", "url", "body"), CASES, ids=[c[1][:60] for c in CASES])
def test_no_5xx_for_bad_input(api: Any, make_token: Any, method: str, url: str, body: Any) -> None:
    """A hostile key, filter, name, limit, method or body is a 4xx problem, never a 5xx."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('*:*:*')}")
    call = getattr(api, method)
    answer = call(url, body, format="json") if body is not None else call(url)
    assert 400 <= answer.status_code < 500, answer.content[:300]
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["status"] == answer.status_code


def test_write_answers_carry_no_4d_paths(api: Any, make_token: Any) -> None:
    """A create's answer has the new key and stamp but not 4D's ``uri`` or deferred paths."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('live:Kunden:*')}")
    answer = api.post("/api/live/Kunden/", {"Name": "Pfadlos"}, format="json")
    assert answer.status_code == 201
    assert answer.json()["__STAMP"] >= 1
    assert "/rest/" not in answer.content.decode()
