"""The app's shipped migration matches its models, on whatever Django runs (no database)."""

from __future__ import annotations


def test_models_need_no_new_migration():
    """Django's autodetector (what makemigrations runs) finds no change for legacy_api."""
    from django.apps import apps  # noqa: PLC0415
    from django.db.migrations.autodetector import MigrationAutodetector  # noqa: PLC0415
    from django.db.migrations.loader import MigrationLoader  # noqa: PLC0415
    from django.db.migrations.state import ProjectState  # noqa: PLC0415

    loader = MigrationLoader(None, ignore_no_migrations=True)  # reads files, not a database
    assert ("legacy_api", "0001_initial") in loader.disk_migrations
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
        graph=loader.graph, trim_to_apps={"legacy_api"}
    )
    assert "legacy_api" not in changes
