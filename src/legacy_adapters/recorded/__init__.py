"""The recorded-fixture fake: record real 4D traffic once into cassettes, replay it in tests.

Re-exports only (see ``docs/testing.md``). The names are resolved lazily on first use:
pytest loads :mod:`legacy_adapters.recorded.pytest_plugin` (and so this package) through
its entry point before coverage starts and for every test run, so importing the package
must import nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS: dict[str, str] = {
    "Body": "_cassette",
    "Cassette": "_cassette",
    "CassetteMiss": "_errors",
    "DEFAULT_SECRET_HEADERS": "_scrub",
    "Faults": "_transport",
    "Interaction": "_cassette",
    "MatchKey": "_match",
    "RecordMode": "_cassette",
    "RecordedError": "_cassette",
    "RecordedRequest": "_cassette",
    "RecordedResponse": "_cassette",
    "RecordedTables": "_tables",
    "Recorder": "_transport",
    "Replayer": "_transport",
    "Scrubber": "_scrub",
    "SecretLeak": "_errors",
    "canonical_filter": "_match",
    "fake_value": "_scrub",
    "find_leaks": "_scrub",
    "infer_type": "_tables",
    "match_key": "_match",
    "restore_placeholders": "_scrub",
    "scan_file": "_cassette",
    "use_cassette": "_transport",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
