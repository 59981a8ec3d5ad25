"""Models shaped like pyERP's (ParentProduct, VariantProduct) plus two plain copies of a table.

pyERP's models gain one field for the sync: ``legacy_stamp`` (4D's ``__STAMP``).
"""

from __future__ import annotations

from django.db import models


class ParentProduct(models.Model):
    """pyERP's parent product, with the fields products_sync.yaml maps (Artikel_Familie)."""

    legacy_id = models.CharField(max_length=64, unique=True)
    legacy_stamp = models.BigIntegerField(null=True)
    sku = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=255, null=True)
    name_en = models.CharField(max_length=255, null=True)
    description = models.TextField(null=True)
    description_en = models.TextField(null=True)
    short_description = models.TextField(null=True)
    short_description_en = models.TextField(null=True)
    weight = models.FloatField(null=True)
    category_code = models.CharField(max_length=20, null=True)
    is_hanging = models.BooleanField(null=True)
    is_one_sided = models.BooleanField(null=True)
    release_date = models.DateField(null=True)
    is_new = models.BooleanField(null=True)


class VariantProduct(models.Model):
    """pyERP's variant, with the fields of the YAML's variants entry."""

    legacy_id = models.CharField(max_length=64, unique=True)
    legacy_stamp = models.BigIntegerField(null=True)
    sku = models.CharField(max_length=50, unique=True)
    legacy_sku = models.CharField(max_length=50, null=True)
    refOld = models.CharField(max_length=50, null=True)  # noqa: N815 - pyERP's name
    name = models.CharField(max_length=255, null=True)
    name_en = models.CharField(max_length=255, null=True)
    description = models.TextField(null=True)
    description_en = models.TextField(null=True)
    short_description = models.TextField(null=True)
    short_description_en = models.TextField(null=True)
    weight = models.FloatField(null=True)
    legacy_parent_id = models.CharField(max_length=64, null=True)
    variant_code = models.CharField(max_length=20, null=True)
    color = models.CharField(max_length=20, null=True)
    size = models.CharField(max_length=20, null=True)
    is_sales_article = models.BooleanField(null=True)
    release_date = models.DateField(null=True)
    discontinuation_date = models.DateField(null=True)


class Variante(models.Model):
    """Artikel_Variante copied by a mapping declared in Python (hard deletes)."""

    legacy_key = models.CharField(max_length=64, unique=True)
    legacy_stamp = models.BigIntegerField()
    nummer = models.BigIntegerField(null=True)
    bezeichnung = models.TextField(null=True)
    aktiv = models.BooleanField(null=True)
    release_date = models.DateField(null=True)
    auslaufdatum = models.DateField(null=True)
    preise = models.JSONField(null=True)
    typ = models.IntegerField(null=True)


class SoftVariante(models.Model):
    """Artikel_Variante again, with the soft-delete flag: deleted rows stay, flagged."""

    legacy_key = models.CharField(max_length=64, unique=True)
    legacy_stamp = models.BigIntegerField()
    nummer = models.BigIntegerField(null=True)
    bezeichnung = models.TextField(null=True)
    legacy_deleted = models.BooleanField(default=False)
