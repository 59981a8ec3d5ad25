"""``Authorization: Bearer <token>``: the consumer behind a token, and its scopes' check."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from legacy_adapters.django.gateway.models import Consumer
from legacy_adapters.django.gateway.scopes import allows

__all__ = ["BearerTokenAuthentication", "HasScope"]


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
        consumer = request.user
        if not isinstance(consumer, Consumer):
            return False
        action = view.action_for(request)
        env, table = view.kwargs["env"], view.kwargs["table"]
        granted = allows(consumer.scopes, env, table, action)
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
