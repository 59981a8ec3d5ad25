"""The seeded tables: catalogs (attribute names, kinds, 4D types) and row generators.

Rows are generated per index from the seed alone, so any block of any table can be
produced on demand in any order and always comes out the same.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fourd_emulator._values import EMPTY_DATE, KeyCodec, wire_date

__all__ = [
    "TABLES",
    "AttributeSpec",
    "GenContext",
    "TableSpec",
    "alte_nummer",
    "build_context",
    "family_number",
]

NUMERIC_TYPES = frozenset({"long", "long64", "word", "byte", "number", "duration"})
STRING_TYPES = frozenset({"string", "uuid"})


@attrs.frozen
class AttributeSpec:
    """One catalog attribute: storage field or relation."""

    name: str
    type: str
    kind: str = "storage"
    simple_date: bool = False
    target: str | None = None
    """The related dataclass of a relation."""
    fk: str | None = None
    """For a ``relatedEntity``: the storage attribute holding the related key."""
    inverse: str | None = None
    """For a relation: the name of the relation that points back from ``target``."""
    indexed: bool = False

    def catalog(self, version: int, position: int, *, key: bool = False) -> dict[str, Any]:
        """Describe the attribute as ``$catalog/{Table}`` of 4D ``version`` lists it.

        Shapes follow the real catalogs in tests/conformance/captures: ``fieldPos`` from
        v18 on, ``indexed`` only when true, ``identifying`` on the primary key, relations
        with ``path`` (and, from v18 on, ``foreignKey``/``inverseName``).
        """
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if version >= 18:
            out["fieldPos"] = position
        out["scope"] = "public"
        if self.kind == "storage":
            if self.indexed or key:
                out["indexed"] = True
            out["type"] = self.type
            if key:
                out["identifying"] = True
            if self.simple_date:
                out["simpleDate"] = True
            return out
        collection = "Selection" if version >= 18 else "Collection"
        if self.kind == "relatedEntities":
            out["type"] = f"{self.target}{collection}"
            if version >= 18 and self.inverse:
                out["inverseName"] = self.inverse
            out["reversePath"] = True
            out["path"] = self.inverse or self.name
            return out
        out["type"] = self.target
        if version >= 18:
            out["foreignKey"] = self.fk
            if self.inverse:
                out["inverseName"] = self.inverse
            out["path"] = self.target
        else:
            out["path"] = f"{self.target}:{self.fk}"
        return out


Generator = Callable[["GenContext", int, random.Random], dict[str, Any]]


@attrs.frozen
class TableSpec:
    """A seeded dataclass: its attributes, size rule and row generator."""

    name: str
    attributes: tuple[AttributeSpec, ...]
    size: Callable[[int], int]
    generate: Generator
    numeric_key: int | None = None
    """First key of a table with numeric-string keys (``Artikel_Stamm``)."""
    key: str = "UID"
    """The primary-key attribute (the catalog's ``key``); ``__KEY`` holds its value."""

    @property
    def by_name(self) -> Mapping[str, AttributeSpec]:
        """Attributes by name."""
        return {a.name: a for a in self.attributes}


@attrs.frozen
class GenContext:
    """What generators need: the seed, every table's size and key codec."""

    seed: int
    sizes: Mapping[str, int]
    codecs: Mapping[str, KeyCodec]

    def key(self, table: str, index: int) -> str:
        """Return the key of row ``index`` of ``table``."""
        return self.codecs[table].key(index)


def _s(name: str, type_: str = "string") -> AttributeSpec:
    return AttributeSpec(name, type_)


def _d(name: str) -> AttributeSpec:
    return AttributeSpec(name, "date", simple_date=True)


def _rel(name: str, target: str, fk: str, inverse: str | None = None) -> AttributeSpec:
    return AttributeSpec(name, target, kind="relatedEntity", target=target, fk=fk, inverse=inverse)


def _rels(name: str, target: str, inverse: str | None = None) -> AttributeSpec:
    return AttributeSpec(
        name, f"{target}Selection", kind="relatedEntities", target=target, inverse=inverse
    )


def _ix(name: str, type_: str = "string") -> AttributeSpec:
    return AttributeSpec(name, type_, indexed=True)


_AUDIT = (
    _s("created_name"),
    _d("created_date"),
    _s("created_time", "duration"),
    _s("modified_name"),
    _d("modified_date"),
    _s("modified_time", "duration"),
)

_STAFF = ("Tropp", "Meier", "Schulz", "Krüger", "Öztürk", "Weiß", "Bauer", "Hoffmann")
_FIRST = ("Anna", "Jonas", "Lena", "Lukas", "Marie", "Paul", "Sophie", "Felix", "Emma", "Jürgen")
_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Groß", "Koch")
_NOUNS = (
    "Filigranengel",
    "Weihnachtsmann",
    "Schneemann",
    "Glocke",
    "Sternschnuppe",
    "Räuchermann",
    "Nussknacker",
    "Krippe",
    "Lichterbogen",
    "Osterhase",
    "Glücksbringer",
    "Engel",
)
_DETAILS = ("divers", "mit Tanne", "mit Laterne", "klein", "groß", "bemalt", "natur", "XL")
_COLORS = ("BE", "BL", "OX", "RO", "GR", "WS", "SW", "GO")
_CITIES = ("Olbernhau", "Seiffen", "Dresden", "Chemnitz", "Leipzig", "Freiberg", "Annaberg")
_STREETS = ("Hauptstraße", "Bahnhofstr.", "Am Markt", "Schulweg", "Lindenallee", "Ringstraße")
_BASE_TS = 1_737_999_341.801  # 2025-01-27T17:35:41.801Z, like the sample's timestamps
_MASK64 = (1 << 64) - 1


def mix(*parts: int) -> int:
    """Hash small ints with splitmix64: deterministic, independent of PYTHONHASHSEED."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (p & _MASK64)) * 0xBF58476D1CE4E5B9 & _MASK64
        h ^= h >> 31
        h = h * 0x94D049BB133111EB & _MASK64
        h ^= h >> 29
    return h


def _day(rng: random.Random, start_year: int, end_year: int) -> dt.date:
    first = dt.date(start_year, 1, 1).toordinal()
    last = dt.date(end_year, 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(first, last))


def _price(x: float) -> float | int:
    # 4D sends whole numbers without a fraction (sample: "Preis": 29).
    r = round(x, 2)
    return int(r) if r == int(r) else r


def _audit(rng: random.Random, modified_share: float = 0.5) -> dict[str, Any]:
    created = _day(rng, 2015, 2025)
    out: dict[str, Any] = {
        "created_name": rng.choice(_STAFF),
        "created_date": wire_date(created),
        "created_time": rng.randrange(6 * 3600, 20 * 3600) * 1000,
    }
    if rng.random() < modified_share:
        mod = dt.date.fromordinal(
            rng.randint(created.toordinal(), dt.date(2025, 12, 31).toordinal())
        )
        out |= {
            "modified_name": rng.choice(_STAFF),
            "modified_date": wire_date(mod),
            "modified_time": rng.randrange(6 * 3600, 20 * 3600) * 1000,
        }
    else:
        out |= {"modified_name": None, "modified_date": None, "modified_time": None}
    return out


def _meta(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "__TIMESTAMP": _BASE_TS + index * 0.011 + rng.random() * 86400 * 30,
        "__STAMP": rng.randint(1, 20),
    }


@functools.lru_cache(maxsize=8192)
def _family_name(seed: int, fam: int) -> str:
    h = mix(seed, 11, fam)
    noun = _NOUNS[h % len(_NOUNS)]
    detail = _DETAILS[(h >> 8) % len(_DETAILS)]
    return f"{noun} {detail}"


@functools.lru_cache(maxsize=64)
def _offset(seed: int) -> int:
    return mix(seed, 13)


def family_number(fam: int) -> int:
    """``Nummer`` of family ``fam``: the base SKU its variants' ``alteNummer`` starts with."""
    return 10000 + fam * 2


def _variant_color(seed: int, i: int) -> str:
    # Four variants per family, four different colour codes (the "-BE" of "11400-BE").
    return _COLORS[(i % 4 + mix(seed, 12, i // 4)) % len(_COLORS)]


def alte_nummer(seed: int, i: int) -> str:
    """``alteNummer`` of variant ``i``: ``"{family Nummer}-{colour}"``, e.g. ``"10022-BE"``."""
    return f"{family_number(i // 4)}-{_variant_color(seed, i)}"


_ART_GR = ("HK", "FI", "LE", "ZU", "PY")
_GRUPPEN = ("Weihnachten", "Ostern", "Ganzjährig", "Sonderedition")


@functools.lru_cache(maxsize=8192)
def _family_facts(seed: int, fam: int) -> dict[str, Any]:
    """What Artikel_Familie and its Art_Kalkulation row both state about family ``fam``."""
    h = mix(seed, 14, fam)
    breite, hoehe, tiefe = 3 + h % 40, 5 + (h >> 8) % 60, 2 + (h >> 16) % 25
    return {
        "Gewicht": _price(0.05 + ((h >> 24) % 3000) / 1000),
        "Masse_Breite": breite,
        "Masse_Hoehe": hoehe,
        "Masse_Tiefe": tiefe,
        "ArtGr": _ART_GR[(h >> 36) % len(_ART_GR)],
        "Haengend": (h >> 40) % 4 == 0,
        "Einseitig": (h >> 42) % 5 == 0,
    }


def _gen_familie(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    name = _family_name(ctx.seed, i)
    facts = _family_facts(ctx.seed, i)
    kurz = name.split()[0]
    return {
        **_meta(rng, i),
        "UID": ctx.key("Artikel_Familie", i),
        "Nummer": family_number(i),
        "Bezeichnung": name,
        "Bezeichnung_ENG": None if rng.random() < 0.4 else f"{name} (EN)",
        "Bez_kurz": kurz,
        "Beschreibung": None
        if rng.random() < 0.3
        else f"Handarbeit aus dem Erzgebirge, Serie {i % 97}",
        "Beschreibung_ENG": None if rng.random() < 0.6 else f"Handmade, series {i % 97}",
        "Beschreibung_kurz": None if rng.random() < 0.5 else kurz,
        "Beschreibung_kurz_ENG": None,
        "ArtGr": facts["ArtGr"],
        "Gruppe": rng.choice(_GRUPPEN),
        "Gewicht": facts["Gewicht"],
        "Masse_Breite": facts["Masse_Breite"],
        "Masse_Hoehe": facts["Masse_Hoehe"],
        "Masse_Tiefe": facts["Masse_Tiefe"],
        "Haengend": facts["Haengend"],
        "Einseitig": facts["Einseitig"],
        "Release_date": "1!1!1991" if rng.random() < 0.4 else wire_date(_day(rng, 1995, 2025)),
        "Neu": rng.random() < 0.05,
        "aktiv": rng.random() < 0.9,
        **_audit(rng),
    }


def _gen_variante(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    fam = i // 4
    laden = round(rng.uniform(4.0, 120.0) * 2) / 2
    n = max(ctx.sizes["Artikel_Variante"], 900_000)
    color = _variant_color(ctx.seed, i)
    name = _family_name(ctx.seed, fam)
    if color == "OX":
        name += " OX"
    sales = rng.choice(([], [None], ["Webshop", "Amazon"]))
    return {
        **_meta(rng, i),
        "UID": ctx.key("Artikel_Variante", i),
        "Familie_": ctx.key("Artikel_Familie", fam),
        "Aktiv": rng.random() < 0.85,
        "Auslaufdatum": EMPTY_DATE if rng.random() < 0.85 else wire_date(_day(rng, 2018, 2026)),
        "Sperrinfo": {"Coll": []}
        if rng.random() < 0.95
        else {"Coll": [{"Grund": "Qualität", "Datum": wire_date(_day(rng, 2022, 2025))}]},
        "Preise": {
            "Coll": [
                {"Art": "Laden", "Preis": _price(laden), "VE": 1},
                {"Art": "Handel", "Preis": _price(laden * 0.45), "VE": 1},
                {"Art": "Empf.", "Preis": _price(laden * 0.8), "VE": 1},
                {"Art": "Einkauf", "Preis": _price(laden * 0.17), "VE": 1},
            ]
        },
        "Release_Date": "1!1!1991" if rng.random() < 0.4 else wire_date(_day(rng, 1995, 2025)),
        "Typ": rng.choice((0, 1, 1, 2)),
        "SalesChannel": {"values": sales, "geerbt": not sales or sales[0] is None},
        **_audit(rng),
        "Masse_angepasst": rng.random() < 0.1,
        # An affine permutation keeps article numbers unique up to 1M rows.
        "Nummer": 100000 + (i * 611953 + _offset(ctx.seed) % n) % n,
        "alteNummer": alte_nummer(ctx.seed, i),
        "shopware": "00000000000000000000000000000000"
        if rng.random() < 0.6
        else f"{rng.getrandbits(128):032X}",
        "refOld": 17000 + i // 2,
        "Bezeichnung": name,
        "Tags_": ctx.key("Artikel_Tags", fam % 20),
        "Bezeichnung_FS": None if rng.random() < 0.8 else f"{name} (EN)",
        "Verkaufsartikel": rng.random() < 0.5,
        "Publish": {
            "values": rng.choice((["Webshop"], ["Webshop", "Preisliste"], [])),
            "geerbt": True,
        },
        "neu": rng.random() < 0.05,
    }


def _gen_stamm(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    ek = round(rng.uniform(1.0, 40.0), 2)
    return {
        **_meta(rng, i),
        "ID": 17000 + i,
        # Variants 2i and 2i+1 point here with refOld: the first one's old number.
        "Artikelnr": alte_nummer(ctx.seed, 2 * i),
        "Bezeichnung": _family_name(ctx.seed, i // 2),
        "Warengruppe": rng.choice(("Holzkunst", "Figuren", "Leuchter", "Zubehör")),
        "EK_Preis": _price(ek),
        "VK_Preis": _price(ek * rng.uniform(2.0, 4.0)),
        "Gewicht": _price(rng.uniform(0.05, 3.0)),
        "Bestand": rng.randint(0, 500),
        "Aktiv": rng.random() < 0.7,
        "Anlagedatum": wire_date(_day(rng, 2000, 2015)),
        **_audit(rng, 0.3),
    }


def _gen_kalkulation(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    # One calculation row per family: ArtNr_Kalk is the family's Nummer (pyERP's parent SKU).
    facts = _family_facts(ctx.seed, i)
    name = _family_name(ctx.seed, i)
    return {
        **_meta(rng, i),
        "ID": 1 + i,
        "ArtNr_Kalk": str(family_number(i)),
        "Bezeichnung": name,
        "Bez_kurz": name.split()[0],
        "Masse": f"{facts['Masse_Breite']}x{facts['Masse_Hoehe']}x{facts['Masse_Tiefe']}",
        "Gewicht": facts["Gewicht"],
        "haengen": facts["Haengend"],
        "eineSeite": facts["Einseitig"],
        "ArtGr": facts["ArtGr"],
        **_audit(rng),
    }


def _gen_kunde(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    firma = None if rng.random() < 0.6 else f"{last} Holzwaren GmbH"
    return {
        **_meta(rng, i),
        "UID": ctx.key("Kunden", i),
        "Kundennr": 200000 + i,
        "Name": last,
        "Vorname": first,
        "Firma": firma,
        "Email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "Telefon": None
        if rng.random() < 0.3
        else f"+49 37{rng.randint(10, 99)} {rng.randint(1000, 99999)}",
        "Kundengruppe": rng.choice(("Endkunde", "Handel", "Großhandel")),
        "Rabatt": rng.choice((0, 0, 3, 5, 10, 12.5)),
        "Gesperrt": rng.random() < 0.03,
        "Geburtsdatum": EMPTY_DATE if rng.random() < 0.5 else wire_date(_day(rng, 1940, 2000)),
        "Erstkontakt": wire_date(_day(rng, 2005, 2025)),
        **_audit(rng),
    }


def _gen_adresse(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    kunde = i // 2 % max(ctx.sizes["Kunden"], 1)
    return {
        **_meta(rng, i),
        "UID": ctx.key("Adressen", i),
        "Kunde_": ctx.key("Kunden", kunde),
        "Typ": "Rechnung" if i % 2 == 0 else "Lieferung",
        "Strasse": f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
        "PLZ": f"0{rng.randint(1000, 9999)}",
        "Ort": rng.choice(_CITIES),
        "Land": "DE" if rng.random() < 0.9 else rng.choice(("AT", "CH", "NL")),
        "Standard": i % 2 == 0,
        **_audit(rng),
    }


def _gen_beleg(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    netto = round(rng.uniform(10, 5000), 2)
    datum = _day(rng, 2019, 2025)
    geliefert = rng.random() < 0.8
    return {
        **_meta(rng, i),
        "UID": ctx.key("Belege", i),
        "Belegnr": 500000 + i,
        "Belegart": rng.choice(("Rechnung", "Lieferschein", "Auftrag", "Angebot")),
        "Kunde_": ctx.key("Kunden", rng.randrange(max(ctx.sizes["Kunden"], 1))),
        "Belegdatum": wire_date(datum),
        "Lieferdatum": wire_date(datum + dt.timedelta(days=rng.randint(1, 20)))
        if geliefert
        else EMPTY_DATE,
        "Summe_Netto": _price(netto),
        "Summe_Brutto": _price(netto * 1.19),
        "Status": rng.randint(0, 4),
        "Bezahlt": rng.random() < 0.7,
        **_audit(rng),
    }


def _gen_position(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    variante = rng.randrange(max(ctx.sizes["Artikel_Variante"], 1))
    menge = rng.randint(1, 24)
    preis = round(rng.uniform(2, 120) * 2) / 2
    rabatt = rng.choice((0, 0, 0, 5, 10))
    return {
        **_meta(rng, i),
        "UID": ctx.key("Belege_Pos", i),
        "Beleg_": ctx.key("Belege", i // 4 % max(ctx.sizes["Belege"], 1)),
        "Position": i % 4 + 1,
        "Variante_": ctx.key("Artikel_Variante", variante),
        "Artikelnr": alte_nummer(ctx.seed, variante),
        "Bezeichnung": _family_name(ctx.seed, variante // 4),
        "Menge": menge,
        "Einzelpreis": _price(preis),
        "Rabatt": rabatt,
        "Gesamtpreis": _price(menge * preis * (100 - rabatt) / 100),
        **_audit(rng, 0.2),
    }


def _gen_personal(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    last = _STAFF[i] if i < len(_STAFF) else rng.choice(_LAST)
    eintritt = _day(rng, 1995, 2024)
    aktiv = rng.random() < 0.85
    return {
        **_meta(rng, i),
        "UID": ctx.key("Personal", i),
        "Personalnr": 100 + i,
        "Name": last,
        "Vorname": rng.choice(_FIRST),
        "Kuerzel": (last[:2] + rng.choice(_FIRST)[0]).upper(),
        "Abteilung": rng.choice(("Versand", "Vertrieb", "Buchhaltung", "Produktion", "Lager")),
        "Eintritt": wire_date(eintritt),
        "Austritt": EMPTY_DATE
        if aktiv
        else wire_date(eintritt + dt.timedelta(days=rng.randint(200, 4000))),
        "Aktiv": aktiv,
        "Wochenstunden": rng.choice((20, 30, 38.5, 40)),
        "Arbeitstage": {
            "values": ["Mo", "Di", "Mi", "Do", "Fr"][: rng.randint(3, 5)],
            "geerbt": False,
        },
        **_audit(rng, 0.3),
    }


def _gen_lagerort(ctx: GenContext, i: int, rng: random.Random) -> dict[str, Any]:
    lager = ("A", "B", "C")[i % 3]
    regal, fach = i // 3 % 10 + 1, i // 30 + 1
    return {
        **_meta(rng, i),
        "UID": ctx.key("Stamm_Lagerorte", i),
        "Lagerort": f"{lager}-{regal:02d}-{fach:02d}",
        "Bezeichnung": f"Lager {lager}, Regal {regal}, Fach {fach}",
        "Lager": lager,
        "Regal": regal,
        "Fach": fach,
        "Aktiv": rng.random() < 0.95,
        "Kapazitaet": rng.choice((50, 100, 200)),
        **_audit(rng, 0.2),
    }


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "Artikel_Familie",
        (
            _ix("UID", "uuid"),
            _ix("Nummer", "long"),
            _s("Bezeichnung"),
            _s("Bezeichnung_ENG"),
            _s("Bez_kurz"),
            _s("Beschreibung"),
            _s("Beschreibung_ENG"),
            _s("Beschreibung_kurz"),
            _s("Beschreibung_kurz_ENG"),
            _s("ArtGr"),
            _s("Gruppe"),
            _s("Gewicht", "number"),
            _s("Masse_Breite", "number"),
            _s("Masse_Hoehe", "number"),
            _s("Masse_Tiefe", "number"),
            _s("Haengend", "bool"),
            _s("Einseitig", "bool"),
            _d("Release_date"),
            _s("Neu", "bool"),
            _s("aktiv", "bool"),
            *_AUDIT,
            _rels("Varianten", "Artikel_Variante", "ArtikelFamilie"),
        ),
        lambda rows: max(1, (rows + 3) // 4),
        _gen_familie,
    ),
    TableSpec(
        "Artikel_Variante",
        (
            _ix("UID", "uuid"),
            _ix("Familie_", "uuid"),
            _s("Aktiv", "bool"),
            _d("Auslaufdatum"),
            _s("Sperrinfo", "object"),
            _s("Preise", "object"),
            _d("Release_Date"),
            _s("Typ", "long"),
            _s("SalesChannel", "object"),
            *_AUDIT,
            _s("Masse_angepasst", "bool"),
            _ix("Nummer", "long"),
            _ix("alteNummer"),
            _s("shopware", "uuid"),
            _ix("refOld", "long"),
            _s("Bezeichnung"),
            _s("Tags_", "uuid"),
            _s("Bezeichnung_FS"),
            _s("Verkaufsartikel", "bool"),
            _s("Publish", "object"),
            _s("neu", "bool"),
            _rel("ArtikelFamilie", "Artikel_Familie", "Familie_", "Varianten"),
            _rel("oldStamm", "Artikel_Stamm", "refOld", "Varianten"),
            _rel("Tags", "Artikel_Tags", "Tags_", "Varianten"),
            _rels("Teile", "Artikel_Variante", "TeilVon"),
            _rels("TeilVon", "Artikel_Variante", "Teile"),
            _rels("Kategorien", "Artikel_Kategorien", "Varianten"),
            _rels("Properties", "Artikel_Properties", "Variante"),
        ),
        lambda rows: rows,
        _gen_variante,
    ),
    TableSpec(
        "Artikel_Stamm",
        (
            _ix("ID", "long"),
            _ix("Artikelnr"),
            _s("Bezeichnung"),
            _s("Warengruppe"),
            _s("EK_Preis", "number"),
            _s("VK_Preis", "number"),
            _s("Gewicht", "number"),
            _s("Bestand", "long"),
            _s("Aktiv", "bool"),
            _d("Anlagedatum"),
            *_AUDIT,
            _rels("Varianten", "Artikel_Variante", "oldStamm"),
        ),
        lambda rows: max(1, (rows + 1) // 2),
        _gen_stamm,
        numeric_key=17000,
        key="ID",
    ),
    TableSpec(
        "Art_Kalkulation",
        (
            _ix("ID", "long"),
            _ix("ArtNr_Kalk"),
            _s("Bezeichnung"),
            _s("Bez_kurz"),
            _s("Masse"),
            _s("Gewicht", "number"),
            _s("haengen", "bool"),
            _s("eineSeite", "bool"),
            _s("ArtGr"),
            *_AUDIT,
        ),
        lambda rows: max(1, (rows + 3) // 4),
        _gen_kalkulation,
        numeric_key=1,
        key="ID",
    ),
    TableSpec(
        "Kunden",
        (
            _s("UID", "uuid"),
            _s("Kundennr", "long"),
            _s("Name"),
            _s("Vorname"),
            _s("Firma"),
            _s("Email"),
            _s("Telefon"),
            _s("Kundengruppe"),
            _s("Rabatt", "number"),
            _s("Gesperrt", "bool"),
            _d("Geburtsdatum"),
            _d("Erstkontakt"),
            *_AUDIT,
            _rels("Adressen", "Adressen", "Kunde"),
            _rels("Belege", "Belege", "Kunde"),
        ),
        lambda rows: max(10, rows // 10),
        _gen_kunde,
    ),
    TableSpec(
        "Adressen",
        (
            _s("UID", "uuid"),
            _s("Kunde_", "uuid"),
            _s("Typ"),
            _s("Strasse"),
            _s("PLZ"),
            _s("Ort"),
            _s("Land"),
            _s("Standard", "bool"),
            *_AUDIT,
            _rel("Kunde", "Kunden", "Kunde_", "Adressen"),
        ),
        lambda rows: max(20, rows // 5),
        _gen_adresse,
    ),
    TableSpec(
        "Belege",
        (
            _s("UID", "uuid"),
            _s("Belegnr", "long"),
            _s("Belegart"),
            _s("Kunde_", "uuid"),
            _d("Belegdatum"),
            _d("Lieferdatum"),
            _s("Summe_Netto", "number"),
            _s("Summe_Brutto", "number"),
            _s("Status", "long"),
            _s("Bezahlt", "bool"),
            *_AUDIT,
            _rel("Kunde", "Kunden", "Kunde_", "Belege"),
            _rels("Positionen", "Belege_Pos", "Beleg"),
        ),
        lambda rows: max(10, rows // 4),
        _gen_beleg,
    ),
    TableSpec(
        "Belege_Pos",
        (
            _s("UID", "uuid"),
            _s("Beleg_", "uuid"),
            _s("Position", "long"),
            _s("Variante_", "uuid"),
            _s("Artikelnr"),
            _s("Bezeichnung"),
            _s("Menge", "number"),
            _s("Einzelpreis", "number"),
            _s("Rabatt", "number"),
            _s("Gesamtpreis", "number"),
            *_AUDIT,
            _rel("Beleg", "Belege", "Beleg_", "Positionen"),
            _rel("Variante", "Artikel_Variante", "Variante_", "Positionen"),
        ),
        lambda rows: rows,
        _gen_position,
    ),
    TableSpec(
        "Personal",
        (
            _s("UID", "uuid"),
            _s("Personalnr", "long"),
            _s("Name"),
            _s("Vorname"),
            _s("Kuerzel"),
            _s("Abteilung"),
            _d("Eintritt"),
            _d("Austritt"),
            _s("Aktiv", "bool"),
            _s("Wochenstunden", "number"),
            _s("Arbeitstage", "object"),
            *_AUDIT,
        ),
        lambda _rows: 40,
        _gen_personal,
    ),
    TableSpec(
        "Stamm_Lagerorte",
        (
            _s("UID", "uuid"),
            _s("Lagerort"),
            _s("Bezeichnung"),
            _s("Lager"),
            _s("Regal", "long"),
            _s("Fach", "long"),
            _s("Aktiv", "bool"),
            _s("Kapazitaet", "long"),
            *_AUDIT,
        ),
        lambda _rows: 60,
        _gen_lagerort,
    ),
)

# Referenced by relations but not served (like pyERP's many small side tables).
_UNSERVED = ("Artikel_Tags", "Artikel_Kategorien", "Artikel_Properties")


def build_context(seed: int, rows: int) -> GenContext:
    """Sizes and key codecs of every table for ``rows``."""
    sizes = {t.name: t.size(rows) for t in TABLES}
    codecs = {t.name: KeyCodec(seed, t.name, t.numeric_key) for t in TABLES}
    for name in _UNSERVED:
        sizes[name] = 20
        codecs[name] = KeyCodec(seed, name)
    return GenContext(seed, sizes, codecs)
