"""RecordedTables: a TableReader/FieldWriter over the rows a cassette or JSON fixture holds.

For unit tests of pyERP code that should see realistic data without a cassette per
query: every entity seen in recorded responses (per environment and table, the highest
``__STAMP`` wins field by field) is loaded into the in-memory adapter, which evaluates
any query on them and applies writes in memory. What does not live here: the filter
semantics (``legacy_adapters.memory``) and the cassette format (``_cassette.py``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs

from legacy_adapters.memory import FOURD_TYPES, MemoryBackend, MemoryTable
from legacy_adapters.recorded._cassette import Cassette
from legacy_adapters.recorded._scrub import restore_placeholders
from legacy_adapters.wire import is_wire_date
from legacy_core._log import get_logger
from legacy_core.errors import ConfigurationError
from legacy_core.model import FieldUpdate, Page, Query, Record, WriteResult
from legacy_core.ports import Clock
from legacy_core.schema import TableSchema

__all__ = ["RecordedTables", "infer_type"]

_log = get_logger()

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_TABLE_PATH = re.compile(r"^/rest/([A-Za-z_][A-Za-z0-9_]*)(?:[(\[/]|$)")
_KEEP_MANAGED = frozenset({"__KEY", "__STAMP", "__TIMESTAMP"})


def infer_type(values: Iterable[Any]) -> str:
    """Infer a 4D catalog type from wire values: the first non-null one decides.

    ``"D!M!YYYY"`` strings are dates, ints longs, floats numbers, bools bools, dicts and
    lists objects, anything else (and all-null) strings.
    """
    value = next((v for v in values if v is not None), None)
    # bool before int: True is an int in Python, a bool in 4D.
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "bool"),
        (int, "long"),
        (float, "number"),
        ((dict, list), "object"),
    )
    for python_type, kind in kinds:
        if isinstance(value, python_type):
            return kind
    if is_wire_date(value):
        return "date"
    return "string"


@attrs.define
class _Collected:
    """Rows and catalog types gathered for one environment."""

    rows: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)
    types: dict[str, dict[str, str]] = attrs.field(factory=dict)

    def add_row(self, table: str, row: Mapping[str, Any]) -> None:
        key = row.get("__KEY")
        if key is None or not _IDENTIFIER.match(table):
            return
        listed = self.types.get(table, {})
        clean = {
            k: v
            for k, v in row.items()
            if (k in _KEEP_MANAGED or not k.startswith("__"))
            and _IDENTIFIER.match(k)
            # An update answer's "uri" names the entity; it is no attribute of the table.
            and not (k == "uri" and k not in listed and isinstance(v, str))
        }
        clean["__KEY"] = str(key)
        rows = self.rows.setdefault(table, {})
        old = rows.get(str(key))
        if old is None:
            rows[str(key)] = clean
            return
        # A projected read carries some fields only: merge, the newer stamp winning.
        if _stamp(clean) >= _stamp(old):
            rows[str(key)] = {**old, **clean}
        else:
            rows[str(key)] = {**clean, **old}

    def add_catalog(self, body: Mapping[str, Any]) -> None:
        classes = body.get("dataClasses")
        entries = classes if isinstance(classes, list) else [body]
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("attributes"), list):
                continue
            types = self.types.setdefault(str(entry.get("name")), {})
            for attribute in entry["attributes"]:
                if isinstance(attribute, dict) and "name" in attribute:
                    kind = str(attribute.get("type", ""))
                    # Relations report the related table as their type: they are objects here.
                    types[str(attribute["name"])] = kind if kind in FOURD_TYPES else "object"

    def add_body(self, body: Any, path_table: str | None) -> None:
        if not isinstance(body, dict) or "__ERROR" in body:
            return
        status = body.get("__STATUS")
        if isinstance(status, dict) and status.get("success") is False:
            return
        if "dataClasses" in body or (path_table is None and "attributes" in body):
            self.add_catalog(body)
            return
        table = body.get("__entityModel") or body.get("__DATACLASS") or path_table
        if not isinstance(table, str):
            return
        entities = body.get("__ENTITIES")
        if isinstance(entities, list):
            for entity in entities:
                if isinstance(entity, dict):
                    self.add_row(str(entity.get("__entityModel") or table), entity)
        elif "__KEY" in body:
            self.add_row(table, body)

    def tables(self) -> list[MemoryTable]:
        out = []
        for name, rows in sorted(self.rows.items()):
            catalog = self.types.get(name, {})
            names: dict[str, None] = dict.fromkeys(catalog)
            for row in rows.values():
                names.update(dict.fromkeys(row))
            attributes = {
                n: catalog.get(n) or infer_type(r.get(n) for r in rows.values())
                for n in names
                if n not in _KEEP_MANAGED
            }
            out.append(MemoryTable(name, attributes, list(rows.values())))
        return out


def _stamp(row: Mapping[str, Any]) -> int:
    value = row.get("__STAMP")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _path_table(path: str) -> str | None:
    m = _TABLE_PATH.match(unquote(path))
    if m is None or m.group(1).startswith("$"):
        return None
    return m.group(1)


@attrs.define
class RecordedTables:
    """A TableReader and FieldWriter answering any query from recorded rows, in memory.

    Build it with :meth:`from_cassette` or :meth:`from_json`; queries it never saw are
    evaluated on the rows (4D semantics of ``legacy_adapters.memory``) and writes change
    only this instance. ``backend`` is the underlying :class:`MemoryBackend`.
    """

    backend: MemoryBackend

    @classmethod
    def from_cassette(
        cls,
        cassette: Cassette | str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        default_environment: str = "live",
    ) -> RecordedTables:
        """Load every entity of every successful recorded response (and ``$catalog`` types)."""
        if not isinstance(cassette, Cassette):
            cassette = Cassette.load(cassette)
        collected: dict[str, _Collected] = {}
        for interaction in cassette.snapshot():
            response = interaction.response
            if response is None or response.body is None or response.body.kind != "json":
                continue
            if not 200 <= response.status < 300:
                continue
            request = interaction.request
            env = collected.setdefault(request.environment, _Collected())
            body = response.body.map_strings(restore_placeholders).value
            env.add_body(body, _path_table(request.path))
        return cls._build(collected, clock, default_environment)

    @classmethod
    def from_json(
        cls,
        *sources: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        environment: str = "live",
        catalog: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> RecordedTables:
        """Load 4D collection envelopes (``{"__entityModel": ..., "__ENTITIES": [...]}``).

        A source is a file path or an already decoded envelope, or a list of them; a
        file without ``__entityModel`` takes its table name from the file stem.
        ``catalog`` is an optional ``$catalog/$all`` answer for the attribute types.
        """
        env = _Collected()
        if catalog is not None:
            env.add_catalog(_read_json(catalog))
        for source in sources:
            stem = Path(source).stem if isinstance(source, (str, os.PathLike)) else None
            doc = _read_json(source)
            for envelope in doc if isinstance(doc, list) else [doc]:
                if not isinstance(envelope, dict):
                    msg = f"fixture {stem or '<mapping>'}: expected a 4D collection envelope"
                    raise ConfigurationError(msg)
                env.add_body(envelope, stem)
        return cls._build({environment: env}, clock, environment)

    @classmethod
    def _build(
        cls, collected: Mapping[str, _Collected], clock: Clock | None, default_environment: str
    ) -> RecordedTables:
        backend = MemoryBackend(clock=clock, default_environment=default_environment)
        for environment, env in collected.items():
            for table in env.tables():
                backend.add_table(environment, table)
                _log.debug(
                    "legacy_api.recorded.table",
                    environment=environment,
                    table=table.name,
                    rows=len(table.rows),
                )
        return cls(backend)

    def tables(self, environment: str) -> list[str]:
        """List the recorded tables of ``environment``."""
        return self.backend.tables(environment)

    def read_page(self, query: Query) -> Page:
        """Evaluate ``query`` on the recorded rows."""
        return self.backend.read_page(query)

    def get_record(self, environment: str, table: str, key: str, *, typed: bool = False) -> Record:
        """Return the recorded entity with ``__KEY`` ``key``; RecordNotFound if none."""
        return self.backend.get_record(environment, table, key, typed=typed)

    def open_snapshot(self, query: Query, timeout: float) -> Page:
        """Fix the selection of ``query`` as a snapshot and return its first page."""
        return self.backend.open_snapshot(query, timeout)

    def release_snapshot(self, environment: str, table: str, entity_set: str) -> None:
        """Release a snapshot (unknown ones are ignored)."""
        self.backend.release_snapshot(environment, table, entity_set)

    def write(self, updates: Sequence[FieldUpdate], *, atomic: bool = False) -> list[WriteResult]:
        """Apply ``updates`` to the in-memory rows (stamps checked and raised as on 4D)."""
        return self.backend.write(updates, atomic=atomic)

    def create(self, environment: str, table: str, values: Record) -> WriteResult:
        """Create an entity in memory."""
        return self.backend.create(environment, table, values)

    def create_many(
        self, environment: str, table: str, rows: Sequence[Record]
    ) -> list[WriteResult]:
        """Create entities in memory, in order (PartialWrite when some fail)."""
        return self.backend.create_many(environment, table, rows)

    def delete(
        self, environment: str, table: str, key: str, *, expected_stamp: int | None = None
    ) -> None:
        """Delete a recorded entity in memory (stamp checked as on 4D)."""
        self.backend.delete(environment, table, key, expected_stamp=expected_stamp)

    def describe(self, environment: str, table: str) -> TableSchema:
        """The schema of a recorded table (from its catalog when recorded, else inferred)."""
        return self.backend.describe(environment, table)

    def __repr__(self) -> str:
        return f"<RecordedTables {self.backend.default_environment}>"


def _read_json(source: str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any]) -> Any:
    if isinstance(source, (str, os.PathLike)):
        try:
            return json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read JSON fixture {source}: {exc}"
            raise ConfigurationError(msg) from None
    return source
