"""``legacy_api_fetch`` and ``legacy_api_session``."""

from __future__ import annotations
