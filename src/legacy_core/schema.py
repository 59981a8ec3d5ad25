"""Table schemas as ``$catalog/{Table}`` describes them, and the field-name checks built on them.

What lives here: the frozen values :class:`TableSchema` and :class:`AttributeSpec` (the
4D adapter's decoder, ``client.describe`` and the memory fake share them) and
:meth:`TableSchema.check`, which refuses an unknown field name before any request with a
did-you-mean hint. What does not: parsing a catalog body (``legacy_adapters.wire``) and
caching it (the readers).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from legacy_core.errors import UnknownField

__all__ = ["SYSTEM_ATTRIBUTES", "AttributeSpec", "TableSchema"]

SYSTEM_ATTRIBUTES = frozenset({"__KEY", "__STAMP", "__TIMESTAMP"})
"""Attributes every 4D entity has without the catalog listing them: always allowed."""

_RELATION_KINDS = frozenset({"relatedEntity", "relatedEntities"})
_COLLECTION_SUFFIXES = ("Selection", "Collection")  # v18+ / v17 names of a related collection


@attrs.frozen
class AttributeSpec:
    """One attribute of a 4D dataclass: its name, kind, 4D type and, for a relation, its target.

    ``kind`` is ``storage`` for a field, ``relatedEntity`` (N→1) or ``relatedEntities``
    (1→N) for a relation, or what else 4D names (``calculated``, ``alias``). ``type`` is
    the 4D type (``string``, ``long``, ``date``, …); for a relation 4D puts the target's
    name there (``Artikel_Familie``, ``Artikel_VarianteSelection``).
    """

    name: str
    kind: str = "storage"
    type: str = "string"
    simple_date: bool = False
    """A date-only field (4D ``simpleDate``): decoded to ``datetime.date``."""
    related_table: str | None = None
    """The table a relation points to (4D ``relatedDataClass``, else read from ``type``)."""
    indexed: bool = False
    foreign_key: str | None = None
    """For an N→1 relation: the field of this table holding the related key (4D
    ``foreignKey``, v18 on); None when the catalog does not say."""
    inverse: str | None = None
    """The relation of the target table pointing back here (4D ``inverseName``); a 1→N
    relation is followed through it (the target's N→1 relation and its foreign key)."""

    @property
    def is_relation(self) -> bool:
        """Whether this attribute is a relation (``relatedEntity`` or ``relatedEntities``)."""
        return self.kind in _RELATION_KINDS

    @property
    def is_storage(self) -> bool:
        """Whether this attribute holds a value of its own (a field, not a relation)."""
        return self.kind == "storage"


def _proxy(value: Mapping[str, AttributeSpec]) -> Mapping[str, AttributeSpec]:
    return MappingProxyType(dict(value))


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(eq=False)
class TableSchema:
    """The attributes of one table, in catalog order, and its primary key.

    Frozen and read-only (``attributes`` is a read-only mapping). Built by the readers
    from ``$catalog/{Table}`` and cached per environment; ``client.describe`` returns it.
    """

    table: str
    attributes: Mapping[str, AttributeSpec] = attrs.field(factory=dict, converter=_proxy)
    primary_key: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """The primary-key attribute(s) (4D catalog ``key``); ``__KEY`` holds their value."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TableSchema):
            return NotImplemented
        return (self.table, dict(self.attributes), self.primary_key) == (
            other.table,
            dict(other.attributes),
            other.primary_key,
        )

    def __hash__(self) -> int:
        return hash((self.table, tuple(self.attributes.values()), self.primary_key))

    def __reduce__(self) -> tuple[Any, ...]:
        # A read-only mapping does not pickle; the dict it wraps does.
        return (TableSchema, (self.table, dict(self.attributes), self.primary_key))

    def __repr__(self) -> str:
        return f"<TableSchema {self.table}: {len(self.attributes)} attributes>"

    @property
    def fields(self) -> tuple[AttributeSpec, ...]:
        """The attributes that are not relations (storage, calculated, alias), in order."""
        return tuple(a for a in self.attributes.values() if not a.is_relation)

    @property
    def relations(self) -> tuple[AttributeSpec, ...]:
        """The relation attributes, in order."""
        return tuple(a for a in self.attributes.values() if a.is_relation)

    def types(self) -> dict[str, str]:
        """``attribute -> 4D type`` (relations report their kind, e.g. ``relatedEntity``)."""
        return {
            name: (spec.kind if spec.kind.startswith("related") else spec.type)
            for name, spec in self.attributes.items()
        }

    def suggestions(self, name: str, *, limit: int = 3) -> list[str]:
        """The attribute names closest to ``name`` (difflib), best first; case slips first."""
        folded = [n for n in self.attributes if n.casefold() == name.casefold()]
        close = difflib.get_close_matches(name, list(self.attributes), n=limit, cutoff=0.6)
        return list(dict.fromkeys([*folded, *close]))[:limit]

    def check(
        self, names: Iterable[str], *, environment: str | None = None, what: str = "field"
    ) -> None:
        """Raise UnknownField for the first of ``names`` the table lacks (system ones pass)."""
        for name in names:
            if name in self.attributes or name in SYSTEM_ATTRIBUTES:
                continue
            hints = self.suggestions(name)
            msg = f"unknown {what} {name!r} of {self.table}"
            if hints:
                msg += f"; did you mean {hints[0]!r}?"
            raise UnknownField(
                msg, field=name, suggestions=hints, environment=environment, table=self.table
            )

    @staticmethod
    def related_table_of(entry: Mapping[str, Any]) -> str | None:
        """The target table of a catalog relation entry (``relatedDataClass``, else ``type``)."""
        kind = entry.get("kind")
        if not isinstance(kind, str) or kind not in _RELATION_KINDS:
            return None  # a mutated catalog's list or object as kind is no relation
        target = entry.get("relatedDataClass")
        if isinstance(target, str) and target:
            return target
        kind_type = entry.get("type")
        if not isinstance(kind_type, str) or not kind_type:
            return None
        if entry.get("kind") == "relatedEntities":
            for suffix in _COLLECTION_SUFFIXES:
                if kind_type.endswith(suffix) and len(kind_type) > len(suffix):
                    return kind_type[: -len(suffix)]
        return kind_type
