"""Consumers get field allow-lists per table."""

# ruff: noqa: RUF012 - Django's migration format

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("legacy_gateway", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="consumer",
            name="fields",
            field=models.JSONField(default=dict),
        ),
    ]
