"""The TableReader contract: a canonical dataset, the fixtures adapters override, and the tests.

Every TableReader (the in-memory adapter, the 4D adapter against the emulator, the
recorded fake) passes these tests by loading :data:`CONTRACT_TABLES` into its backend and
overriding the fixtures of :class:`ContractFixtures`. The expected answers are written
out by hand from ADR 0004, never computed, so the contract pins 4D semantics down.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
import pytest

from legacy_core.errors import EntitySetExpired, InvalidQuery, RecordNotFound, UnknownTable
from legacy_core.model import Page, Query
from legacy_core.ports import FieldWriter, SchemaReader, TableReader
from legacy_core.query import Comparison, Filter, Raw, field, render

__all__ = [
    "ARTIKEL",
    "CONTRACT_TABLES",
    "FAMILY_A",
    "LAGER",
    "MANAGED_ATTRIBUTES",
    "ContractFixtures",
    "ContractTable",
    "TableLoader",
    "TableReaderContract",
    "artikel_key",
    "artikel_row",
    "load_contract_tables",
]

ARTIKEL = "Artikel_Variante"
LAGER = "Lager_Bewegung"
MANAGED_ATTRIBUTES = frozenset({"__KEY", "__STAMP", "__TIMESTAMP"})
"""4D sends these with every entity, whatever ``$attributes`` asks for."""


@attrs.frozen
class ContractTable:
    """A table of the canonical dataset: 4D catalog types and the rows as 4D sends them."""

    name: str
    attributes: Mapping[str, str]
    rows: tuple[Mapping[str, Any], ...]


def artikel_key(nummer: int) -> str:
    """The ``__KEY`` of the Artikel_Variante row with ``Nummer`` (a 32-hex UUID, as on 4D)."""
    return hashlib.sha256(f"{ARTIKEL}:{nummer}".encode()).hexdigest()[:32].upper()


FAMILY_A = "7464FEB39C516942B01E62F44B1ED454"
_FAMILY = {
    "A": FAMILY_A,
    "B": "0B5E3C2A9D1F4E6A8B7C6D5E4F3A2B1C",
    "C": "C0FFEE00C0FFEE00C0FFEE00C0FFEE00",
    "D": "D00D0000000000000000000000000001",
    "E": "00000000000000000000000000000000",  # the "null" UUID is a value, not a missing one
    None: None,
}

# Nummer, Bezeichnung, Preis, Bestand, created_date, Aktiv, Familie_ (A-E or None)
_ARTIKEL_ROWS: tuple[tuple[Any, ...], ...] = (
    (1001, "Engel klein", 19.9, 12, "27!1!2025", True, "A"),
    (1002, "Engel groß", 29.9, 0, "28!1!2025", True, "A"),
    (1003, "engel mini", 9.5, 5, "0!0!0", False, "A"),
    (1004, "ENGEL XXL", 99, None, None, True, "A"),
    (1005, "Stern@Home", 15, 3, "1!2!2025", True, "B"),
    (1006, "Stern", 12.5, 7, "31!12!2024", False, "B"),
    (1007, 'Kerze "Rot"', 4.2, 100, "15!3!2025", True, "C"),
    (1008, "O'Reilly Buch", 39.5, 1, "2!2!2025", True, "C"),
    (1009, "Müller Öl", 7.77, 20, "27!1!2025", True, "C"),
    (1010, "Straße & Weg", 3, 0, "5!6!2023", False, "D"),
    (1011, "Ärmelschoner", 18, 2, "10!10!2024", True, "D"),
    (1012, "Back\\Slash", 1.25, 9, "0!0!0", True, "D"),
    (1013, None, 0, 0, "1!1!2025", False, "D"),
    (1014, "Kugel 100%", 2.5, 50, "26!1!2025", True, "E"),
    (1015, "Kugel (rund)", 2.75, 40, "29!1!2025", True, "E"),
    (1016, "Zahnrad", -5, -1, "1!2!2025", None, "E"),
    (1017, "zebra", 100.0, 3, "12!12!2012", True, "E"),
    (1018, "Ähre", 8, 8, "3!3!2025", True, None),
    (1019, "Info@Shop", 0.5, 6, "4!4!2024", False, None),
    (1020, "Apfel", 1, 1, "27!1!2025", True, "A"),
    (1021, "apfel", 1.0, 2, "27!1!2025", True, "A"),
    (1022, "", 11, 11, "20!2!2025", True, "B"),
    (1023, "Zeile1\nZeile2", 6, 6, "21!2!2025", True, "B"),
    (1024, "Nummer 1024", 24, 24, "22!2!2025", False, "B"),
    (1025, "Schraube M4", 0.05, 1000, "31!1!2025", True, "C"),
)
_PREISE: Mapping[int, Any] = {
    1001: {"Coll": [{"Art": "Laden", "Preis": 19.9, "VE": 1}]},
    1005: {"values": [1, 2, 3], "geerbt": True},
}


def _artikel() -> ContractTable:
    rows = []
    for index, (nummer, name, preis, bestand, date, aktiv, family) in enumerate(_ARTIKEL_ROWS):
        rows.append(
            {
                "__KEY": artikel_key(nummer),
                "__STAMP": 1 + index % 4,
                "__TIMESTAMP": f"2025-01-{1 + index:02d}T08:30:00.000Z",
                "Nummer": nummer,
                "Bezeichnung": name,
                "Preis": preis,
                "Bestand": bestand,
                "created_date": date,
                "Aktiv": aktiv,
                "Familie_": _FAMILY[family],
                "Preise": _PREISE.get(nummer),
            }
        )
    attributes = {
        "__KEY": "string",
        "__STAMP": "long",
        "__TIMESTAMP": "string",
        "Nummer": "long",
        "Bezeichnung": "string",
        "Preis": "number",
        "Bestand": "long",
        "created_date": "date",
        "Aktiv": "bool",
        "Familie_": "string",
        "Preise": "object",
    }
    return ContractTable(ARTIKEL, attributes, tuple(rows))


def _lager() -> ContractTable:
    # 130 rows: more than 4D's default page of 100, with numeric-string keys.
    rows = tuple(
        {
            "__KEY": str(n),
            "__STAMP": 1,
            "__TIMESTAMP": "2025-02-01T00:00:00.000Z",
            "Nummer": n,
            "Menge": (n * 7) % 50,
            "Datum": f"{1 + n % 28}!{1 + n % 12}!2024",
            "Lager": "Nord" if n % 2 else "Süd",
        }
        for n in range(1, 131)
    )
    attributes = {
        "__KEY": "string",
        "__STAMP": "long",
        "__TIMESTAMP": "string",
        "Nummer": "long",
        "Menge": "long",
        "Datum": "date",
        "Lager": "string",
    }
    return ContractTable(LAGER, attributes, rows)


CONTRACT_TABLES: tuple[ContractTable, ...] = (_artikel(), _lager())
"""The canonical dataset every adapter's fixtures load (fresh for every test)."""


