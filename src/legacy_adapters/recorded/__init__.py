"""The recorded-fixture fake: record real 4D traffic once into cassettes, replay it in tests.

Re-exports only; see ``docs/testing.md``.
"""

from __future__ import annotations

from legacy_adapters.recorded._cassette import (
    Body,
    Cassette,
    Interaction,
    RecordedError,
    RecordedRequest,
    RecordedResponse,
    RecordMode,
    scan_file,
)
from legacy_adapters.recorded._errors import CassetteMiss, SecretLeak
from legacy_adapters.recorded._match import MatchKey, canonical_filter, match_key
from legacy_adapters.recorded._scrub import (
    DEFAULT_SECRET_HEADERS,
    Scrubber,
    fake_value,
    find_leaks,
    restore_placeholders,
)
from legacy_adapters.recorded._tables import RecordedTables, infer_type
from legacy_adapters.recorded._transport import Faults, Recorder, Replayer, use_cassette

__all__ = [
    "DEFAULT_SECRET_HEADERS",
    "Body",
    "Cassette",
    "CassetteMiss",
    "Faults",
    "Interaction",
    "MatchKey",
    "RecordMode",
    "RecordedError",
    "RecordedRequest",
    "RecordedResponse",
    "RecordedTables",
    "Recorder",
    "Replayer",
    "Scrubber",
    "SecretLeak",
    "canonical_filter",
    "fake_value",
    "find_leaks",
    "infer_type",
    "match_key",
    "restore_placeholders",
    "scan_file",
    "use_cassette",
]
