"""Like pyERP's write-back: push_data by keyword, push_field_to_api positionally."""

from __future__ import annotations

from _report import report

from wsz_api.getRecord import get_record
from wsz_api.getTable import fetch_data_from_api
from wsz_api.pushField import push_data, push_field_to_api

keys = list(fetch_data_from_api("Artikel_Variante", top=2, new_data_only=False)["__KEY"])
ok_new = push_data(table="Artikel_Variante", column="Bezeichnung", key=keys[0], value="Engel neu")
ok_old = push_field_to_api("Artikel_Variante", keys[1], "alteNummer", "11400-XX")
report(
    push_data=ok_new,
    push_field_to_api=ok_old,
    after=[
        get_record("Artikel_Variante", keys[0])["Bezeichnung"],
        get_record("Artikel_Variante", keys[1])["alteNummer"],
    ],
)
