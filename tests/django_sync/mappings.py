"""Mappings declared in Python, as a project lists them in ``LEGACY_API_SYNC_MAPPINGS``."""

from __future__ import annotations

from legacy_adapters.django.sync import DjangoMapping
from legacy_core.sync import FieldMap, SyncMapping

VARIANTE = DjangoMapping(
    SyncMapping(
        "Artikel_Variante",
        name="variante",
        fields=[
            FieldMap("Nummer", "nummer"),
            FieldMap("Bezeichnung", "bezeichnung"),
            FieldMap("Aktiv", "aktiv"),
            FieldMap("Release_Date", "release_date"),
            FieldMap("Auslaufdatum", "auslaufdatum"),
            FieldMap("Preise", "preise"),
            FieldMap("Typ", "typ"),
        ],
    ),
    model="products.Variante",
    batch_size=200,
)
"""Artikel_Variante by ``__KEY`` into ``legacy_key``/``legacy_stamp`` (the defaults)."""

SOFT = DjangoMapping(
    SyncMapping(
        "Artikel_Variante",
        name="soft_variante",
        fields=[FieldMap("Nummer", "nummer"), FieldMap("Bezeichnung", "bezeichnung")],
    ),
    model="products.SoftVariante",
)
"""The same table into a model with the ``legacy_deleted`` flag (soft deletes)."""

PRODUCTS = DjangoMapping(
    SyncMapping(
        "Artikel_Familie",
        name="parent_products",
        key="Nummer",
        fields={
            "__KEY": "legacy_id",
            "Nummer": "sku",
            "Bezeichnung": "name",
            "Bezeichnung_ENG": "name_en",
            "Beschreibung": "description",
            "Gewicht": "weight",
            "ArtGr": "category_code",
            "Haengend": "is_hanging",
            "Einseitig": "is_one_sided",
            "Release_date": "release_date",
            "Neu": "is_new",
        },
    ),
    model="products.ParentProduct",
)
"""pyERP's parent products declared in Python (key: the business key Nummer -> sku)."""

ALL = [VARIANTE, PRODUCTS]
