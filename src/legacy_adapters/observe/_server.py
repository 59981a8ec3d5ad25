"""``legacy-api metrics-server``: serve the multiprocess directory's metrics over HTTP.

A small WSGI app on the standard library's server (one scrape at a time is plenty for a
Prometheus server): ``GET /metrics`` (and ``/``) answer the exposition of every process
that wrote to ``PROMETHEUS_MULTIPROC_DIR``; anything else is 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from legacy_core.errors import ConfigurationError

__all__ = ["make_metrics_server", "metrics_app"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def metrics_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI app: the exposition at ``/metrics``."""
    from legacy_adapters.observe._metrics import exposition  # noqa: PLC0415 - optional extra

    if environ.get("PATH_INFO", "/") not in {"/", "/metrics"}:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: the metrics are at /metrics\n"]
    body, content_type = exposition()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr."""


def make_metrics_server(host: str, port: int) -> WSGIServer:
    """A server for :func:`metrics_app` on ``host:port`` (port 0: a free one).

    Raises ConfigurationError unless multiprocess mode is on: this process has no client
    of its own, so without the directory there would be nothing to serve.
    """
    from legacy_adapters.observe._metrics import MULTIPROC_ENV, multiprocess_dir  # noqa: PLC0415

    directory = multiprocess_dir()
    if directory is None:
        msg = (
            f"metrics-server serves what the client processes wrote to ${MULTIPROC_ENV}; "
            "set it (to the same directory for them and for this command)"
        )
        raise ConfigurationError(msg)
    return make_server(host, port, metrics_app, handler_class=_QuietHandler)
