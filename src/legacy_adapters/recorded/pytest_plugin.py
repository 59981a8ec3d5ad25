"""The pytest plugin of the recorded fake: the ``legacy_cassette`` fixture and ``--legacy-record``.

Registered through the ``pytest11`` entry point, so any project that installs legacy-api
gets it. The library is imported lazily inside the fixtures: loading the plugin costs
nothing and cannot break a test run that does not use it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from legacy_adapters.fourd import Transport
    from legacy_adapters.recorded import Faults, Recorder, RecordMode, Replayer, Scrubber

__all__ = [
    "cassette_name",
    "legacy_cassette",
    "legacy_cassette_path",
    "legacy_record_mode",
    "legacy_scrubber",
    "legacy_transport",
    "pytest_addoption",
    "pytest_configure",
]

_MODES = ("none", "once", "new", "all")
_MARKER = (
    "legacy_cassette(path=None, *, mode=None, allow_repeats=False, faults=None): "
    "cassette file (relative to the test file's directory), record mode and replay "
    "options of the legacy_cassette fixture"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--legacy-record=MODE`` and the ``legacy_record_mode`` ini default."""
    group = parser.getgroup("legacy_api", "legacy-api recorded 4D traffic")
    group.addoption(
        "--legacy-record",
        action="store",
        default=None,
        choices=_MODES,
        metavar="MODE",
        help=(
            "record mode of legacy_cassette: none (replay only, a miss fails; the default), "
            "once (record missing cassettes), new (record misses), all (record again)"
        ),
    )
    parser.addini("legacy_record_mode", "default record mode of legacy_cassette", default="none")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``legacy_cassette`` marker (strict markers stay happy)."""
    config.addinivalue_line("markers", _MARKER)


def cassette_name(test_name: str) -> str:
    """Return a file name for ``test_name``; distinct test ids never share one."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", test_name).strip("_")
    if name == test_name:
        return name
    # Characters were replaced (parameter ids): a hash keeps "x='1'" apart from "x=1".
    digest = hashlib.sha256(test_name.encode()).hexdigest()[:8]
    return f"{name[:100]}-{digest}"


def _marker_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("legacy_cassette")
    if marker is None:
        return {}
    kwargs = dict(marker.kwargs)
    if marker.args:
        kwargs.setdefault("path", marker.args[0])
    return kwargs


@pytest.fixture
def legacy_record_mode(request: pytest.FixtureRequest) -> RecordMode:
    """Choose the record mode: marker ``mode``, else ``--legacy-record``, else the ini."""
    from legacy_adapters.recorded import RecordMode  # noqa: PLC0415 - lazy plugin import

    chosen = _marker_kwargs(request).get("mode") or request.config.getoption("legacy_record")
    if chosen is None:
        chosen = request.config.getini("legacy_record_mode") or "none"
    return RecordMode.parse(str(chosen))


@pytest.fixture
def legacy_cassette_path(request: pytest.FixtureRequest) -> Path:
    """Locate the cassette: ``<test dir>/cassettes/<module>/<test name>.json`` by default."""
    test_file = Path(str(request.node.path))
    explicit = _marker_kwargs(request).get("path")
    if explicit is not None:
        path = Path(explicit)
        return path if path.is_absolute() else test_file.parent / path
    return (
        test_file.parent / "cassettes" / test_file.stem / f"{cassette_name(request.node.name)}.json"
    )


@pytest.fixture
def legacy_scrubber() -> Scrubber:
    """Provide the secret scrubber used while recording; override it to add headers or values."""
    from legacy_adapters.recorded import Scrubber  # noqa: PLC0415 - lazy plugin import

    return Scrubber()


@pytest.fixture
def legacy_transport() -> Iterator[Transport]:
    """Provide the real transport recordings go through; override it to point elsewhere."""
    from legacy_adapters.fourd import RequestsTransport  # noqa: PLC0415 - lazy plugin import

    transport = RequestsTransport()
    try:
        yield transport
    finally:
        transport.close()


@pytest.fixture
def legacy_cassette(
    request: pytest.FixtureRequest,
    legacy_cassette_path: Path,
    legacy_record_mode: RecordMode,
    legacy_scrubber: Scrubber,
) -> Iterator[Recorder | Replayer]:
    """Provide a 4D transport that replays (or records) this test's cassette.

    Pass it as ``transport=`` to ``FourDBackend``. In mode ``none`` nothing is sent
    anywhere; in the recording modes ``legacy_transport`` is used and the cassette is
    written (and scanned for secrets) when the test ends.
    """
    from legacy_adapters.recorded import RecordMode, use_cassette  # noqa: PLC0415

    options = _marker_kwargs(request)
    transport = None
    if legacy_record_mode is not RecordMode.NONE:
        transport = request.getfixturevalue("legacy_transport")
    faults: Faults | None = options.get("faults")
    with use_cassette(
        legacy_cassette_path,
        mode=legacy_record_mode,
        transport=transport,
        scrubber=legacy_scrubber,
        faults=faults,
        allow_repeats=bool(options.get("allow_repeats", False)),
    ) as active:
        yield active