class TableLoader(Protocol):
    """What takes whole tables by name, like ``fourd_emulator.Emulator.add_table``."""

    def add_table(
        self, name: str, attributes: Mapping[str, str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Load (or replace) table ``name`` with ``rows``."""


def load_contract_tables(target: TableLoader) -> None:
    """Load (or reload) every table of :data:`CONTRACT_TABLES` into ``target``."""
    for table in CONTRACT_TABLES:
        target.add_table(table.name, table.attributes, [dict(r) for r in table.rows])


def artikel_row(nummer: int) -> Mapping[str, Any]:
    """The canonical wire row of Artikel_Variante ``nummer``."""
    return next(r for r in CONTRACT_TABLES[0].rows if r["Nummer"] == nummer)


class ContractFixtures:
    """The fixtures a contract reaches the adapter through; only ``reader`` is required.

    ``reader`` must serve :data:`CONTRACT_TABLES` in ``contract_env`` (``"live"`` by
    default), loaded fresh for every test (writes must not leak from one test into the
    next). The others have defaults an adapter overrides when it differs: ``writer`` is the
    reader itself when it is a FieldWriter, no default page size is promised, ``Raw``
    filters are not evaluated, and time passes by really sleeping.
    """

    @pytest.fixture
    def contract_env(self) -> str:
        """The environment name the dataset is loaded in."""
        return "live"

    @pytest.fixture
    def reader(self) -> TableReader:
        """A TableReader serving CONTRACT_TABLES in contract_env."""
        raise NotImplementedError("override reader in the adapter's fixtures")

    @pytest.fixture
    def writer(self, reader: TableReader) -> FieldWriter:
        """A FieldWriter on the same data as ``reader`` (by default the reader itself)."""
        if not isinstance(reader, FieldWriter):
            msg = f"{type(reader).__name__} is no FieldWriter: override the writer fixture"
            raise NotImplementedError(msg)
        return reader

    @pytest.fixture
    def default_page_size(self) -> int | None:
        """Capability: the page size without ``top`` (4D: 100), or None if not promised."""
        return None

    @pytest.fixture
    def raw_filters(self) -> bool:
        """Capability: whether the adapter evaluates ``Raw`` filter text."""
        return False

    @pytest.fixture
    def advance_time(self) -> Callable[[float], None]:
        """Move the adapter's clock forward by some seconds (default: really sleep)."""
        return time.sleep


def nummern(page: Page) -> list[int]:
    """The ``Nummer`` of every record of ``page``, in order."""
    return [int(r["Nummer"]) for r in page.records]


ALL_ARTIKEL = frozenset(range(1001, 1026))
INACTIVE = field("Aktiv") == False  # noqa: E712 - builds a filter, not a comparison
"""The six rows with ``Aktiv`` false: 1003, 1006, 1010, 1013, 1019, 1024."""


class TableReaderContract(ContractFixtures):
    """What every TableReader must do; mix into a test class with the adapter's fixtures."""

    def select(
        self,
        reader: TableReader,
        env: str,
        flt: Filter | None,
        *,
        table: str = ARTIKEL,
        order_by: Sequence[str] = (),
    ) -> set[int]:
        """Run ``flt`` on ``table`` and return the selected ``Nummer`` values."""
        page = reader.read_page(Query(env, table, filter=flt, order_by=tuple(order_by), top=1000))
        assert len(page.records) == page.count
        return set(nummern(page))

    # -- paging --------------------------------------------------------------------------

    def test_first_page_window(self, reader: TableReader, contract_env: str) -> None:
        """A page reports the whole selection's size, its first index and how many it sent."""
        page = reader.read_page(Query(contract_env, LAGER, order_by="Nummer", top=50))
        assert (130, 0, 50) == (page.count, page.first, page.sent)
        assert list(range(1, 51)) == nummern(page)

    def test_last_page_is_short(self, reader: TableReader, contract_env: str) -> None:
        """The last page holds only what is left of the selection."""
        page = reader.read_page(Query(contract_env, LAGER, order_by="Nummer", top=50, skip=100))
        assert (130, 100, 30) == (page.count, page.first, page.sent)
        assert list(range(101, 131)) == nummern(page)

    @pytest.mark.parametrize("skip", [130, 131, 10_000])
    def test_skip_beyond_end(self, reader: TableReader, contract_env: str, skip: int) -> None:
        """Skipping past the end gives an empty page that still counts the whole selection."""
        page = reader.read_page(Query(contract_env, LAGER, order_by="Nummer", top=10, skip=skip))
        assert (130, skip, 0, []) == (page.count, page.first, page.sent, list(page.records))

    def test_pages_cover_selection_once(self, reader: TableReader, contract_env: str) -> None:
        """Paging with top/skip returns every entity exactly once, in order."""
        seen: list[int] = []
        for skip in range(0, 130, 40):
            page = reader.read_page(
                Query(contract_env, LAGER, order_by="Nummer", top=40, skip=skip)
            )
            seen += nummern(page)
        assert list(range(1, 131)) == seen

    def test_count_is_of_filtered_selection(self, reader: TableReader, contract_env: str) -> None:
        """``count`` is the size of the filtered selection, not of the table."""
        query = Query(contract_env, LAGER, filter=field("Nummer") > 120, order_by="Nummer", top=5)
        page = reader.read_page(query)
        assert (10, 5) == (page.count, page.sent)
        assert [121, 122, 123, 124, 125] == nummern(page)

    def test_default_page_size(
        self, reader: TableReader, contract_env: str, default_page_size: int | None
    ) -> None:
        """Without ``top`` a page holds the adapter's declared default (4D sends 100)."""
        page = reader.read_page(Query(contract_env, LAGER, order_by="Nummer"))
        assert (130, 0) == (page.count, page.first)
        if default_page_size is not None:
            assert min(default_page_size, 130) == page.sent
        assert list(range(1, page.sent + 1)) == nummern(page)

    # -- filters -------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("Nummer") == 1008, {1008}),
            (field("Nummer") == "1008", {1008}),
            (field("Nummer") != 1008, ALL_ARTIKEL - {1008}),
            (field("Nummer") < 1003, {1001, 1002}),
            (field("Nummer") <= 1003, {1001, 1002, 1003}),
            (field("Nummer") > 1023, {1024, 1025}),
            (field("Nummer") >= 1024, {1024, 1025}),
            (field("Preis") > 39.5, {1004, 1017}),
            (field("Preis") >= 39.5, {1004, 1008, 1017}),
            (field("Preis") == 1, {1020, 1021}),
            (field("Preis") < 0, {1016}),
            (field("Bestand") <= -1, {1016}),
        ],
        ids=repr,
    )
    def test_numbers(
        self, reader: TableReader, contract_env: str, flt: Filter, expected: set[int]
    ) -> None:
        """Numbers compare numerically; ints and floats mix; numeric text is a number."""
        assert expected == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("Bezeichnung") == "engel klein", {1001}),
            (field("Bezeichnung") == "APFEL", {1020, 1021}),
            (field("Bezeichnung") == "müller ÖL", {1009}),
            (field("Bezeichnung") == "", {1022}),
            (field("Bezeichnung") != "Stern", ALL_ARTIKEL - {1006}),
            (field("Bezeichnung").begins("engel"), {1001, 1002, 1003, 1004}),
            (field("Bezeichnung").begins("ä"), {1011, 1018}),
            (field("Bezeichnung").like("Kugel@"), {1014, 1015}),
            (field("Bezeichnung").like("@buch"), {1008}),
            (field("Bezeichnung").like("s@n"), {1006}),
            (Comparison("Bezeichnung", "=", "Stern@"), {1005, 1006}),
            (field("Bezeichnung") == "Stern@Home", {1005}),
            (field("Bezeichnung") == "stern@", set()),
            (field("Bezeichnung") != "Stern@Home", ALL_ARTIKEL - {1005}),
            (field("Bezeichnung") == "info@shop", {1019}),
            (field("Bezeichnung").in_(["apfel", "Zahnrad"]), {1016, 1020, 1021}),
            (field("Familie_") == FAMILY_A, {1001, 1002, 1003, 1004, 1020, 1021}),
            (field("Familie_") == "0" * 32, {1014, 1015, 1016, 1017}),
        ],
        ids=repr,
    )
    def test_strings(
        self, reader: TableReader, contract_env: str, flt: Filter, expected: set[int]
    ) -> None:
        """Strings compare case-insensitively; ``@`` is a wildcard only where ADR 0004 says."""
        assert expected == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        ("value", "nummer"),
        [
            ('Kerze "Rot"', 1007),
            ("O'Reilly Buch", 1008),
            ("Back\\Slash", 1012),
            ("Zeile1\nZeile2", 1023),
        ],
    )
    def test_strings_through_params(
        self, reader: TableReader, contract_env: str, value: str, nummer: int
    ) -> None:
        """Strings with quotes, backslashes or control characters go through $params and match."""
        flt = field("Bezeichnung") == value
        assert (value,) == render(flt).params
        assert {nummer} == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("Bezeichnung").is_null(), {1013}),
            (field("Bestand").is_null(), {1004}),
            (field("Bestand").not_null(), ALL_ARTIKEL - {1004}),
            (field("Preise").not_null(), {1001, 1005}),
            (field("Familie_").is_null(), {1018, 1019}),
            (field("Aktiv").is_null(), {1016}),
            (field("created_date").is_null(), {1004}),
            (field("Bestand") < 100, ALL_ARTIKEL - {1004, 1007, 1025}),
        ],
        ids=repr,
    )
    def test_nulls(
        self, reader: TableReader, contract_env: str, flt: Filter, expected: set[int]
    ) -> None:
        """``= null`` matches null only; a null value fails every comparison except ``#``."""
        assert expected == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("Aktiv") == False, {1003, 1006, 1010, 1013, 1019, 1024}),  # noqa: E712
            (field("Aktiv") != True, {1003, 1006, 1010, 1013, 1016, 1019, 1024}),  # noqa: E712
        ],
        ids=repr,
    )
    def test_booleans(
        self, reader: TableReader, contract_env: str, flt: Filter, expected: set[int]
    ) -> None:
        """Booleans compare with = and #; a null bool is "not true"."""
        assert expected == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (field("created_date") == dt.date(2025, 1, 27), {1001, 1009, 1020, 1021}),
            (
                field("created_date") >= dt.date(2025, 2, 1),
                {1005, 1007, 1008, 1016, 1018, 1022, 1023, 1024},
            ),
            (field("created_date") > dt.date(2025, 2, 1), {1007, 1008, 1018, 1022, 1023, 1024}),
            (field("created_date") < dt.date(2024, 1, 1), {1003, 1010, 1012, 1017}),
            (field("created_date") == "0000-00-00", {1003, 1012}),
            (field("created_date") == "2025-01-27", {1001, 1009, 1020, 1021}),
            (field("created_date") == "27!1!2025", {1001, 1009, 1020, 1021}),
            (
                (field("created_date") > dt.date(2024, 12, 31))
                & (field("created_date") < dt.date(2025, 1, 27)),
                {1013, 1014},
            ),
            (
                field("created_date").in_([dt.date(2024, 12, 31), dt.date(2012, 12, 12)]),
                {1006, 1017},
            ),
        ],
        ids=repr,
    )
    def test_dates(
        self, reader: TableReader, contract_env: str, flt: Filter, expected: set[int]
    ) -> None:
        """Date attributes compare as dates; 0!0!0 is below every date; strict </> are exact."""
        assert expected == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            ((field("Familie_") == FAMILY_A) & (field("Aktiv") == False), {1003}),  # noqa: E712
            ((field("Nummer") == 1001) | (field("Nummer") == 1025), {1001, 1025}),
            (~(field("Familie_") == FAMILY_A), ALL_ARTIKEL - {1001, 1002, 1003, 1004, 1020, 1021}),
            (
                (field("Familie_") == "0" * 32) & ((field("Preis") < 0) | (field("Bestand") >= 40)),
                {1014, 1015, 1016},
            ),
            (~((field("Nummer") < 1024) | (field("Nummer") == 1025)), {1024}),
            (field("Nummer").in_([1001, 1005, 9999]), {1001, 1005}),
        ],
        ids=repr,
    )
    def test_combinations(
        self, reader: TableReader, contract_env: str, flt: Filter, expected: set[int]
    ) -> None:
        """AND, OR, NOT and IN combine as in boolean logic."""
        assert expected == self.select(reader, contract_env, flt)

    @pytest.mark.parametrize(
        "flt",
        [
            field("Bezeichnung") > 5,
            field("Nummer") == "abc",
            field("Aktiv") < True,
            field("created_date") == "gestern",
            field("Nummer").begins("10"),
            field("Preise") == "x",
            field("Aktiv").in_([True]),
            field("Nummer") == True,  # noqa: E712
        ],
        ids=repr,
    )
    def test_incompatible_types(self, reader: TableReader, contract_env: str, flt: Filter) -> None:
        """Comparing incompatible types is a query error, never an empty result."""
        with pytest.raises(InvalidQuery):
            reader.read_page(Query(contract_env, ARTIKEL, filter=flt))

    def test_unknown_attribute_in_filter(self, reader: TableReader, contract_env: str) -> None:
        """A filter on an attribute the table lacks raises InvalidQuery naming it."""
        with pytest.raises(InvalidQuery, match="Gibtsnicht"):
            reader.read_page(Query(contract_env, ARTIKEL, filter=field("Gibtsnicht") == 1))

    def test_raw_filters(self, reader: TableReader, contract_env: str, raw_filters: bool) -> None:
        """Raw text is evaluated by adapters that can, and refused (not ignored) by the others."""
        query = Query(contract_env, ARTIKEL, filter=Raw("Nummer = 1008"))
        if raw_filters:
            assert [1008] == nummern(reader.read_page(query))
        else:
            with pytest.raises(InvalidQuery):
                reader.read_page(query)

    # -- ordering ------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("flt", "order_by", "expected"),
        [
            (None, ["Nummer desc"], [1025, 1024, 1023]),
            (
                field("Familie_") == FAMILY_A,
                ["Bezeichnung", "Nummer desc"],
                [1021, 1020, 1002, 1001, 1003, 1004],
            ),
            (
                field("Familie_") == FAMILY_A,
                ["created_date", "Nummer"],
                [1004, 1003, 1001, 1020, 1021, 1002],
            ),
            (
                field("Familie_") == FAMILY_A,
                ["created_date desc", "Nummer"],
                [1002, 1001, 1020, 1021, 1003, 1004],
            ),
            (field("Familie_") == _FAMILY["B"], ["created_date"], [1006, 1005, 1022, 1023, 1024]),
            (field("Familie_") == "0" * 32, ["Preis"], [1016, 1014, 1015, 1017]),
            (field("Nummer").in_([1010, 1012, 1013]), ["Bezeichnung"], [1013, 1012, 1010]),
            (field("Nummer").in_([1010, 1012, 1013]), ["Bezeichnung desc"], [1010, 1012, 1013]),
        ],
        ids=repr,
    )
    def test_order(
        self,
        reader: TableReader,
        contract_env: str,
        flt: Filter | None,
        order_by: list[str],
        expected: list[int],
    ) -> None:
        """Ordering: multi-key, nulls first ascending, strings case-insensitive, dates as dates."""
        page = reader.read_page(
            Query(contract_env, ARTIKEL, filter=flt, order_by=order_by, top=len(expected))
        )
        assert expected == nummern(page)

    def test_unknown_attribute_in_order(self, reader: TableReader, contract_env: str) -> None:
        """Ordering by an attribute the table lacks raises InvalidQuery naming it."""
        with pytest.raises(InvalidQuery, match="Sortierung"):
            reader.read_page(Query(contract_env, ARTIKEL, order_by="Sortierung"))

    # -- projection and records ----------------------------------------------------------

    def test_projection(self, reader: TableReader, contract_env: str) -> None:
        """``attributes`` keeps the requested ones plus the entity's key and stamp."""
        page = reader.read_page(
            Query(
                contract_env,
                ARTIKEL,
                attributes=["Bezeichnung", "Nummer"],
                order_by="Nummer",
                top=2,
            )
        )
        for record in page.records:
            assert {"Bezeichnung", "Nummer"} == set(record) - MANAGED_ATTRIBUTES
            assert artikel_key(record["Nummer"]) == record["__KEY"]
            assert isinstance(record["__STAMP"], int)
        assert ["Engel klein", "Engel groß"] == [r["Bezeichnung"] for r in page.records]

    def test_unknown_attribute_in_projection(self, reader: TableReader, contract_env: str) -> None:
        """Projecting an attribute the table lacks raises InvalidQuery naming it."""
        with pytest.raises(InvalidQuery, match="Farbe"):
            reader.read_page(Query(contract_env, ARTIKEL, attributes=["Farbe"]))

    def test_records_keep_wire_values(self, reader: TableReader, contract_env: str) -> None:
        """Untyped reads return every value as 4D sent it: D!M!YYYY dates, nested objects."""
        page = reader.read_page(Query(contract_env, ARTIKEL, order_by="Nummer", top=100))
        assert 25 == page.count
        for record in page.records:
            canonical = artikel_row(record["Nummer"])
            sent = {
                k: v
                for k, v in canonical.items()
                if v is not None and k not in {"__STAMP", "__TIMESTAMP"}
            }
            assert sent == {k: record[k] for k in sent}
            assert {k for k, v in canonical.items() if v is None} >= {
                k for k, v in record.items() if v is None
            }

    def test_get_record(self, reader: TableReader, contract_env: str) -> None:
        """``get_record`` returns the entity with that key, nested objects included."""
        record = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        assert (artikel_key(1001), 1001, "27!1!2025") == (
            record["__KEY"],
            record["Nummer"],
            record["created_date"],
        )
        assert {"Coll": [{"Art": "Laden", "Preis": 19.9, "VE": 1}]} == record["Preise"]

    def test_get_record_typed(self, reader: TableReader, contract_env: str) -> None:
        """``typed=True`` decodes dates (``0!0!0`` to None); the default keeps them as sent."""
        keys = [artikel_key(1001), artikel_key(1003)]
        typed = [reader.get_record(contract_env, ARTIKEL, k, typed=True) for k in keys]
        raw = [reader.get_record(contract_env, ARTIKEL, k) for k in keys]
        assert [dt.date(2025, 1, 27), None] == [r["created_date"] for r in typed]
        assert ["27!1!2025", "0!0!0"] == [r["created_date"] for r in raw]

    def test_get_record_numeric_key(self, reader: TableReader, contract_env: str) -> None:
        """Numeric keys are strings like any other key."""
        assert 77 == reader.get_record(contract_env, LAGER, "77")["Nummer"]

    def test_get_record_is_a_copy(self, reader: TableReader, contract_env: str) -> None:
        """Changing a returned record does not change what the next read returns."""
        record = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        record["Preise"]["Coll"].clear()
        again = reader.get_record(contract_env, ARTIKEL, artikel_key(1001))
        assert 1 == len(again["Preise"]["Coll"])

    def test_get_record_unknown_key(self, reader: TableReader, contract_env: str) -> None:
        """An unknown key raises RecordNotFound, which is a LookupError."""
        with pytest.raises(RecordNotFound) as info:
            reader.get_record(contract_env, ARTIKEL, "F" * 32)
        assert isinstance(info.value, LookupError)

    def test_tables(self, reader: TableReader, contract_env: str) -> None:
        """``tables`` lists every table of the environment."""
        assert {ARTIKEL, LAGER} <= set(reader.tables(contract_env))

    # -- schema (SchemaReader) -----------------------------------------------------------

    def test_describe(self, reader: TableReader, contract_env: str) -> None:
        """``describe`` lists the fields in catalog order with their 4D types and the key."""
        assert isinstance(reader, SchemaReader)
        schema = reader.describe(contract_env, ARTIKEL)
        assert ARTIKEL == schema.table
        assert {
            "Nummer": "long",
            "Bezeichnung": "string",
            "Preis": "number",
            "Bestand": "long",
            "created_date": "date",
            "Aktiv": "bool",
            "Familie_": "string",
            "Preise": "object",
        } == schema.types()
        assert ["created_date"] == [a.name for a in schema.fields if a.simple_date]
        assert ((), ("__KEY",)) == (schema.relations, schema.primary_key)
        with pytest.raises(TypeError):
            schema.attributes["Farbe"] = schema.attributes["Nummer"]  # type: ignore[index]

    def test_describe_unknown_table(self, reader: TableReader, contract_env: str) -> None:
        """Describing an unknown table raises UnknownTable."""
        assert isinstance(reader, SchemaReader)
        with pytest.raises(UnknownTable):
            reader.describe(contract_env, "Gibt_es_nicht")

    @pytest.mark.parametrize(
        "call",
        [
            lambda r, env: r.read_page(Query(env, "Gibt_es_nicht")),
            lambda r, env: r.get_record(env, "Gibt_es_nicht", "1"),
            lambda r, env: r.open_snapshot(Query(env, "Gibt_es_nicht"), 60),
        ],
        ids=["read_page", "get_record", "open_snapshot"],
    )
    def test_unknown_table(
        self, reader: TableReader, contract_env: str, call: Callable[[TableReader, str], object]
    ) -> None:
        """An unknown table raises UnknownTable naming the environment and the table."""
        with pytest.raises(UnknownTable) as info:
            call(reader, contract_env)
        assert (contract_env, "Gibt_es_nicht") == (info.value.environment, info.value.table)
        assert contract_env in str(info.value)
        assert "Gibt_es_nicht" in str(info.value)

    # -- snapshots -----------------------------------------------------------------------

    def test_snapshot_pages(self, reader: TableReader, contract_env: str) -> None:
        """A snapshot's first page names it; later pages read exactly its entities in order."""
        query = Query(contract_env, LAGER, order_by="Nummer", top=50)
        first = reader.open_snapshot(query, 60)
        assert isinstance(first.entity_set, str)
        assert first.entity_set
        assert (130, 0, list(range(1, 51))) == (first.count, first.first, nummern(first))
        seen = nummern(first)
        for skip in (50, 100):
            page = reader.read_page(attrs.evolve(query, skip=skip, entity_set=first.entity_set))
            assert (130, skip) == (page.count, page.first)
            seen += nummern(page)
        assert list(range(1, 131)) == seen

    def test_snapshot_of_filter(self, reader: TableReader, contract_env: str) -> None:
        """A snapshot holds the filtered selection only."""
        query = Query(contract_env, ARTIKEL, filter=INACTIVE, order_by="Nummer", top=4)
        first = reader.open_snapshot(query, 60)
        rest = reader.read_page(attrs.evolve(query, skip=4, entity_set=first.entity_set))
        assert (6, [1003, 1006, 1010, 1013, 1019, 1024]) == (
            first.count,
            nummern(first) + nummern(rest),
        )

    def test_snapshot_release(self, reader: TableReader, contract_env: str) -> None:
        """A released snapshot cannot be read again; releasing twice is not an error."""
        query = Query(contract_env, LAGER, order_by="Nummer", top=10)
        first = reader.open_snapshot(query, 60)
        assert first.entity_set is not None
        reader.release_snapshot(contract_env, LAGER, first.entity_set)
        reader.release_snapshot(contract_env, LAGER, first.entity_set)
        with pytest.raises(EntitySetExpired):
            reader.read_page(attrs.evolve(query, skip=10, entity_set=first.entity_set))

    def test_snapshot_unknown(self, reader: TableReader, contract_env: str) -> None:
        """Reading an entity set that never existed raises EntitySetExpired (transient)."""
        query = Query(contract_env, LAGER, top=10, entity_set="0123456789ABCDEF0123456789ABCDEF")
        with pytest.raises(EntitySetExpired) as info:
            reader.read_page(query)
        assert info.value.transient

    def test_snapshot_expires(
        self, reader: TableReader, contract_env: str, advance_time: Callable[[float], None]
    ) -> None:
        """A snapshot idle for longer than its timeout is gone."""
        query = Query(contract_env, LAGER, order_by="Nummer", top=10)
        first = reader.open_snapshot(query, 2)
        advance_time(1)
        assert list(range(11, 21)) == nummern(
            reader.read_page(attrs.evolve(query, skip=10, entity_set=first.entity_set))
        )
        advance_time(3)
        with pytest.raises(EntitySetExpired):
            reader.read_page(attrs.evolve(query, skip=20, entity_set=first.entity_set))
