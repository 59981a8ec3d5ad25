"""Like pyERP's sync scripts: positional table name, the default new_data_only."""

from __future__ import annotations

from _report import frame_summary, report

from wsz_api.getTable import fetch_data_from_api

df = fetch_data_from_api("Artikel_Variante")
everything = fetch_data_from_api("Artikel_Familie", top=10000, new_data_only=False)
report(
    default=frame_summary(df),
    default_dates=[[c, m] for c, m in zip(df["created_date"], df["modified_date"], strict=True)],
    all_families=frame_summary(everything),
)
