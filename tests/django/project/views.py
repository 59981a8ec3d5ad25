"""Views of the test project that use the client, so errors and request ids go through Django."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from legacy_adapters.django import get_client


def read(request: HttpRequest, table: str) -> JsonResponse:
    """The first rows of ``table`` (``?env=`` picks the environment)."""
    frame = get_client(request.GET.get("env")).fetch_frame(table, limit=3)
    return JsonResponse({"rows": len(frame), "keys": [str(k) for k in frame["__KEY"]]})


def record(request: HttpRequest, table: str, key: str) -> JsonResponse:
    """One record."""
    return JsonResponse(get_client().get_record(table, key, raw=True))


def push(request: HttpRequest, table: str, key: str) -> JsonResponse:
    """Set ``Bezeichnung`` of one record, compare-and-set on ``?stamp=``."""
    stamp = request.GET.get("stamp")
    saved = get_client().push_field(
        table,
        key,
        "Bezeichnung",
        request.GET.get("value", "x"),
        expected_stamp=int(stamp) if stamp else None,
    )
    return JsonResponse({"stamp": saved.stamp})


async def acount(request: HttpRequest, table: str) -> JsonResponse:
    """An async view: the count runs in a worker thread, the request id must follow it."""
    from asgiref.sync import sync_to_async  # noqa: PLC0415

    count = await sync_to_async(get_client().count)(table)
    return JsonResponse({"count": count})
