"""The test app's config (label ``products``, as pyERP's, so its YAML names resolve)."""

from __future__ import annotations

from django.apps import AppConfig


class ProductsConfig(AppConfig):
    """pyERP's products app, reduced to what the sync fills."""

    name = "tests.django_sync.products"
    label = "products"
    default_auto_field = "django.db.models.BigAutoField"
