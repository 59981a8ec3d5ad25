"""A faithful 4D REST server emulator (WSGI app and threaded server) for tests and demos."""

from __future__ import annotations

from fourd_emulator._app import Emulator
from fourd_emulator._config import EmulatorConfig, Faults
from fourd_emulator._server import EmulatorServer, make_server, serve

__all__ = ["Emulator", "EmulatorConfig", "EmulatorServer", "Faults", "make_server", "serve"]
