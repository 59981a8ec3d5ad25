"""Consumers (their tokens stored as SHA-256 hashes) and the audit log of every write."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.db import models

from legacy_adapters.django.gateway.scopes import parse_scope
from legacy_core.model import validate_identifier

__all__ = ["AuditEntry", "Consumer", "hash_token"]

TOKEN_PREFIX = "lgw_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 hex digest.

    Tokens are 256 random bits, so a fast hash is enough (nothing to brute-force); a
    database dump reveals no usable token.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Consumer(models.Model):
    """One consumer of the gateway: a name, a hashed token and its scopes."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    fields = models.JSONField(default=dict)
    """Field allow-lists per table, ``{"Kunden": ["Kundennr", "Name"]}``; a table absent: all."""
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "legacy_gateway"

    def __str__(self) -> str:
        return str(self.name)

    # DRF treats request.user as a user: a consumer is one that is always authenticated.
    is_authenticated = True
    is_anonymous = False

    @classmethod
    def create_with_token(
        cls, name: str, scopes: list[str], fields: dict[str, list[str]] | None = None
    ) -> tuple[Consumer, str]:
        """Create a consumer; return it and its token (shown once: only the hash is stored)."""
        for scope in scopes:
            parse_scope(scope)
        for table, names in (fields or {}).items():
            for name_ in [table, *names]:
                validate_identifier(name_, "field allow-list name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        consumer = cls.objects.create(
            name=name, token_hash=hash_token(token), scopes=scopes, fields=fields or {}
        )
        return consumer, token

    @classmethod
    def for_token(cls, token: str) -> Consumer | None:
        """The active consumer the token belongs to, or None."""
        found: Consumer | None = cls.objects.filter(
            token_hash=hash_token(token), active=True
        ).first()
        return found


class AuditEntry(models.Model):
    """One write through the gateway: who, what, which entity, the stamps and the outcome."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    consumer = models.CharField(max_length=100)
    environment = models.CharField(max_length=100)
    table = models.CharField(max_length=200)
    action = models.CharField(max_length=10)
    key = models.CharField(max_length=200, blank=True, default="")
    before_stamp = models.BigIntegerField(null=True)
    after_stamp = models.BigIntegerField(null=True)
    fields = models.JSONField(default=list)
    """The names of the fields written (not their values: they may be personal data)."""
    outcome = models.CharField(max_length=40)
    request_id = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        app_label = "legacy_gateway"
        ordering = ("at", "id")

    def __str__(self) -> str:
        return f"{self.consumer} {self.action} {self.environment}:{self.table}[{self.key}]"

    @classmethod
    def record(cls, **values: Any) -> AuditEntry:
        """Write one entry (its own statement: a failed write is logged as well)."""
        entry: AuditEntry = cls.objects.create(**values)
        return entry
