"""The gateway's URLs: ``path("api/", include("legacy_adapters.django.gateway.urls"))``.

``health/``, ``schema/`` (OpenAPI 3 JSON), ``docs/`` (Swagger UI, assets served from the
installed drf-spectacular-sidecar: no internet needed), then per environment and table
``{env}/{table}/``, ``{env}/{table}/describe/`` and ``{env}/{table}/{key}/``.
"""

from __future__ import annotations

from pathlib import Path

from django.urls import URLPattern, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from legacy_adapters.django.gateway.views import DescribeView, HealthView, RecordView, TableView

__all__ = ["app_name", "urlpatterns"]

app_name = "legacy_gateway"


def _sidecar_static() -> str | None:
    try:
        import drf_spectacular_sidecar  # noqa: PLC0415
    except ImportError:
        return None
    return str(Path(drf_spectacular_sidecar.__file__).parent / "static")


urlpatterns: list[URLPattern] = [
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularJSONAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="legacy_gateway:schema"), name="docs"),
    path("<str:env>/<str:table>/", TableView.as_view(), name="table"),
    path("<str:env>/<str:table>/describe/", DescribeView.as_view(), name="describe"),
    path("<str:env>/<str:table>/<str:key>/", RecordView.as_view(), name="record"),
]

_STATIC = _sidecar_static()
if _STATIC is not None:
    # The Swagger UI's own files, from the package (a gateway has no collectstatic step).
    urlpatterns.insert(
        0,
        re_path(
            r"^static/(?P<path>drf_spectacular_sidecar/.*)$",
            serve,
            {"document_root": _STATIC},
            name="static",
        ),
    )
