"""Frozen domain values: environments, sessions, queries, pages and writes.

No wire details live here (4D names such as ``__COUNT`` or ``D!M!YYYY`` belong to the
adapters' converters); only what every adapter and the facade agree on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from legacy_core._checks import INT64_MAX, check_text, check_write_value, describe
from legacy_core.errors import (
    ConfigurationError,
    InvalidQuery,
    RecordNotFound,
    StampConflict,
    UnknownTable,
    WriteRejected,
)

if TYPE_CHECKING:
    from legacy_core.query import Filter

__all__ = [
    "Environment",
    "FieldUpdate",
    "OrderBy",
    "OutcomeStatus",
    "Page",
    "Query",
    "Record",
    "Session",
    "WriteOutcome",
    "WriteResult",
    "outcome_status",
    "request_outcome",
    "validate_identifier",
]

Record = Mapping[str, Any]

# 4D names: a letter or underscore first, then letters, digits and underscores. 4D also
# allows spaces in field names, but REST cannot address those without quoting rules that
# 4D does not document, so they are refused here. ``__KEY``/``__STAMP`` are addressable.
# Matched with fullmatch: "$" would also accept a trailing newline ("Nummer\n").
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# Words of the 4D query language: as a bare attribute name they would change the query.
_RESERVED = frozenset({"and", "or", "except", "not", "in", "null", "true", "false", "begin"})
_ENV_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a valid 4D table or attribute name, else raise InvalidQuery."""
    if not isinstance(name, str):
        msg = f"{what} must be a str, not {type(name).__name__}: {describe(name)}"
        raise InvalidQuery(msg)
    if name.casefold() in _RESERVED:
        msg = f"invalid {what} {describe(name)}: it is a word of the 4D query language"
        raise InvalidQuery(msg)
    if not _IDENTIFIER.fullmatch(name):
        msg = (
            f"invalid {what} {describe(name)}: 4D names are letters, digits and '_', "
            "not starting with a digit"
        )
        raise InvalidQuery(msg)
    return name


def _check_identifier(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    validate_identifier(value, attribute.name)


def _strip_slash(url: object) -> str:
    return str(url).rstrip("/")


def _as_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    return dict(values)


@attrs.frozen
class Environment:
    """A named 4D server (``live``, ``test``): its base URL and transport settings."""

    name: str
    base_url: str = attrs.field(converter=_strip_slash)
    verify_tls: bool = True
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _ENV_NAME.fullmatch(self.name):
            msg = f"invalid environment name {self.name!r}: lowercase letters, digits, '-' and '_'"
            raise ConfigurationError(msg)
        if not self.base_url.startswith(("http://", "https://")) or "@" in self.base_url:
            # Credentials in a URL would end up in logs; they go in headers instead.
            msg = (
                f"environment {self.name!r}: base URL must be http(s)://host[:port] "
                "without credentials"
            )
            raise ConfigurationError(msg, environment=self.name)

    @property
    def url_hash(self) -> str:
        """A short stable hash of the base URL, so test and live never share a key."""
        return hashlib.sha256(self.base_url.encode()).hexdigest()[:16]

    @property
    def session_key(self) -> str:
        """The store key of this environment's shared session."""
        return f"legacy_api:session:{self.name}:{self.url_hash}"

    def __repr__(self) -> str:
        return f"<Environment {self.name} {self.base_url}>"


@attrs.frozen(repr=False)
class Session:
    """A 4D REST session: the cookie to send and where it came from. The value never prints."""

    environment: str
    base_url: str
    cookie_name: str
    cookie_value: str = attrs.field(repr=False)
    generation: int = 0
    lifetime: float = 3600.0
    """The server-side idle lifetime in seconds."""
    obtained_at: float = 0.0
    """Wall-clock time (epoch seconds) when the session was stored."""
    expires_at: float = float("inf")
    """Wall-clock idle soft expiry as last seen: last use plus lifetime minus the margin."""
    last_used: float = 0.0
    """Wall-clock time of the last use recorded in the store (shared by all processes)."""

    def cookie_header(self) -> str:
        """The one ``Cookie`` header value to send: ``NAME=VALUE``, nothing else."""
        return f"{self.cookie_name}={self.cookie_value}"

    def __repr__(self) -> str:
        return (
            f"<Session {self.environment} {self.cookie_name}=*** "
            f"generation={self.generation} lifetime={self.lifetime:g}s>"
        )


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{attribute.name} must be an int, not {type(value).__name__}"
        raise InvalidQuery(msg)
    if not 0 <= value <= INT64_MAX:
        msg = f"{attribute.name} must be >= 0 and fit 64 bits, got {describe(value)}"
        raise InvalidQuery(msg)


@attrs.frozen
class OrderBy:
    """One sort key: an attribute, ascending unless ``descending``."""

    field: str = attrs.field(validator=_check_identifier)
    descending: bool = False

    @classmethod
    def parse(cls, spec: object) -> OrderBy:
        """Accept ``"Nummer"``, ``"Nummer desc"``, ``"-Nummer"`` or an OrderBy."""
        if isinstance(spec, OrderBy):
            return spec
        if not isinstance(spec, str):
            msg = f"order_by entries must be str or OrderBy, not {type(spec).__name__}"
            raise InvalidQuery(msg)
        check_text(spec, "order_by")
        parts = spec.strip().split()
        if len(parts) == 1 and parts[0].startswith("-"):
            return cls(parts[0][1:], descending=True)
        if len(parts) == 2 and parts[1].lower() in {"asc", "desc"}:
            return cls(parts[0], descending=parts[1].lower() == "desc")
        if len(parts) == 1:
            return cls(parts[0])
        msg = f"invalid order_by {describe(spec)}: use 'Field', 'Field desc' or '-Field'"
        raise InvalidQuery(msg)


def _entries(value: object, what: str) -> list[Any]:
    # A str is a comma-separated list; any other iterable holds the entries (fields=5
    # or fields=b"Nummer" is a caller's mistake, not a TypeError from iterating it).
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (bytes, bytearray, memoryview, Mapping)) or not isinstance(
        value, Iterable
    ):
        msg = f"{what} must be a str or a list of str, not {type(value).__name__}"
        raise InvalidQuery(msg)
    return list(value)


