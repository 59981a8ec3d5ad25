"""A tiny Django project that installs the legacy API app, for the tests in tests/django."""
