"""Typed access to one table: ``client.table("Artikel_Variante")``, its queries and row models.

What lives here (ADR 0029): :class:`Table` (``get``/``iter``/``frame``/``where``/
``create``/``update``/``delete`` on one table), the chainable :class:`TableQuery`, the
checks of written values against the table's 4D types, row models (pydantic, optional:
imported only when a model is used) and ``expand=``, which follows relations: 4D
``$expand`` where the reader and server inline the related entity, else batched
lookups of the distinct keys of a page (``PrimaryKey in (...)``; for a 1→N relation the
target rows whose foreign key holds the page's keys). What does not: requests,
paging and retries (the client's steps) and the wire format (``legacy_adapters.wire``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import keyword
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import attrs

from legacy_core._checks import ascii_int, describe
from legacy_core._log import get_logger
from legacy_core._paging import _Read, _Restart
from legacy_core._steps import Steps, stream
from legacy_core.errors import ConfigurationError, InvalidQuery, InvalidRow
from legacy_core.model import FieldUpdate, Page, WriteResult
from legacy_core.query import Filter, field, where_filter
from legacy_core.schema import SYSTEM_ATTRIBUTES, AttributeSpec, TableSchema

if TYPE_CHECKING:
    import pandas as pd

    from legacy_core._async import AsyncLegacyClient  # noqa: F401 - in quoted base classes
    from legacy_core.service import ClientCore, LegacyClient  # noqa: F401 - as above

__all__ = [
    "LOOKUP_BATCH",
    "AsyncTable",
    "AsyncTableQuery",
    "ModelChoice",
    "Table",
    "TableQuery",
    "check_values",
    "model_from_schema",
]

RowT = TypeVar("RowT")
SourceT = TypeVar("SourceT")
ClientT = TypeVar("ClientT", bound="ClientCore")

ModelChoice = Any
"""``None`` (rows as dicts), ``"auto"`` (a pydantic model generated from the schema) or
a pydantic ``BaseModel`` subclass written by the user."""

LOOKUP_BATCH = 100
"""Keys per ``Key in (...)`` request of the lookup fallback (keeps URLs short)."""

_log = get_logger()

# The Python values a write of each 4D type accepts (None always: 4D's null).
_INT_TYPES = frozenset({"long", "long64", "word", "byte", "integer"})
_NUMBER_TYPES = frozenset({"number", "real", "float"})
_TEXT_TYPES = frozenset({"string", "text", "uuid"})
_BOOL_TYPES = frozenset({"bool", "boolean"})
_DURATION_TYPES = frozenset({"duration", "time"})
_OBJECT_TYPES = frozenset({"object"})


def _accepts(spec: AttributeSpec, value: object) -> str | None:  # noqa: PLR0911 - one per type
    """None if ``value`` fits the 4D type of ``spec``, else what it should have been."""
    kind = spec.type
    if value is None:
        return None
    if kind in _INT_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "an int"
    if kind in _NUMBER_TYPES:
        ok = isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)
        return None if ok else "a number (int, float or Decimal)"
    if kind in _TEXT_TYPES:
        return None if isinstance(value, str) else "a str"
    if kind in _BOOL_TYPES:
        return None if isinstance(value, bool) else "a bool"
    if kind == "date":
        if spec.simple_date:
            ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
            return None if ok else "a datetime.date"
        return None if isinstance(value, dt.date) else "a datetime.date or datetime"
    if kind in _DURATION_TYPES:
        ok = isinstance(value, (dt.time, dt.timedelta, int)) and not isinstance(value, bool)
        return None if ok else "a datetime.time, timedelta or int (ms)"
    if kind in _OBJECT_TYPES:
        return None if isinstance(value, (Mapping, list, tuple)) else "a dict or list"
    return None  # blob, image, anything 4D adds later: the generic checks only


def check_values(
    schema: TableSchema,
    values: Mapping[str, Any],
    *,
    environment: str | None = None,
    key: str | None = None,
) -> None:
    """Raise InvalidRow for the first value whose Python type does not fit its 4D field.

    Names are checked first (UnknownField with did-you-mean); relations cannot be
    written here (set their foreign key field instead); system attributes are 4D's.
    """
    schema.check(values, environment=environment)
    problems: list[tuple[str, str]] = []
    for name, value in values.items():
        spec = schema.attributes.get(name)
        if name in SYSTEM_ATTRIBUTES:
            problems.append((name, f"{name} is managed by 4D and cannot be written"))
        elif spec is not None and spec.is_relation:
            hint = f"; write its foreign key {spec.foreign_key!r}" if spec.foreign_key else ""
            problems.append((name, f"{name} is a relation and cannot be written{hint}"))
        elif spec is not None:
            wanted = _accepts(spec, value)
            if wanted is not None:
                problems.append((name, f"{spec.type} field takes {wanted}, not {describe(value)}"))
    if problems:
        name, problem = problems[0]
        where = f"{schema.table}[{key}]" if key is not None else f"new {schema.table}"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        msg = f"{environment or '?'}: {where}.{name}: {problem}{more}; nothing was sent"
        raise InvalidRow(
            msg,
            field=name,
            key=key,
            problems=problems,
            environment=environment,
            table=schema.table,
        )


# --------------------------------------------------------------------------- row models


def _pydantic() -> Any:
    try:
        import pydantic  # noqa: PLC0415 - optional, imported only when a model is used
    except ImportError:
        msg = "row models need pydantic 2: pip install 'legacy-api[typed]' (or use model=None)"
        raise ConfigurationError(msg) from None
    return pydantic


_PY_TYPES: dict[str, Any] = {
    **dict.fromkeys(_INT_TYPES, int),
    **dict.fromkeys(_NUMBER_TYPES, float),
    **dict.fromkeys(_TEXT_TYPES, str),
    **dict.fromkeys(_BOOL_TYPES, bool),
    # A 4D time decodes to a time of day, or a timedelta at 24 h and beyond.
    **dict.fromkeys(_DURATION_TYPES, dt.time | dt.timedelta),
}
_MODELS: dict[TableSchema, Any] = {}


def _python_name(name: str, taken: Callable[[str], bool]) -> str:
    """A field name pydantic accepts for the 4D attribute ``name`` (the alias keeps 4D's)."""
    base = {"__KEY": "key", "__STAMP": "stamp", "__TIMESTAMP": "timestamp"}.get(name, name)
    base = base.lstrip("_") or "field"
    if keyword.iskeyword(base) or taken(base) or base.startswith("model_"):
        base += "_"
    return base


def model_from_schema(schema: TableSchema) -> Any:
    """A pydantic model of ``schema``'s rows (cached per schema); needs pydantic 2.

    Fields keep 4D's names as aliases (``key`` is ``__KEY``, ``stamp`` ``__STAMP``);
    every field is optional (4D sends nulls, and projections leave fields out). Values
    are validated strictly (no ``"12"`` for a long). A relation is ``Any``: its key, or
    the related row (a list of them for 1→N) when expanded.
    """
    cached = _MODELS.get(schema)
    if cached is not None:
        return cached
    pydantic = _pydantic()
    base = pydantic.BaseModel
    fields: dict[str, Any] = {}
    used: set[str] = set()

    def taken(candidate: str) -> bool:
        return candidate in used or hasattr(base, candidate)

    for name in ("__KEY", "__STAMP", "__TIMESTAMP", *schema.attributes):
        spec = schema.attributes.get(name)
        if name == "__KEY":
            kind: Any = str
        elif name == "__STAMP":
            kind = int
        elif name == "__TIMESTAMP":
            kind = dt.datetime
        elif spec is None or spec.is_relation:
            kind = Any
        elif spec.type == "date":
            kind = dt.date if spec.simple_date else dt.date | dt.datetime
        else:
            kind = _PY_TYPES.get(spec.type, Any)
        py = _python_name(name, taken)
        used.add(py)
        fields[py] = (kind | None, pydantic.Field(default=None, alias=name))
    config = pydantic.ConfigDict(strict=True, populate_by_name=True, extra="ignore", frozen=False)
    model = pydantic.create_model(f"{schema.table}Row", __config__=config, **fields)
    model.__doc__ = f"A row of the 4D table {schema.table} (generated from its catalog)."
    if len(_MODELS) > 256:
        _MODELS.clear()
    _MODELS[schema] = model
    return model


def _problems(exc: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = error.get("loc") or ("?",)
        out.append((str(loc[0]), str(error.get("msg", "invalid"))))
    return out


def _is_model(model: object) -> bool:
    if model is None or model == "auto":
        return False
    pydantic = _pydantic()
    return isinstance(model, type) and issubclass(model, pydantic.BaseModel)


# --------------------------------------------------------------------------- queries


@attrs.frozen
class _Chain(Generic[SourceT, RowT]):
    """The chainable part of a query: filter, order, fields, limit, relations to follow."""

    source: SourceT
    filter: Filter | None = None
    order: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    limit_to: int | None = None
    relations: tuple[str, ...] = ()

    def where(self, condition: object = None, /, **equals: Any) -> Self:
        """AND a filter (``field("Preis") > 10``), a dict of equalities or keyword equalities."""
        table = getattr(self.source, "name", None)
        combined = self.filter
        for part in (
            where_filter(condition, table=table),
            where_filter(equals or None, table=table),
        ):
            if part is not None:
                combined = part if combined is None else combined & part
        return attrs.evolve(self, filter=combined)

    def order_by(self, *fields: str) -> Self:
        """Sort by these fields (``"Nummer"``, ``"-Preis"`` or ``"Preis desc"``)."""
        return attrs.evolve(self, order=(*self.order, *fields))

    def fields(self, *names: str) -> Self:
        """Read only these fields (plus ``__KEY``/``__STAMP``/``__TIMESTAMP``)."""
        return attrs.evolve(self, columns=(*self.columns, *names))

    def limit(self, count: int) -> Self:
        """At most ``count`` rows."""
        return attrs.evolve(self, limit_to=count)

    def expand(self, *relations: str) -> Self:
        """Follow these relations: each row carries the related row(s) instead of a key."""
        return attrs.evolve(self, relations=(*self.relations, *relations))


@attrs.frozen
class TableQuery(_Chain["Table[RowT]", RowT]):
    """A read of one table, built by chaining and run by ``iter``/``frame``/``first``/``count``.

    Immutable: every step returns a new query (``t.where(a).where(b)`` ANDs them).
    """

    def iter(self) -> Iterator[RowT]:
        """The rows, one by one (model instances when the table has a model)."""
        return self.source._iter_query(self)

    def __iter__(self) -> Iterator[RowT]:
        return self.iter()

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame; expanded relations flattened to ``Relation.Field`` columns."""
        return self.source._frame_query(self)

    def first(self) -> RowT | None:
        """The first row, or None when nothing matches (the read is released at once)."""
        rows = attrs.evolve(self, limit_to=1).iter()
        try:
            return next(rows, None)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def count(self) -> int:
        """How many rows match (one small request; order, fields and expand do not matter)."""
        return self.source.client.count(
            self.source.name, self.filter, environment=self.source.environment
        )


@attrs.frozen
class AsyncTableQuery(_Chain["AsyncTable[RowT]", RowT]):
    """:class:`TableQuery` for :class:`AsyncTable`: ``async for row in query``, awaited verbs."""

    def iter(self) -> AsyncIterator[RowT]:
        """The rows, one by one (``async for``)."""
        return self.source._iter_query(self)

    def __aiter__(self) -> AsyncIterator[RowT]:
        return self.iter()

    async def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame; expanded relations flattened to ``Relation.Field`` columns."""
        return await self.source._frame_query(self)

    async def first(self) -> RowT | None:
        """The first row, or None when nothing matches (the read is released at once)."""
        rows = self.source._iter_query(attrs.evolve(self, limit_to=1))
        try:
            async for row in rows:
                return row
            return None
        finally:
            await rows.aclose()

    async def count(self) -> int:
        """How many rows match (one small request)."""
        return await self.source.client.count(
            self.source.name, self.filter, environment=self.source.environment
        )


# --------------------------------------------------------------------------- the table


def _names(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


@attrs.define
class _Steps:
    """The steps of a typed table that the sync and an async table share (ADR 0024)."""

    core: ClientCore
    name: str
    environment: str | None

    def env(self) -> str:
        return self.core.environment_name(self.environment)

    def schema(self) -> Steps[TableSchema]:
        return self.core._describe_steps(self.name, environment=self.environment)

    def plan(self, query: _Chain[Any, Any], *, relations: tuple[str, ...]) -> _Read:
        # A projection keeps the relations it expands: fields("Nummer").expand("X") has X.
        columns = (*query.columns, *(r for r in relations if r not in query.columns))
        spec = self.core._plan(
            self.name,
            where=query.filter,
            fields=columns if query.columns else None,
            order_by=query.order or None,
            limit=query.limit_to,
            skip=0,
            page_size=None,
            workers=None,
            consistent=True,
            raw=False,
            environment=self.environment,
        )
        return attrs.evolve(spec, query=attrs.evolve(spec.query, expand=relations))

    def check_relations(self, schema: TableSchema, relations: Sequence[str]) -> None:
        env = self.env()
        schema.check(relations, environment=env, what="relation")
        for name in relations:
            if not schema.attributes[name].is_relation:
                msg = f"cannot expand {name!r} of {self.name}: it is a field, not a relation"
                raise InvalidQuery(msg, environment=env, table=self.name)

    def resolve(
        self, schema: TableSchema, rows: list[dict[str, Any]], relations: Sequence[str]
    ) -> Steps[None]:
        """Put the related row(s) in place of every relation 4D left as a key (in place)."""
        for name in relations:
            spec = schema.attributes[name]
            if spec.kind == "relatedEntity":
                yield from self._resolve_one(spec, rows)
            else:
                yield from self._resolve_many(schema, spec, rows)

    def _resolve_one(self, spec: AttributeSpec, rows: list[dict[str, Any]]) -> Steps[None]:
        keys = list(dict.fromkeys(r[spec.name] for r in rows if isinstance(r.get(spec.name), str)))
        if not keys:
            return  # inlined by $expand already (or no links)
        target = self._target(spec)
        target_schema = yield from self.core._describe_call(self.env(), target)
        attribute, values = _key_filter(target_schema, keys)
        found = yield from self.lookup(target, attribute, values)
        by_key = {str(r["__KEY"]): r for r in found}
        for row in rows:
            value = row.get(spec.name)
            if isinstance(value, str):
                row[spec.name] = by_key.get(value)  # a dangling link: no related row
        _log.debug(
            "legacy_api.table.expand",
            table=self.name,
            relation=spec.name,
            keys=len(keys),
            found=len(by_key),
        )

    def _resolve_many(
        self, schema: TableSchema, spec: AttributeSpec, rows: list[dict[str, Any]]
    ) -> Steps[None]:
        todo = [r for r in rows if not isinstance(r.get(spec.name), list)]
        if not todo:
            return
        target = self._target(spec)
        target_schema = yield from self.core._describe_call(self.env(), target)
        inverse = target_schema.attributes.get(spec.inverse) if spec.inverse else None
        if inverse is None or inverse.foreign_key is None:
            msg = (
                f"cannot expand {spec.name!r} of {self.name}: the catalog names no foreign "
                f"key of {target} pointing back (inverseName/foreignKey, 4D v18+)"
            )
            raise InvalidQuery(msg, environment=self.env(), table=self.name)
        pk = schema.primary_key[0] if len(schema.primary_key) == 1 else "__KEY"
        fk = target_schema.attributes.get(inverse.foreign_key)
        numeric = fk is not None and fk.type in _INT_TYPES
        values: list[Any] = []
        for row in todo:
            value = row.get(pk, row["__KEY"])  # __KEY when a projection left the key out
            if numeric and isinstance(value, str):
                value = ascii_int(value)
            if value is not None:
                values.append(value)
        found = yield from self.lookup(target, inverse.foreign_key, list(dict.fromkeys(values)))
        groups: dict[str, list[dict[str, Any]]] = {}
        for child in found:
            parent = child.get(inverse.name)
            if isinstance(parent, Mapping):
                parent = parent.get("__KEY")
            if parent is not None:
                groups.setdefault(str(parent), []).append(child)
        for row in todo:
            row[spec.name] = groups.get(str(row["__KEY"]), [])

    def _target(self, spec: AttributeSpec) -> str:
        if not spec.related_table:
            msg = f"cannot expand {spec.name!r} of {self.name}: the catalog names no target"
            raise InvalidQuery(msg, environment=self.env(), table=self.name)
        return spec.related_table

    def lookup(self, table: str, attribute: str, values: list[Any]) -> Steps[list[dict[str, Any]]]:
        """The rows of ``table`` whose ``attribute`` is one of ``values``, in batches."""
        out: list[dict[str, Any]] = []

        def sink(item: Page | _Restart) -> None:
            if isinstance(item, _Restart):  # pragma: no cover - consistent=False never restarts
                out.clear()
            else:
                out.extend(dict(r) for r in item.records)

        for start in range(0, len(values), LOOKUP_BATCH):
            chunk = values[start : start + LOOKUP_BATCH]
            spec = self.core._plan(
                table,
                where=field(attribute).in_(chunk),
                fields=None,
                order_by=None,
                limit=None,
                skip=0,
                page_size=None,
                workers=None,
                consistent=False,  # one or two pages: no entity set needed
                raw=False,
                environment=self.environment,
            )
            yield from self.core._stream(spec, None, dedupe=False, sink=sink)
        return out


@attrs.define(repr=False)
class _TableBase(Generic[ClientT, RowT]):
    """What the sync and the async table share: the model, the checks, the steps."""

    client: ClientT
    name: str
    model: ModelChoice = None
    environment: str | None = None
    _steps: _Steps = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.model is not None and self.model != "auto" and not _is_model(self.model):
            msg = (
                f"model of {self.name} must be None, 'auto' or a pydantic BaseModel "
                f"subclass, not {describe(self.model)}"
            )
            raise ConfigurationError(msg, table=self.name)
        if self.model == "auto":
            _pydantic()  # fail now, not at the first row
        self._steps = _Steps(self.client, self.name, self.environment)

    def __repr__(self) -> str:
        model = self.model if self.model in {None, "auto"} else self.model.__name__
        env = self.client.environment_name(self.environment)
        return f"<{type(self).__name__} {self.name} {env} model={model}>"

    def _model_for(self, schema: TableSchema) -> Any:
        if self.model is None:
            return None
        if self.model == "auto":
            return model_from_schema(schema)
        return self.model

    def _spec(self, query: _Chain[Any, Any], schema: TableSchema) -> tuple[_Read, tuple[str, ...]]:
        relations = tuple(dict.fromkeys(query.relations))
        self._steps.check_relations(schema, relations)
        return self._steps.plan(query, relations=relations), relations

    def _chain(
        self,
        query: _Chain[Any, Any],
        fields: Sequence[str] | str | None,
        order_by: Sequence[str] | str | None,
        limit: int | None,
        expand: Sequence[str] | str | None,
    ) -> Any:
        return attrs.evolve(
            query,
            columns=_names(fields),
            order=_names(order_by),
            limit_to=limit,
            relations=_names(expand),
        )

    def _row(self, record: dict[str, Any], schema: TableSchema) -> RowT:
        model = self._model_for(schema)
        if model is None:
            return record  # type: ignore[return-value]
        pydantic = _pydantic()
        try:
            return model.model_validate(record)  # type: ignore[no-any-return]
        except pydantic.ValidationError as exc:
            problems = _problems(exc)
            key = record.get("__KEY")
            name, problem = problems[0]
            env = self._steps.env()
            msg = (
                f"{env}: {schema.table}[{key}].{name} read from 4D does not fit "
                f"{model.__name__}: {problem}"
            )
            raise InvalidRow(
                msg,
                field=name,
                key=None if key is None else str(key),
                problems=problems,
                environment=env,
                table=schema.table,
                not_applied=False,
            ) from None

    def _outgoing(
        self, values: Any, schema: TableSchema, *, key: str | None, partial: bool
    ) -> dict[str, Any]:
        """The values to send, validated by the model or checked against the 4D types."""
        env = self._steps.env()
        model = self._model_for(schema)
        if model is not None:
            row = self._through_model(model, values, schema, key=key, partial=partial)
        elif isinstance(values, Mapping):
            row = dict(values)
        else:
            msg = f"values for {self.name} must be a mapping, not {describe(values)}"
            raise InvalidQuery(msg, environment=env, table=self.name, not_applied=True)
        check_values(schema, row, environment=env, key=key)
        return row

    def _update(self, key: str | int, values: Any, schema: TableSchema, stamp: int | None) -> Any:
        key_text = self.client._key(self.name, key)
        row = self._outgoing(values, schema, key=key_text, partial=True)
        return FieldUpdate(self.name, key_text, row, stamp, self._steps.env())

    def _through_model(
        self, model: Any, values: Any, schema: TableSchema, *, key: str | None, partial: bool
    ) -> dict[str, Any]:
        pydantic = _pydantic()
        env = self._steps.env()
        try:
            if isinstance(values, model):
                data = values.model_dump(by_alias=True, exclude_unset=True)
            elif not isinstance(values, Mapping):
                msg = f"values for {self.name} must be a mapping or {model.__name__}"
                raise InvalidQuery(msg, environment=env, table=self.name, not_applied=True)
            elif partial:
                # Only the given fields: validate each as an assignment (runs validators).
                blank = model.model_construct()
                for name, value in values.items():
                    attr = _attribute_name(model, name)
                    model.__pydantic_validator__.validate_assignment(blank, attr, value)
                data = {
                    _alias(model, name): getattr(blank, _attribute_name(model, name))
                    for name in values
                }
            else:
                data = model.model_validate(dict(values)).model_dump(
                    by_alias=True, exclude_unset=True
                )
        except pydantic.ValidationError as exc:
            problems = [(_alias(model, f), m) for f, m in _problems(exc)]
            name, problem = problems[0]
            where = f"{schema.table}[{key}]" if key is not None else f"new {schema.table}"
            msg = f"{env}: {where}.{name}: {problem}; nothing was sent"
            raise InvalidRow(
                msg, field=name, key=key, problems=problems, environment=env, table=schema.table
            ) from None
        return {k: v for k, v in data.items() if k not in SYSTEM_ATTRIBUTES}


@attrs.define(repr=False)
class Table(_TableBase["LegacyClient", RowT]):
    """One table of one environment, read and written with typed rows.

    Rows are dicts (no model; written values are checked against the 4D types) or
    instances of a pydantic model (``model="auto"`` generates one from the schema, or
    pass your own ``BaseModel`` subclass); a model validates every row read and every
    value written. Built by ``client.table(name, model=...)``.
    """

    # -- reads ---------------------------------------------------------------------------

    def schema(self) -> TableSchema:
        """The table's schema (``client.describe``; cached for ``schema_ttl``)."""
        return self.client._run(self._steps.schema())

    def row_model(self) -> Any:
        """The pydantic model rows are validated with (None without a model)."""
        return None if self.model is None else self._model_for(self.schema())

    def query(self) -> TableQuery[RowT]:
        """An empty query on this table (everything, in server order)."""
        return TableQuery(self)

    def where(self, condition: object = None, /, **equals: Any) -> TableQuery[RowT]:
        """A query of the rows matching a filter, a dict or keyword equalities."""
        return self.query().where(condition, **equals)

    def iter(
        self,
        *,
        where: object = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        expand: Sequence[str] | str | None = None,
    ) -> Iterator[RowT]:
        """The rows, one by one; ``expand`` follows relations (see the module docstring)."""
        query: TableQuery[RowT] = self._chain(self.where(where), fields, order_by, limit, expand)
        return query.iter()

    def frame(
        self,
        *,
        where: object = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        expand: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """The rows as a DataFrame (``fetch_frame``'s without ``expand``)."""
        query: TableQuery[RowT] = self._chain(self.where(where), fields, order_by, limit, expand)
        return query.frame()

    def get(self, key: str | int, *, expand: Sequence[str] | str | None = None) -> RowT:
        """One row by ``__KEY``; RecordNotFound if there is none."""
        relations = _names(expand)
        schema = self.schema()
        self._steps.check_relations(schema, relations)
        steps = self.client._get_record_steps(
            self.name, key, raw=False, environment=self.environment
        )
        record = dict(self.client._run(steps))
        if relations:
            self.client._run(self._steps.resolve(schema, [record], relations))
        return self._row(record, schema)

    def count(self, where: object = None) -> int:
        """How many rows match ``where``."""
        return self.client.count(self.name, where_filter(where), environment=self.environment)

    # -- writes --------------------------------------------------------------------------

    def create(self, values: Mapping[str, Any] | Any) -> WriteResult:
        """Create one row (a mapping or a model instance); checked before anything is sent."""
        row = self._outgoing(values, self.schema(), key=None, partial=False)
        return self.client.create(self.name, row, environment=self.environment)

    def update(
        self,
        key: str | int,
        values: Mapping[str, Any] | Any,
        *,
        expected_stamp: int | None = None,
    ) -> WriteResult:
        """Set some fields of one row; with ``expected_stamp`` only if it is unchanged."""
        update = self._update(key, values, self.schema(), expected_stamp)
        return self.client.update_many([update], environment=self.environment)[0]

    def delete(self, key: str | int, *, expected_stamp: int | None = None) -> None:
        """Delete one row by ``__KEY``; with ``expected_stamp`` only if it is unchanged."""
        self.client.delete(
            self.name, key, expected_stamp=expected_stamp, environment=self.environment
        )

    # -- internals -----------------------------------------------------------------------

    def _pages(self, query: TableQuery[Any]) -> Iterator[tuple[TableSchema, list[dict[str, Any]]]]:
        schema = self.schema()
        spec, relations = self._spec(query, schema)
        pages = stream(self._steps.core._stream(spec, None, dedupe=True), self.client.clock)
        for item in pages:
            if isinstance(item, _Restart):  # pragma: no cover - dedupe never restarts
                continue
            rows = [dict(r) for r in item.records]
            if relations:
                self.client._run(self._steps.resolve(schema, rows, relations))
            yield schema, rows

    def _iter_query(self, query: TableQuery[RowT]) -> Iterator[RowT]:
        for schema, rows in self._pages(query):
            for row in rows:
                yield self._row(row, schema)

    def _frame_query(self, query: TableQuery[RowT]) -> pd.DataFrame:
        if not query.relations:
            return self.client.fetch_frame(
                self.name,
                where=query.filter,
                fields=query.columns or None,
                order_by=query.order or None,
                limit=query.limit_to,
                environment=self.environment,
            )
        import pandas as pd  # noqa: PLC0415 - on use

        flat = [_flatten(row, query.relations) for _s, rows in self._pages(query) for row in rows]
        return pd.DataFrame(flat)


@attrs.define(repr=False)
class AsyncTable(_TableBase["AsyncLegacyClient", RowT]):
    """:class:`Table` for :class:`~legacy_core._async.AsyncLegacyClient`: the same verbs, awaited.

    Built by ``async_client.table(name, model=...)``; the same steps as the sync table
    (reads, lookups, checks), driven on the event loop.
    """

    async def schema(self) -> TableSchema:
        """The table's schema (``describe``; cached for ``schema_ttl``)."""
        return await self.client.driver.run(self._steps.schema())

    async def row_model(self) -> Any:
        """The pydantic model rows are validated with (None without a model)."""
        return None if self.model is None else self._model_for(await self.schema())

    def query(self) -> AsyncTableQuery[RowT]:
        """An empty query on this table."""
        return AsyncTableQuery(self)

    def where(self, condition: object = None, /, **equals: Any) -> AsyncTableQuery[RowT]:
        """A query of the rows matching a filter, a dict or keyword equalities."""
        return self.query().where(condition, **equals)

    def iter(
        self,
        *,
        where: object = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        expand: Sequence[str] | str | None = None,
    ) -> AsyncIterator[RowT]:
        """The rows, one by one (``async for``); ``expand`` follows relations."""
        query: AsyncTableQuery[RowT] = self._chain(
            self.where(where), fields, order_by, limit, expand
        )
        return query.iter()

    async def frame(
        self,
        *,
        where: object = None,
        fields: Sequence[str] | str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int | None = None,
        expand: Sequence[str] | str | None = None,
    ) -> pd.DataFrame:
        """The rows as a DataFrame (``fetch_frame``'s without ``expand``)."""
        query: AsyncTableQuery[RowT] = self._chain(
            self.where(where), fields, order_by, limit, expand
        )
        return await query.frame()

    async def get(self, key: str | int, *, expand: Sequence[str] | str | None = None) -> RowT:
        """One row by ``__KEY``; RecordNotFound if there is none."""
        relations = _names(expand)
        schema = await self.schema()
        self._steps.check_relations(schema, relations)
        steps = self.client._get_record_steps(
            self.name, key, raw=False, environment=self.environment
        )
        record = dict(await self.client.driver.run(steps))
        if relations:
            await self.client.driver.run(self._steps.resolve(schema, [record], relations))
        return self._row(record, schema)

    async def count(self, where: object = None) -> int:
        """How many rows match ``where``."""
        return await self.client.count(self.name, where_filter(where), environment=self.environment)

    async def create(self, values: Mapping[str, Any] | Any) -> WriteResult:
        """Create one row; checked before anything is sent."""
        row = self._outgoing(values, await self.schema(), key=None, partial=False)
        return await self.client.create(self.name, row, environment=self.environment)

    async def update(
        self,
        key: str | int,
        values: Mapping[str, Any] | Any,
        *,
        expected_stamp: int | None = None,
    ) -> WriteResult:
        """Set some fields of one row; with ``expected_stamp`` only if it is unchanged."""
        update = self._update(key, values, await self.schema(), expected_stamp)
        results = await self.client.update_many([update], environment=self.environment)
        return results[0]

    async def delete(self, key: str | int, *, expected_stamp: int | None = None) -> None:
        """Delete one row by ``__KEY``; with ``expected_stamp`` only if it is unchanged."""
        await self.client.delete(
            self.name, key, expected_stamp=expected_stamp, environment=self.environment
        )

    async def _iter_query(self, query: AsyncTableQuery[RowT]) -> AsyncGenerator[RowT, None]:
        schema = await self.schema()
        spec, relations = self._spec(query, schema)
        pages = self.client.driver.stream(self._steps.core._stream(spec, None, dedupe=True))
        try:
            async for item in pages:
                if isinstance(item, _Restart):  # pragma: no cover - dedupe never restarts
                    continue
                rows = [dict(r) for r in item.records]
                if relations:
                    await self.client.driver.run(self._steps.resolve(schema, rows, relations))
                for row in rows:
                    yield self._row(row, schema)
        finally:
            await pages.aclose()

    async def _frame_query(self, query: AsyncTableQuery[RowT]) -> pd.DataFrame:
        if not query.relations:
            return await self.client.fetch_frame(
                self.name,
                where=query.filter,
                fields=query.columns or None,
                order_by=query.order or None,
                limit=query.limit_to,
                environment=self.environment,
            )
        import pandas as pd  # noqa: PLC0415 - on use

        rows = self._iter_query(query)
        flat: list[dict[str, Any]] = []
        async for row in rows:
            flat.append(_flatten(row, query.relations))  # type: ignore[arg-type]
        return pd.DataFrame(flat)


def _key_filter(schema: TableSchema, keys: list[str]) -> tuple[str, list[Any]]:
    """The attribute and values that select the entities with these ``__KEY``s.

    4D documents queries on attributes, so a single primary key is queried by its name
    (``UID in (...)``; a numeric key with its keys as numbers); ``__KEY`` is the fallback.
    """
    pk = schema.primary_key[0] if len(schema.primary_key) == 1 else None
    spec = schema.attributes.get(pk) if pk else None
    if pk is None or spec is None or not spec.is_storage:
        return "__KEY", list(keys)
    if spec.type in _INT_TYPES:
        numbers = [ascii_int(k) for k in keys]
        if all(n is not None for n in numbers):
            return pk, numbers
        return "__KEY", list(keys)
    return pk, list(keys)


def _attribute_name(model: Any, name: str) -> str:
    """The model's attribute for a 4D name or alias (``__KEY`` -> ``key``)."""
    for attr, info in model.model_fields.items():
        if name in {attr, info.alias}:
            return str(attr)
    return name


def _alias(model: Any, name: str) -> str:
    """The 4D name (alias) of a model attribute, or ``name`` itself."""
    info = model.model_fields.get(name)
    return str(info.alias) if info is not None and info.alias else name


def _flatten(row: Mapping[str, Any], relations: Iterable[str]) -> dict[str, Any]:
    out = dict(row)
    for name in relations:
        value = out.get(name)
        if isinstance(value, Mapping):
            del out[name]
            for k, v in value.items():
                out[f"{name}.{k}"] = v
    return out
