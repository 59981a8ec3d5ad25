"""Tests of the 4D REST adapter (legacy_adapters.fourd)."""
