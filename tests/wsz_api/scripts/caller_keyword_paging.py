"""Like pyERP's importers: keyword table_name, top=limit, skip, date_created_start."""

from __future__ import annotations

import datetime

from _report import frame_summary, report

from wsz_api.getTable import fetch_data_from_api

limit = 25
kalkulation = fetch_data_from_api(table_name="Art_Kalkulation", top=limit, new_data_only=False)
pages = []
for m in (0, 10, 20):
    page = fetch_data_from_api(table_name="Artikel_Variante", top=10, skip=m, new_data_only=False)
    pages.append(list(page["__KEY"]))
recent = fetch_data_from_api(
    table_name="Artikel_Variante",
    top=1000,
    skip=0,
    new_data_only=False,
    date_created_start="2025-01-01",
)
recent_dt = fetch_data_from_api(
    "Artikel_Variante", new_data_only=False, date_created_start=datetime.datetime(2025, 1, 1, 8, 0)
)
limited = fetch_data_from_api("Artikel_Familie", limit=limit)
report(
    kalkulation=frame_summary(kalkulation),
    pages=pages,
    recent=frame_summary(recent),
    recent_created=sorted(set(recent["created_date"])),
    recent_dt_rows=len(recent_dt),
    limited=frame_summary(limited),
)
