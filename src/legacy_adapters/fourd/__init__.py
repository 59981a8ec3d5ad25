"""The 4D REST adapter: transport seam, login, and the reader/writer backend."""

from __future__ import annotations

from ._async_transport import AsyncTransport, HttpxAsyncTransport
from ._backend import FourDBackend
from ._login import Credentials, FourDLogin
from ._transport import HttpRequest, HttpResponse, RequestsTransport, Transport

__all__ = [
    "AsyncTransport",
    "Credentials",
    "FourDBackend",
    "FourDLogin",
    "HttpRequest",
    "HttpResponse",
    "HttpxAsyncTransport",
    "RequestsTransport",
    "Transport",
]
