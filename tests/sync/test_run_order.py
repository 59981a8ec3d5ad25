"""Mapping dependencies (pure): ``after`` puts parents before variants; cycles are refused."""

from __future__ import annotations

import pytest

from legacy_core.errors import ConfigurationError
from legacy_core.sync import SyncMapping, run_order


def names(mappings: list[SyncMapping]) -> list[str]:
    """The mappings' names in order."""
    return [m.name for m in mappings]


def test_parents_run_before_the_mappings_that_name_them() -> None:
    """Each mapping comes after every mapping its ``after`` names, wherever it was declared."""
    declared = [
        SyncMapping("Artikel_Variante", after=("Artikel_Familie", "Artikel_Stamm")),
        SyncMapping("Art_Kalkulation", after=("Artikel_Variante",)),
        SyncMapping("Artikel_Familie"),
        SyncMapping("Artikel_Stamm"),
    ]
    order = names(run_order(declared))
    for m in declared:
        for parent in m.after:
            assert order.index(parent) < order.index(m.name), (parent, m.name)
    assert sorted(order) == sorted(names(declared))


def test_independent_mappings_keep_their_declared_order() -> None:
    """Mappings without dependencies between them run in the order they were declared."""
    declared = [SyncMapping("Kunden"), SyncMapping("Adressen"), SyncMapping("Belege")]
    assert names(declared) == names(run_order(declared))


def test_a_cycle_is_a_configuration_error_naming_it() -> None:
    """Two mappings that wait for each other can never run: the error names the cycle."""
    declared = [
        SyncMapping("Kunden", after=("Adressen",)),
        SyncMapping("Adressen", after=("Kunden",)),
    ]
    cycle = r"cycle: (Kunden|Adressen) -> (Adressen|Kunden) -> "
    with pytest.raises(ConfigurationError, match=cycle):
        run_order(declared)


def test_unknown_parent_and_duplicate_names_are_refused() -> None:
    """``after`` must name a declared mapping, and names must be unique."""
    with pytest.raises(ConfigurationError, match=r"unknown mapping\(s\): Artikel_Stamm"):
        run_order([SyncMapping("Artikel_Variante", after=("Artikel_Stamm",))])
    with pytest.raises(ConfigurationError, match="two sync mappings are named Kunden"):
        run_order([SyncMapping("Kunden"), SyncMapping("Kunden")])


def test_a_mapping_cannot_run_after_itself() -> None:
    """A self-dependency is refused when the mapping is built."""
    with pytest.raises(ConfigurationError, match="cannot run after itself"):
        SyncMapping("Kunden", after=("Kunden",))


def test_one_name_given_as_text_is_one_dependency() -> None:
    """``after="Kunden"`` means the mapping Kunden, not the letters K, u, n..."""
    assert ("Kunden",) == SyncMapping("Adressen", after="Kunden").after
