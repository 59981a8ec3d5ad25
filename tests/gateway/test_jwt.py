"""pyERP's JWTs (simplejwt) with a ``legacy_scopes`` claim, when ``LEGACY_API_GATEWAY["JWT"]``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("rest_framework")  # the gateway extra (not on pyERP's pins)

pytest.importorskip("rest_framework_simplejwt")

KEY = "gateway-jwt-tests-signing-key-of-48-characters!!"


@pytest.fixture(autouse=True)
def _signing_key() -> Iterator[None]:
    """A signing key long enough for HS256 (the test project's SECRET_KEY is short)."""
    from django.test import override_settings  # noqa: PLC0415

    with override_settings(SIMPLE_JWT={"SIGNING_KEY": KEY}):
        yield


@pytest.fixture
def jwt_on() -> Iterator[None]:
    """Accept JWTs for the test."""
    from django.test import override_settings  # noqa: PLC0415

    with override_settings(LEGACY_API_GATEWAY={"JWT": True}):
        yield


def _jwt(scopes: Any, *, lifetime: timedelta | None = None, fields: Any = None) -> str:
    from rest_framework_simplejwt.tokens import AccessToken  # noqa: PLC0415

    token = AccessToken()
    token["user_id"] = 42
    token["legacy_scopes"] = scopes
    if fields is not None:
        token["legacy_fields"] = fields
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def test_jwt_scopes_grant_and_deny(api: Any, jwt_on: None, emulators: dict[str, Any]) -> None:
    """A JWT whose claim grants live:Kunden:read lists Kunden, but may not list Belege or write."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_jwt(['live:Kunden:read'])}")
    assert api.get("/api/live/Kunden/?limit=2").status_code == 200
    assert api.get("/api/live/Belege/?limit=2").status_code == 403
    key = api.get("/api/live/Kunden/?limit=1").json()["results"][0]["__KEY"]
    assert api.patch(f"/api/live/Kunden/{key}/", {"Name": "x"}, format="json").status_code == 403


def test_jwt_without_scopes_claim_is_denied(api: Any, jwt_on: None) -> None:
    """A valid JWT with no (or a malformed) legacy_scopes claim grants nothing."""
    for claim in ([], "live:*:*", [1, 2]):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {_jwt(claim)}")
        assert api.get("/api/live/Kunden/?limit=1").status_code == 403


def test_forged_and_expired_jwts_are_401(api: Any, jwt_on: None) -> None:
    """A JWT signed with another key, or expired, is a 401 problem."""
    import jwt as pyjwt  # noqa: PLC0415

    forged = pyjwt.encode(
        {"token_type": "access", "user_id": 1, "legacy_scopes": ["*:*:*"], "jti": "x", "exp": 4e9},
        "another-signing-key-that-pyerp-never-used-0123",
        algorithm="HS256",
    )
    for token in (forged, _jwt(["*:*:*"], lifetime=timedelta(seconds=-5))):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        answer = api.get("/api/live/Kunden/?limit=1")
        assert answer.status_code == 401
        assert answer["Content-Type"] == "application/problem+json"


def test_jwt_off_by_default(api: Any) -> None:
    """Without the setting a valid JWT is not accepted (it is no gateway token)."""
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_jwt(['*:*:*'])}")
    assert api.get("/api/live/Kunden/?limit=1").status_code == 401


def test_jwt_writes_are_audited_by_user(api: Any, jwt_on: None) -> None:
    """A write with a JWT names ``jwt:<user_id>`` in the audit log."""
    from legacy_adapters.django.gateway.models import AuditEntry  # noqa: PLC0415

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_jwt(['live:Kunden:create'])}")
    created = api.post("/api/live/Kunden/", {"Name": "Jwt"}, format="json")
    assert created.status_code == 201
    entry = AuditEntry.objects.get(key=created.json()["__KEY"])
    assert (entry.consumer, entry.action, entry.outcome) == ("jwt:42", "create", "saved")


def test_jwt_field_allow_list_claim(api: Any, jwt_on: None) -> None:
    """A legacy_fields claim limits the fields; a malformed one grants nothing."""
    api.credentials(
        HTTP_AUTHORIZATION=f"Bearer {_jwt(['live:Kunden:read'], fields={'Kunden': ['Name']})}"
    )
    row = api.get("/api/live/Kunden/?limit=1").json()["results"][0]
    assert {k for k in row if not k.startswith("__")} == {"Name"}
    assert api.get("/api/live/Kunden/", {"fields": "Email"}).status_code == 403
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_jwt(['live:Kunden:read'], fields=['Name'])}")
    assert api.get("/api/live/Kunden/?limit=1").status_code == 403