def _order_tuple(value: Sequence[str | OrderBy] | str | None) -> tuple[OrderBy, ...]:
    if value is None:
        return ()
    return tuple(OrderBy.parse(v) for v in _entries(value, "order_by"))


def _attr_tuple(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(validate_identifier(v, "attribute") for v in _entries(value, "fields"))


def _expand_tuple(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(validate_identifier(v, "relation") for v in _entries(value, "expand"))


def _check_filter(_inst: object, _attribute: attrs.Attribute[Any], value: object) -> None:
    from legacy_core.query import Filter  # noqa: PLC0415 - query imports model

    if value is not None and not isinstance(value, Filter):
        msg = (
            f"filter must be built with legacy_core.query (field(...) == ..., Raw(...)), "
            f"not {type(value).__name__}"
        )
        raise InvalidQuery(msg)


@attrs.frozen
class Query:
    """What to read: environment, table, filter, projection, order and one page window.

    ``top=None`` lets the server choose its default page (100 on 4D); ``entity_set``
    reads a page of an existing snapshot instead of evaluating the filter again.
    """

    environment: str
    table: str = attrs.field(validator=_check_identifier)
    filter: Filter | None = attrs.field(default=None, validator=_check_filter)
    attributes: tuple[str, ...] = attrs.field(default=(), converter=_attr_tuple)
    order_by: tuple[OrderBy, ...] = attrs.field(default=(), converter=_order_tuple)
    top: int | None = attrs.field(default=None, validator=_non_negative)
    skip: int = attrs.field(default=0, validator=_non_negative)
    entity_set: str | None = attrs.field(default=None)
    typed: bool = False
    """Decode values to Python types (dates, times, keys); False keeps them as sent."""
    columnar: bool = False
    """Ask for the page as one Arrow table (``legacy_core.columnar.ArrowRecords``); a
    reader without a columnar path ignores it and the client converts its dicts."""
    expand: tuple[str, ...] = attrs.field(default=(), converter=_expand_tuple, kw_only=True)
    """Relations to inline (4D ``$expand``): a typed read decodes each expanded related
    entity to a dict (a 1->N one to a list of dicts); a reader or server that does not
    expand leaves the relation's key, which ``legacy_core.tables`` then looks up."""

    @entity_set.validator
    def _check_entity_set(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value.strip():
            msg = f"entity_set must be a non-empty str, got {describe(value)}"
            raise InvalidQuery(msg, environment=self.environment, table=self.table)
        check_text(value, "entity_set", environment=self.environment, table=self.table)

    def page(self, skip: int, top: int | None) -> Query:
        """The same query for another window."""
        return attrs.evolve(self, skip=skip, top=top)


@attrs.frozen
class Page:
    """One page of a read: the records, the size of the whole selection and the window."""

    records: Sequence[Record]
    count: int
    first: int = 0
    sent: int = attrs.field()
    entity_set: str | None = None

    @sent.default
    def _sent_default(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"<Page first={self.first} sent={self.sent} count={self.count}>"


@attrs.frozen
class FieldUpdate:
    """Set some fields of one entity; ``expected_stamp`` makes it a compare-and-set."""

    table: str = attrs.field(validator=_check_identifier)
    key: str = attrs.field()
    values: Mapping[str, Any] = attrs.field(converter=_as_dict)
    expected_stamp: int | None = attrs.field(default=None, validator=_non_negative)
    environment: str | None = None
    """The environment to write to; None means the writer's default environment."""

    @key.validator
    def _check_key(self, _attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not value:
            msg = (
                f"key must be a non-empty str (4D __KEY is always a string), got {describe(value)}"
            )
            raise InvalidQuery(msg, environment=self.environment, table=self.table)
        check_text(value, f"key of {self.table}", environment=self.environment, table=self.table)

    @values.validator
    def _check_values(self, _attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
        if not value:
            msg = f"update of {self.table}[{self.key}] sets no field"
            raise InvalidQuery(msg, table=self.table)
        for name, item in value.items():
            validate_identifier(name, "field")
            if name.startswith("__"):
                msg = f"{name} is managed by 4D and cannot be written"
                raise InvalidQuery(msg, table=self.table)
            check_write_value(
                item,
                f"{self.table}[{describe(self.key)}].{name}",
                environment=self.environment,
                table=self.table,
                not_applied=True,  # refused before anything was sent
            )


@attrs.frozen
class WriteResult:
    """The saved entity as the server answered it, with its new ``__STAMP``."""

    table: str
    key: str
    stamp: int
    record: Record = attrs.field(factory=dict, repr=False)


OutcomeStatus = Literal["saved", "conflict", "rejected", "not_sent", "unknown"]
"""``saved``: applied (new stamp); ``conflict``: stale ``__STAMP``, not applied (the error
carries the current values); ``rejected``: refused by 4D or by us before sending, not
applied; ``not_sent``: never reached the server; ``unknown``: its request failed after it
was sent, so it may or may not have been applied (read it back before resending)."""


@attrs.frozen
class WriteOutcome:
    """What became of one update of a batch, at its position in the input."""

    index: int
    table: str
    key: str | None
    status: OutcomeStatus
    result: WriteResult | None = None
    """The saved entity when ``status`` is ``saved``."""
    error: Exception | None = attrs.field(default=None, eq=False)
    """Why it was not saved (a LegacyError; StampConflict for a conflict)."""

    @property
    def applied(self) -> bool:
        """Whether 4D certainly applied this update."""
        return self.status == "saved"


def outcome_status(error: Exception) -> OutcomeStatus:
    """The outcome of an update the server answered for with ``error`` (not applied)."""
    if isinstance(error, StampConflict):
        return "conflict"
    return "rejected"


def request_outcome(error: Exception) -> OutcomeStatus:
    """The outcome of an update whose whole request failed with ``error``."""
    if isinstance(error, StampConflict):
        return "conflict"
    if isinstance(error, (WriteRejected, RecordNotFound, InvalidQuery, UnknownTable)):
        return "rejected"  # the server (or we, before sending) refused it: not applied
    not_applied = bool(getattr(error, "not_applied", False))
    return "not_sent" if not_applied else "unknown"
