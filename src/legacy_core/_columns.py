"""The column order every tabular read shares (frames, Arrow tables, the CLI's writers).

Pure and dependency-free, so the CLI can import it without loading pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["column_order"]


def column_order(server: list[str], requested: Sequence[str]) -> list[str]:
    """System attributes first, then the requested ones as asked, then the rest (server order)."""
    if not requested:
        return server
    wanted = set(requested)
    # Columns the server always sends (__KEY, __STAMP…) stay first, then the requested
    # ones in the order asked, then anything else in server order.
    head = [c for c in server if c.startswith("__") and c not in wanted]
    on_server = set(server)
    asked = [c for c in requested if c in on_server]
    rest = [c for c in server if c not in wanted and c not in head]
    return head + asked + rest
