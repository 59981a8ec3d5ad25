"""Like pyERP's lookups: get_record, getRecord and WSZ_API().get_record."""

from __future__ import annotations

from _report import report

from wsz_api.api import WSZ_API
from wsz_api.getRecord import get_record, getRecord
from wsz_api.getTable import fetch_data_from_api

# Skip the rows caller_push (running at the same time) writes to.
variant = fetch_data_from_api("Artikel_Variante", top=1, skip=10, new_data_only=False)
variant_key = variant["__KEY"][0]
family_key = fetch_data_from_api("Artikel_Familie", top=1, new_data_only=False)["__KEY"][0]
variant = get_record("Artikel_Variante", variant_key)
same = getRecord("Artikel_Variante", variant_key)
family = WSZ_API().get_record("Artikel_Familie", family_key)
test_api = WSZ_API(mode="test")
test_key = test_api.fetch_data_from_api("Artikel_Familie", top=1, new_data_only=False)["__KEY"][0]
test_family = test_api.get_record("Artikel_Familie", test_key)
report(
    variant_type=type(variant).__name__,
    variant_key=variant["__KEY"] == variant_key,
    alias_equal=variant == same,
    family_key=family["__KEY"] == family_key,
    preise_type=type(variant["Preise"]).__name__,
    created_type=type(variant["created_date"]).__name__,
    test_family=test_family["__KEY"] == test_key != family_key,
)
