"""Import every old module with sockets forbidden: importing must not touch the network."""

from __future__ import annotations

import socket
import sys

attempts: list[str] = []
_connect = socket.socket.connect


def _refuse(self: socket.socket, address: object) -> None:
    attempts.append(repr(address))
    msg = "import opened a connection"
    raise OSError(msg)


socket.socket.connect = _refuse  # type: ignore[method-assign]

from _report import report  # noqa: E402

import wsz_api  # noqa: E402, F401
from wsz_api import api_logger  # noqa: E402, F401
from wsz_api.api import WSZ_API  # noqa: E402
from wsz_api.auth import get_session_cookie  # noqa: E402, F401
from wsz_api.getRecord import get_record, getRecord  # noqa: E402, F401
from wsz_api.getTable import fetch_data_from_api  # noqa: E402, F401
from wsz_api.pushField import push_data, push_field_to_api  # noqa: E402, F401

WSZ_API()  # constructing the object connects nothing either
report(attempts=attempts, modules=sorted(m for m in sys.modules if m.startswith("wsz_api")))
