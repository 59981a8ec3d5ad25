"""4D REST requests: paths, ``$``-parameters and session cookie names. Pure.

What the 4D adapter asks for, as data: ``/rest/{Table}``, ``/rest/{Table}({key})``,
``/rest/{Table}/$entityset/{id}``, ``/rest/$catalog[/{Table}]``, ``/rest/$info``,
``/rest/$directory/login`` and ``/logout``; the query's ``$filter``/``$params``/
``$attributes``/``$orderby``/``$expand`` and its window's ``$skip``/``$top``; which cookies are
4D session cookies.
"""

from __future__ import annotations

from urllib.parse import quote

from legacy_core.model import Query
from legacy_core.query import render

__all__ = [
    "INFO_PATH",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "catalog_path",
    "collection_path",
    "entity_path",
    "entity_set_path",
    "expand_params",
    "is_session_cookie",
    "pick_session_cookie",
    "query_params",
    "window_params",
]

INFO_PATH = "/rest/$info"
LOGIN_PATH = "/rest/$directory/login"
LOGOUT_PATH = "/rest/$directory/logout"


def collection_path(table: str) -> str:
    """``/rest/{Table}``: a dataclass's collection (reads, ``$method=update``)."""
    return f"/rest/{table}"


def entity_set_path(table: str, entity_set: str) -> str:
    """``/rest/{Table}/$entityset/{id}``: pages of a snapshot, and its release."""
    return f"/rest/{table}/$entityset/{quote(entity_set, safe='')}"


def catalog_path(table: str | None = None) -> str:
    """``/rest/$catalog`` (the dataclass names) or ``/rest/$catalog/{Table}`` (a schema)."""
    return "/rest/$catalog" if table is None else f"/rest/$catalog/{table}"


def entity_path(table: str, key: str) -> str:
    """``/rest/{Table}({key})``: the key percent-encoded once (4D keys are hex or digits)."""
    return f"/rest/{table}({quote(key, safe='')})"


def query_params(query: Query) -> list[tuple[str, str]]:
    """Return the decoded ``$filter``/``$params``/``$attributes``/``$orderby`` of a query."""
    params: list[tuple[str, str]] = []
    if query.filter is not None:
        rendered = render(query.filter)
        params.append(("$filter", rendered.text))
        as_json = rendered.params_json()
        if as_json is not None:
            params.append(("$params", as_json))
    if query.attributes:
        params.append(("$attributes", ",".join(query.attributes)))
    if query.order_by:
        order = ", ".join(f"{o.field} {'desc' if o.descending else 'asc'}" for o in query.order_by)
        params.append(("$orderby", order))
    params.extend(expand_params(query))
    return params


def expand_params(query: Query) -> list[tuple[str, str]]:
    """``$expand`` of a query's relations (collections, entity-set pages and entities)."""
    return [("$expand", ",".join(query.expand))] if query.expand else []


def window_params(query: Query) -> list[tuple[str, str]]:
    """``$skip``/``$top`` of a page window."""
    params: list[tuple[str, str]] = []
    if query.skip:
        params.append(("$skip", str(query.skip)))
    if query.top is not None:
        params.append(("$top", str(query.top)))
    return params


def is_session_cookie(name: str) -> bool:
    """Whether ``name`` is a 4D REST session cookie (``WASID4D`` or ``4DSID_<App>``)."""
    return name.upper() == "WASID4D" or name.upper().startswith("4DSID")


def pick_session_cookie(
    set_cookies: tuple[tuple[str, str], ...], *, prefer: str | None = None
) -> tuple[str, str] | None:
    """Return the session cookie a response set (``prefer``'s name first, else the last)."""
    candidates = [(n, v) for n, v in set_cookies if v and is_session_cookie(n)]
    if prefer is not None:
        same = [c for c in candidates if c[0] == prefer]
        if same:
            return same[-1]
    return candidates[-1] if candidates else None
