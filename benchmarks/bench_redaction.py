"""Secret redaction cost vs the number of secrets ever registered (issue 11, ADR 0014).

Baseline: the first version's redactor, one case-insensitive regex alternation of every
registered value (literal spellings only). Measured: ``legacy_core.secrets.redact`` (one
Aho-Corasick pass over every spelling of every secret, plus the cookie-shaped patterns)
on a 2 KB error text that holds two secrets. ``run()`` returns the markdown section.
"""

from __future__ import annotations

import re
import time
import uuid

from legacy_core import secrets

SIZES = (1, 100, 1_000, 10_000)


def _text(cookie: str) -> str:
    filler = "4D error 1279: the query failed on attribute Nummer of Artikel_Variante. " * 24
    return f"{filler} Cookie: WASID4D={cookie}; echo {cookie.lower()} {filler}"[:2048]


def _per_call(fn: object, calls: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            fn()  # type: ignore[operator]
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def run() -> str:
    """Measure both redactors at every size; return the markdown table."""
    rows = []
    for size in SIZES:
        values = [uuid.uuid4().hex.upper() for _ in range(size)]
        for value in values:
            secrets.register_secret(value)
        text = _text(values[-1])
        old = re.compile("|".join(re.escape(v) for v in values), re.IGNORECASE)
        secrets.redact(text)  # build the automaton outside the timing
        new_s = _per_call(lambda t=text: secrets.redact(t), 200)
        old_s = _per_call(lambda t=text, p=old: p.sub("***", t), 20 if size > 1000 else 200)
        assert values[-1] not in secrets.redact(text)
        rows.append((size, old_s, new_s))
        for value in values:
            secrets.forget_secret(value)
    lines = [
        "## Secret redaction (issue 11)",
        "",
        (
            "`redact()` of a 2 KB error text holding a registered cookie, by the number of "
            "secrets registered in the process; best of 5. Baseline: the first version's "
            "single regex alternation of every secret (literal spellings only). Goal: cost "
            "independent of the number of secrets."
        ),
        "",
        "| secrets registered | baseline (us) | redact() (us) | ratio |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {size:,} | {old * 1e6:,.1f} | {new * 1e6:,.1f} | {new / old:.2f}x |"
        for size, old, new in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
