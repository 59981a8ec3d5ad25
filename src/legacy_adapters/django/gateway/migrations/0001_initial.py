"""The gateway's tables: consumers (hashed tokens, scopes) and the audit log of writes."""

# ruff: noqa: RUF012 - Django's migration format

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("consumer", models.CharField(max_length=100)),
                ("environment", models.CharField(max_length=100)),
                ("table", models.CharField(max_length=200)),
                ("action", models.CharField(max_length=10)),
                ("key", models.CharField(blank=True, default="", max_length=200)),
                ("before_stamp", models.BigIntegerField(null=True)),
                ("after_stamp", models.BigIntegerField(null=True)),
                ("fields", models.JSONField(default=list)),
                ("outcome", models.CharField(max_length=40)),
                ("request_id", models.CharField(blank=True, default="", max_length=100)),
            ],
            options={
                "ordering": ("at", "id"),
            },
        ),
        migrations.CreateModel(
            name="Consumer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("scopes", models.JSONField(default=list)),
                ("active", models.BooleanField(default=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
            ],
        ),
    ]
