"""Real local servers for tests and benchmarks: a private redis-server and an emulator process.

Applications' own test suites (pyERP's, for example) can use these too::

    from legacy_adapters.testing import private_redis_server

    with private_redis_server() as url:  # $REDIS_URL when set, else a throw-away server
        store = RedisSessionStore(redis.Redis.from_url(url))

Nothing here runs at import time; no Redis client library is needed (the readiness
check speaks the Redis protocol over a plain socket).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["RedisServerError", "emulator_process", "free_port", "private_redis_server"]

_SRC = Path(__file__).resolve().parents[1]
_EMULATOR_URL = re.compile(r"(http://\S+?)/rest/")


class RedisServerError(RuntimeError):
    """No private redis-server could be started (not installed, or it did not answer PING)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as sock:
        sock.settimeout(0.5)
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False


def _stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@contextlib.contextmanager
def private_redis_server(*, attempts: int = 3, start_timeout: float = 10.0) -> Iterator[str]:
    """Yield ``redis://127.0.0.1:PORT/0`` of a throw-away redis-server, or ``$REDIS_URL`` if set.

    The server keeps nothing on disk (``--save "" --appendonly no``, a temporary working
    directory) and is terminated on exit. A port taken between choosing and binding is
    retried up to ``attempts`` times. Point ``REDIS_URL`` only at a disposable server:
    tests flush its databases.
    """
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        msg = "redis-server is not installed and REDIS_URL is not set"
        raise RedisServerError(msg)
    with tempfile.TemporaryDirectory(prefix="legacy-api-redis-") as workdir:
        for _attempt in range(attempts):
            port = free_port()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--dir", workdir]
            # Our own argument list: the binary found on PATH and numbers we chose.
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
            deadline = time.monotonic() + start_timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if _answers_ping(port):
                    try:
                        yield f"redis://127.0.0.1:{port}/0"
                    finally:
                        _stop(proc, 5)
                    return
                time.sleep(0.02)
            _stop(proc, 5)
        msg = f"could not start a private redis-server ({binary}) in {attempts} attempts"
        raise RedisServerError(msg)


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m fourd_emulator --port 0 ARGS`` and yield the process and its base URL.

    The URL is read from the line the command prints once it serves; stdout and stderr
    stay piped (the emulator prints only its start and stop lines), so a caller may
    signal the process and ``communicate()`` with it. It is terminated on exit.
    """
    pythonpath = os.pathsep.join(filter(None, [str(_SRC), os.environ.get("PYTHONPATH")]))
    # The caller's options go to our own emulator's argument parser, never to a shell.
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "fourd_emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    try:
        line = proc.stdout.readline() if proc.stdout is not None else ""
        found = _EMULATOR_URL.search(line)
        if found is None:
            msg = f"the emulator did not start: {line!r}"
            raise RuntimeError(msg)
        yield proc, found.group(1)
    finally:
        _stop(proc, 30)
