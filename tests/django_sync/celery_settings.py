"""The shared Django test settings plus the mappings the Celery worker tests run."""

from tests.django.project.settings import *  # noqa: F403

LEGACY_API_SYNC_MAPPINGS = ["tests.django_sync.mappings.ALL"]
