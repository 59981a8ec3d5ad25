"""The emulator's configuration and its fault settings (values only, no behaviour)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["FOURD_VERSIONS", "EmulatorConfig", "Faults"]


def _check_cookie(_inst: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in {"WASID4D", "4DSID"}:
        msg = f"cookie must be 'WASID4D' or '4DSID', not {value!r}"
        raise ValueError(msg)


FOURD_VERSIONS = (17, 18, 20)


def _check_version(_inst: object, _attribute: attrs.Attribute[Any], value: int) -> None:
    if value not in FOURD_VERSIONS:
        msg = f"fourd_version must be one of {', '.join(map(str, FOURD_VERSIONS))}, not {value!r}"
        raise ValueError(msg)


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        msg = f"{attribute.name} must be >= 0, got {value!r}"
        raise ValueError(msg)


@attrs.frozen(repr=False)
class EmulatorConfig:
    """How the emulated 4D server behaves; undocumented 4D behaviours are switches here."""

    rows: int = attrs.field(default=2000, validator=_non_negative)
    """Size of the big tables (``Artikel_Variante`` has exactly this many rows)."""
    licences: int | None = attrs.field(default=None, validator=_non_negative)
    """Maximum concurrent sessions (None: unlimited); beyond it HTTP 402 / 1823."""
    cookie: str = attrs.field(default="WASID4D", validator=_check_cookie)
    """``WASID4D`` (legacy sessions) or ``4DSID`` (cookie ``4DSID_<app_name>``)."""
    app_name: str = "WSZ-DB"
    require_login: bool = False
    """Data requests need a session authenticated by ``$directory/login`` (else 401)."""
    force_login: bool = False
    """No licence before login: only ``$directory/login`` opens a session; other requests
    without a live authenticated session answer 401 and open none."""
    logout: bool = True
    """``$directory/logout`` ends the caller's session and frees its licence (False: 404,
    as on pyERP's server)."""
    seed: int = 0
    quirks: bool = True
    """pyERP's server quirks: strict ``<``/``>`` on dates and ``__TIMESTAMP`` filters answer
    500, update responses carry ``!!YYYY-MM-DD!!`` timestamps. ``$directory/logout`` is not a
    quirk: ``logout`` switches it."""
    users: Mapping[str, str] = attrs.field(
        factory=lambda: {"admin": "secret"}, converter=dict, repr=False
    )
    """Accepted ``$directory/login`` credentials (user -> password)."""
    max_request_size: int = attrs.field(default=2_000_000, validator=_non_negative)
    session_lifetime: float = attrs.field(default=3600.0, validator=_non_negative)
    """Idle lifetime of a session in seconds (4D: 60 minutes)."""
    stamp_conflict_status: int = 200
    """HTTP status of a stale-``__STAMP`` answer (undocumented by 4D; the body says it)."""
    default_top: int = 100
    entity_set_timeout: float = 7200.0
    max_requests_per_connection: int = 100
    keepalive_timeout: float = 15.0
    """Seconds an idle keep-alive connection is kept open."""
    max_concurrent_requests: int | None = None
    """REST requests in progress server-wide beyond which 4D answers 503 (None: no limit)."""
    serialize_sessions: bool = False
    """Run the requests of one session one at a time, as 4D's legacy sessions do."""
    fourd_version: int = attrs.field(default=18, validator=_check_version)
    """The 4D version whose answers the emulator shapes (17, 18 or 20; docs/emulator.md):
    v17 sends no ``__GlobalStamp``/``__DATACLASS``/``__UNIQID``, v18 adds ``__GlobalStamp``,
    catalog ``fieldPos``/``tableNumber``, v20 adds ``__DATACLASS`` and ``__STATUS`` on saves."""
    pregenerate: bool = False
    change_tracking: bool = False
    """Serve the database as 4D's mobile sync prepares it: every seeded table carries a
    ``__GlobalStamp`` attribute (set from one server-wide counter on each create and
    update; seeded rows 0) and a ``__DeletedRecords`` table gets one row per delete."""
    """Generate every row at start-up instead of on first use (steadier benchmark timings)."""

    @property
    def cookie_name(self) -> str:
        """The session cookie's name."""
        return "WASID4D" if self.cookie == "WASID4D" else f"4DSID_{self.app_name}"

    def __repr__(self) -> str:
        return (
            f"<EmulatorConfig rows={self.rows} licences={self.licences} "
            f"cookie={self.cookie_name} require_login={self.require_login} "
            f"force_login={self.force_login} logout={self.logout} seed={self.seed} "
            f"quirks={self.quirks} fourd_version={self.fourd_version}>"
        )


def _rate(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        msg = f"{attribute.name} must be between 0 and 1, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class Faults:
    """Injected faults; every random decision comes from one RNG seeded with ``seed``."""

    latency_ms: float = attrs.field(default=0.0, validator=_non_negative)
    latency_jitter_ms: float = attrs.field(default=0.0, validator=_non_negative)
    """Uniform extra latency in ``[0, jitter)`` on top of ``latency_ms``."""
    error_503_rate: float = attrs.field(default=0.0, validator=_rate)
    reset_rate: float = attrs.field(default=0.0, validator=_rate)
    truncate_rate: float = attrs.field(default=0.0, validator=_rate)
    licences: int | None = attrs.field(default=None, validator=_non_negative)
    licences_override: bool = False
    """True when ``licences`` replaces the configured cap (None then means unlimited)."""
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as JSON."""
        return attrs.asdict(self)
