"""Per-caller request rates: ``LEGACY_API_GATEWAY["THROTTLE_RATE"]`` (``"100/min"``), off unset.

DRF's sliding-window throttle keyed by the caller (consumer name or ``jwt:<id>``), kept in
the Django cache ``LEGACY_API_GATEWAY["THROTTLE_CACHE"]`` (default ``"default"``): a Redis
cache makes the limit one for every worker and host; a local-memory cache makes it per
process. The window is read and written without a lock, so concurrent requests of one
caller can pass a few over the limit; it bounds a runaway consumer, it is not a quota.
Over the rate: 429 problem with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from legacy_adapters.django.gateway.auth import caller_of

__all__ = ["CallerRateThrottle"]


def _gateway_setting(name: str, default: Any) -> Any:
    from django.conf import settings  # noqa: PLC0415

    return getattr(settings, "LEGACY_API_GATEWAY", {}).get(name, default)


class CallerRateThrottle(SimpleRateThrottle):
    """At most ``THROTTLE_RATE`` requests per caller; no limit when it is unset."""

    scope = "legacy_gateway"

    def __init__(self) -> None:
        """Read the rate and the cache now (settings may change between tests)."""
        from django.core.cache import caches  # noqa: PLC0415

        self.rate = _gateway_setting("THROTTLE_RATE", None)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.cache = caches[_gateway_setting("THROTTLE_CACHE", "default")]

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        """One window per caller (None: an anonymous request, refused before this anyway)."""
        caller = caller_of(request)
        if caller is None:
            return None
        return str(self.cache_format % {"scope": self.scope, "ident": caller.name})

    def allow_request(self, request: Request, view: Any) -> bool:
        """True when no rate is set or the caller is under it."""
        if self.rate is None:
            return True
        return bool(super().allow_request(request, view))
