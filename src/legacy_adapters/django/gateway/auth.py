"""``Authorization: Bearer <token>``: the consumer behind a token, and its scopes' check.

Two kinds of Bearer token: the gateway's own (``lgw_…``, a :class:`Consumer` in the
database) and, when ``LEGACY_API_GATEWAY["JWT"]`` is on, a simplejwt access token as
pyERP issues them, whose ``legacy_scopes`` claim lists the scopes (signed with
``SIMPLE_JWT["SIGNING_KEY"]``, by default the project's ``SECRET_KEY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from legacy_adapters.django.gateway.models import TOKEN_PREFIX, Consumer
from legacy_adapters.django.gateway.scopes import allows

__all__ = [
    "FIELDS_CLAIM",
    "SCOPES_CLAIM",
    "BearerTokenAuthentication",
    "Caller",
    "HasScope",
    "authenticators",
    "caller_of",
]

#: The JWT claim that carries a pyERP user's gateway scopes.
SCOPES_CLAIM = "legacy_scopes"
#: The JWT claim of the field allow-lists, ``{"Kunden": ["Kundennr", "Name"]}``.
FIELDS_CLAIM = "legacy_fields"


@attrs.frozen
class Caller:
    """Who calls: a name for the audit log, the scopes, and the field allow-lists."""

    name: str
    scopes: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Per table the only fields it may see, filter, order by or write; absent: all."""

    def allowed_fields(self, table: str) -> tuple[str, ...] | None:
        """The allow-list of ``table`` in its order, None when the caller may use every field."""
        return self.fields.get(table)


def _field_lists(value: object) -> dict[str, tuple[str, ...]] | None:
    """``{"Table": ["F", ...]}`` as tuples; None if it is not that shape (grants nothing)."""
    if not isinstance(value, Mapping):
        return None
    out: dict[str, tuple[str, ...]] = {}
    for table, names in value.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        out[str(table)] = tuple(names)
    return out


def jwt_enabled() -> bool:
    """Whether JWTs are accepted (``settings.LEGACY_API_GATEWAY["JWT"]``, off by default)."""
    from django.conf import settings  # noqa: PLC0415

    return bool(getattr(settings, "LEGACY_API_GATEWAY", {}).get("JWT", False))


def authenticators() -> list[Any]:
    """The gateway's own tokens, then simplejwt's when JWT is on."""
    out: list[Any] = [BearerTokenAuthentication()]
    if jwt_enabled():
        from rest_framework_simplejwt.authentication import (  # noqa: PLC0415
            JWTStatelessUserAuthentication,
        )

        out.append(JWTStatelessUserAuthentication())
    return out


def caller_of(request: Request) -> Caller | None:
    """The caller: a consumer, or a JWT's ``legacy_scopes``/``legacy_fields`` claims."""
    user = request.user
    if isinstance(user, Consumer):
        fields = _field_lists(user.fields)
        if fields is None:
            return Caller(user.name, ())  # a malformed stored allow-list grants nothing
        return Caller(user.name, tuple(user.scopes), fields)
    token = request.auth
    if jwt_enabled() and token is not None and not isinstance(token, str):
        name = f"jwt:{getattr(user, 'id', '?')}"
        claimed = token.get(SCOPES_CLAIM, [])
        fields = _field_lists(token.get(FIELDS_CLAIM, {}))
        if not isinstance(claimed, list) or not all(isinstance(c, str) for c in claimed):
            return Caller(name, ())
        if fields is None:
            return Caller(name, ())
        return Caller(name, tuple(claimed), fields)
    return None


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Finds the active consumer whose hashed token matches; 401 for a wrong or missing one."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Consumer, str] | None:
        """The (consumer, token) pair, None without an Authorization header."""
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            msg = "malformed Bearer header"
            raise exceptions.AuthenticationFailed(msg)
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            msg = "malformed Bearer token"
            raise exceptions.AuthenticationFailed(msg) from None
        if not token.startswith(TOKEN_PREFIX) and jwt_enabled():
            return None  # not one of ours: the JWT authenticator's to judge
        consumer = Consumer.for_token(token)
        if consumer is None:
            msg = "unknown or revoked token"
            raise exceptions.AuthenticationFailed(msg)
        return consumer, token

    def authenticate_header(self, request: Request) -> str:
        """What a 401 sends as ``WWW-Authenticate`` (DRF answers 401, not 403, with it)."""
        return 'Bearer realm="legacy-api"'


class HasScope(BasePermission):
    """Default deny: the view's action on the URL's environment and table must be granted."""

    message = "this token has no scope for this action on this table"

    def has_permission(self, request: Request, view: Any) -> bool:
        """Whether the consumer's scopes grant ``view.action_for(request)``."""
        caller = caller_of(request)
        if caller is None:
            return False
        action = view.action_for(request)
        env, table = view.kwargs["env"], view.kwargs["table"]
        granted = allows(caller.scopes, env, table, action)
        if not granted:
            self.message = f"this token may not {action} {env}:{table}"
        return granted


class BearerScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of the Bearer tokens (shown by the docs page)."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """An HTTP bearer scheme."""
        return {"type": "http", "scheme": "bearer"}
