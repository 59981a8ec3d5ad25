"""Management commands of the legacy API app."""

from __future__ import annotations
