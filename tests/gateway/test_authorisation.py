"""The authorisation matrix: every scope against every table endpoint, and bad tokens."""

from __future__ import annotations

from typing import Any

import pytest
from tests.gateway.conftest import requests_total

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

# (endpoint name, method, the action it needs)
ENDPOINTS = [
    ("list", "get", "read"),
    ("describe", "get", "read"),
    ("retrieve", "get", "read"),
    ("update", "patch", "write"),
    ("create", "post", "create"),
    ("destroy", "delete", "delete"),
]
SCOPES = [
    "live:Kunden:read",
    "live:Kunden:write",
    "live:Kunden:create",
    "live:Kunden:delete",
    "live:Kunden:*",
    "live:*:read",
    "test:Kunden:*",
    "live:Artikel_Variante:*",
]


def _grants(scope: str, action: str) -> bool:
    env, table, act = scope.split(":")
    return env in {"live", "*"} and table in {"Kunden", "*"} and act in {action, "*"}


def _call(api: Any, endpoint: str, method: str) -> Any:
    # A key that does not exist: an allowed call reaches 4D (404 or 400), a refused one does not.
    urls = {
        "list": "/api/live/Kunden/?limit=1",
        "describe": "/api/live/Kunden/describe/",
        "create": "/api/live/Kunden/",
    }
    url = urls.get(endpoint, "/api/live/Kunden/NOSUCHKEY/")
    body = {"Name": "Matrix"} if method in {"patch", "post"} else None
    return getattr(api, method)(url, body, format="json") if body else getattr(api, method)(url)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("endpoint", "method", "action"), ENDPOINTS)
def test_scope_matrix(
    api: Any,
    make_token: Any,
    emulators: dict[str, Any],
    scope: str,
    endpoint: str,
    method: str,
    action: str,
) -> None:
    """A scope that grants the endpoint's action passes the gate; any other is a 403 without 4D."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scope)}")
    before = requests_total(emulators["live"])
    answer = _call(api, endpoint, method)
    if _grants(scope, action):
        assert answer.status_code not in {401, 403}, answer.content
    else:
        assert answer.status_code == 403
        assert answer["Content-Type"] == "application/problem+json"
        assert answer.json()["type"].endswith("forbidden")
        assert requests_total(emulators["live"]) == before


@pytest.mark.parametrize(
    "header",
    [None, "Bearer lgw_forged", "Bearer", "Basic dXNlcjpwdw==", "Bearer a b"],
)
@pytest.mark.parametrize(("endpoint", "method", "action"), ENDPOINTS)
def test_missing_or_forged_token_is_401(
    api: Any,
    make_token: Any,
    emulators: dict[str, Any],
    header: str | None,
    endpoint: str,
    method: str,
    action: str,
) -> None:
    """No, an unknown or a malformed token is a 401 problem (WWW-Authenticate), no 4D request."""
    make_token("live:*:*")  # a real consumer exists: the forged token still does not match it
    if header:
        api.credentials(HTTP_AUTHORIZATION=header)
    before = requests_total(emulators["live"])
    answer = _call(api, endpoint, method)
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert answer["Content-Type"] == "application/problem+json"
    assert requests_total(emulators["live"]) == before


def test_revoked_token_is_401(api: Any, make_token: Any) -> None:
    """A consumer set inactive can no longer call the gateway."""
    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415

    token = make_token("live:*:*")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/live/Kunden/?limit=1").status_code == 200
    Consumer.objects.update(active=False)
    assert api.get("/api/live/Kunden/?limit=1").status_code == 401


def test_tokens_are_stored_hashed(make_token: Any) -> None:
    """The database holds the token's SHA-256, never the token itself."""
    import hashlib  # noqa: PLC0415

    from legacy_adapters.django.gateway.models import Consumer  # noqa: PLC0415

    token = make_token("live:Kunden:read")
    stored = list(Consumer.objects.values_list("token_hash", flat=True))
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


@pytest.mark.parametrize("scope", ["live:Kunden", "live:Kunden:erase", "li ve:Kunden:read", ""])
def test_malformed_scopes_are_refused(make_token: Any, scope: str) -> None:
    """A consumer cannot be created with a scope that is not env:Table:action."""
    from legacy_core.errors import ConfigurationError  # noqa: PLC0415

    with pytest.raises(ConfigurationError):
        make_token(scope)
