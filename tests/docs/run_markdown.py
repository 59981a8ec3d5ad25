"""Run every ```python block of a Markdown file in order, in one namespace.

``python -m tests.docs.run_markdown docs/tutorial.md`` exits 0 when every block ran, else
prints the failing block (its number, the section it is in, the traceback) and exits 1.
The tests run it in a child process, so the blocks' environment variables, warnings
filters and threads cannot leak into the test session (ADR 0033).
"""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

from mktestdocs import grab_code_blocks


def _section_of(text: str, block: str) -> str:
    before = text[: text.find(block)]
    headings = re.findall(r"^#{1,6} (.+)$", before, flags=re.MULTILINE)
    return headings[-1] if headings else "(top)"


def run(path: Path) -> int:
    """Execute the Python blocks of ``path``; return the number that failed (0 or 1)."""
    text = path.read_text(encoding="utf-8")
    blocks = grab_code_blocks(text, lang="python")
    namespace: dict[str, object] = {"__name__": "__tutorial__"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{path}#block{number}", "exec")
        try:
            exec(code, namespace)
        except BaseException:
            print(
                f"block {number} of {len(blocks)} failed, in section {_section_of(text, block)!r}:"
            )
            print(block)
            traceback.print_exc()
            return 1
    print(f"{len(blocks)} blocks ran")
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
