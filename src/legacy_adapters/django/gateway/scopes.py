"""Consumer scopes ``env:Table:action``: parsing and the default-deny check. No Django here.

An action is ``read``, ``write`` (PATCH), ``create`` (POST) or ``delete``. Any of the
three parts may be ``*`` (every environment, table or action): ``live:*:read`` reads every
table of ``live``. There is no other pattern syntax; a request no scope grants is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from legacy_core.errors import ConfigurationError

__all__ = ["ACTIONS", "allows", "parse_scope"]

ACTIONS = frozenset({"read", "write", "create", "delete"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def parse_scope(text: str) -> tuple[str, str, str]:
    """``"live:Kunden:read"`` as ``("live", "Kunden", "read")``; ConfigurationError if malformed."""
    parts = text.strip().split(":")
    if len(parts) != 3:
        msg = f"scope {text!r} is not env:Table:action (e.g. live:Kunden:read)"
        raise ConfigurationError(msg)
    env, table, action = parts
    for what, part in (("environment", env), ("table", table)):
        if part != "*" and not _NAME.fullmatch(part):
            msg = f"scope {text!r}: {what} {part!r} is not a name or '*'"
            raise ConfigurationError(msg)
    if action != "*" and action not in ACTIONS:
        msg = f"scope {text!r}: action {action!r} is not one of {sorted(ACTIONS)} or '*'"
        raise ConfigurationError(msg)
    return env, table, action


def allows(scopes: Iterable[str], environment: str, table: str, action: str) -> bool:
    """Whether one of ``scopes`` grants ``action`` on ``environment``/``table`` (default deny)."""
    for scope in scopes:
        try:
            env, tab, act = parse_scope(scope)
        except ConfigurationError:
            continue  # a malformed stored scope grants nothing
        if env in {"*", environment} and tab in {"*", table} and act in {"*", action}:
            return True
    return False
