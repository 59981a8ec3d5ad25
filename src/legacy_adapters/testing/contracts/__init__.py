"""Contract suites every adapter passes: mixins reached only through overridable fixtures.

Mix a contract and the adapter's fixture class into a test class, e.g.
``class TestMemoryReader(TableReaderContract, MemoryFixtures): pass``; the fixture class
subclasses :class:`ContractFixtures` and overrides every fixture.
"""

from __future__ import annotations

import pytest

# The contract modules are not test modules: ask pytest to rewrite their asserts anyway, so
# a failing contract shows the compared values. Must run before the imports below.
pytest.register_assert_rewrite(
    "legacy_adapters.testing.contracts.reader",
    "legacy_adapters.testing.contracts.sessions",
    "legacy_adapters.testing.contracts.writer",
)

from legacy_adapters.testing.contracts.reader import (  # noqa: E402
    CONTRACT_TABLES,
    ContractFixtures,
    ContractTable,
    TableLoader,
    TableReaderContract,
    load_contract_tables,
)
from legacy_adapters.testing.contracts.writer import FieldWriterContract  # noqa: E402

__all__ = [
    "CONTRACT_TABLES",
    "ContractFixtures",
    "ContractTable",
    "FieldWriterContract",
    "TableLoader",
    "TableReaderContract",
    "load_contract_tables",
]
