"""Like pyERP's sync scripts: positional table name, the default new_data_only."""

from __future__ import annotations

from _report import frame_summary, report

from wsz_api.getTable import fetch_data_from_api

df = fetch_data_from_api("Artikel_Variante")
recent = fetch_data_from_api("Artikel_Variante", None, 0, True)  # the old positional order
again = fetch_data_from_api("Artikel_Variante", new_data_only=True)
whole = fetch_data_from_api("Artikel_Variante", new_data_only=False)
everything = fetch_data_from_api("Artikel_Familie", top=10000, new_data_only=False)
report(
    default=frame_summary(df),
    recent=frame_summary(recent),
    recent_dates=[
        [c, m] for c, m in zip(recent["created_date"], recent["modified_date"], strict=True)
    ],
    again=frame_summary(again),
    whole=frame_summary(whole),
    all_families=frame_summary(everything),
)
