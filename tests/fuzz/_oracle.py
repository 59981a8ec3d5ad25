"""What the emulator reads out of a request: decoded parameters and parsed filter comparisons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fourd_emulator._filter import (
    BoolOp,
    Cmp,
    Const,
    InList,
    Node,
    NotOp,
    parse_filter,
    parse_params,
)
from legacy_adapters.fourd._transport import encode_query


def decoded(query_string: str) -> dict[str, str]:
    """Decode a query string as the emulator does (``parse_qsl``, blanks kept)."""
    return dict(parse_qsl(query_string, keep_blank_values=True))


def as_sent(params: list[tuple[str, str]]) -> dict[str, str]:
    """The parameters as they arrive after the transport's percent-encoding."""
    return decoded(encode_query(tuple(params)))


def comparisons(sent: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    """The ``(attribute, op, value)`` of a flat AND of comparisons, params resolved."""
    params = parse_params(sent.get("$params"), "T")
    out: list[tuple[str, str, Any]] = []

    def walk(node: Node) -> None:
        if isinstance(node, BoolOp):
            assert node.op.lower() in {"and", "&"}, node
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Cmp):
            out.append((node.attribute, node.op, resolve(node.value, params)))
        else:  # pragma: no cover - where dicts only build comparisons
            raise AssertionError(node)

    walk(parse_filter(sent["$filter"], "T"))
    return out


def resolve(const: Const, params: list[Any]) -> Any:
    """A constant's value, with ``:n`` replaced by the n-th ``$params`` entry."""
    if const.kind == "param":
        return params[const.value - 1]
    return const.value


def meant(value: Any) -> tuple[str, Any]:
    """The operator and constant a ``field(...) == value`` must reach the emulator as."""
    if isinstance(value, str):
        return ("===" if "@" in value else "="), value
    if isinstance(value, dt.datetime):
        return "=", value.isoformat()
    if isinstance(value, dt.date):
        return "=", value.isoformat()
    return "=", value


def same_value(got: Any, want: Any) -> bool:
    """Equal, and of the same kind (True is not 1, 1.0 may arrive as 1)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return isinstance(got, (int, float)) and got == want
    return bool(got == want) and type(got) is type(want)


def nodes(sent: Mapping[str, str]) -> Node:
    """Parse ``$filter`` with the emulator's parser (raises its FourDError on bad syntax)."""
    return parse_filter(sent["$filter"], "T")


__all__ = ["InList", "NotOp", "as_sent", "comparisons", "decoded", "meant", "nodes", "same_value"]
