"""FileSessionStore: sessions shared by the processes of one host through a private directory.

The safe successor of ``config.toml``: one file per key (mode 0600, directory 0700),
written by atomic rename; compare-and-set under a short ``fcntl.flock``; the login lock
is an ``flock`` too (the kernel releases it when its holder dies), and a holder that
hangs past its ``ttl`` has its lock file removed so waiters are not blocked forever.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from legacy_core._log import get_logger
from legacy_core.errors import ConfigurationError
from legacy_core.ports import Versioned

from ._backoff import retry_until

__all__ = ["FileSessionStore", "default_session_dir"]

_log = get_logger()
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# Internal mutexes are held for microseconds; waiting this long means a hung process.
_MUTEX_WAIT = 10.0


def default_session_dir() -> Path:
    """Return the per-user default: ``$XDG_CACHE_HOME/legacy_api/sessions`` (``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "legacy_api" / "sessions"


def _file_name(key: str) -> str:
    # Readable prefix for operators plus a hash so sanitising never merges two keys.
    return f"{_UNSAFE.sub('_', key)[:120]}.{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _try_flock(fd: int) -> bool:
    """Take the exclusive ``flock`` of ``fd`` without blocking; False if someone holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


def _flock(fd: int, deadline: float, what: str) -> None:
    retry_until(
        lambda: _try_flock(fd),
        deadline=deadline,
        message=f"{what} still locked by another process",
        first_delay=0.001,
    )


@contextlib.contextmanager
def _mutex(path: Path, wait: float = _MUTEX_WAIT) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _flock(fd, time.monotonic() + wait, f"mutex {path.name}")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@attrs.define(repr=False)
class FileSessionStore:
    """Keys as files in ``directory`` (default: :func:`default_session_dir`)."""

    directory: Path = attrs.field(  # type: ignore[var-annotated]
        default=None, converter=lambda d: Path(d) if d is not None else default_session_dir()
    )

    def __attrs_post_init__(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.directory.stat()
        if info.st_uid != os.geteuid():
            msg = f"session directory {self.directory} belongs to another user; refusing to use it"
            raise ConfigurationError(msg)
        if stat.S_IMODE(info.st_mode) & 0o077:
            # Someone else could read the cookies: tighten it (we own it).
            self.directory.chmod(0o700)

    def __repr__(self) -> str:
        return f"<FileSessionStore {self.directory}>"

    def _path(self, key: str, suffix: str) -> Path:
        return self.directory / f"{_file_name(key)}{suffix}"

    def _read(self, path: Path) -> Versioned | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
            if time.time() >= float(data["expires_at"]):
                return None
            if "payload" in data:
                payload = str(data["payload"]).encode()
            else:
                payload = base64.b64decode(data["payload_b64"])
            return Versioned(int(data["generation"]), payload)
        except (ValueError, KeyError, TypeError):
            _log.warning("legacy_api.session.store_corrupt", path=str(path))
            return None

    def _write(self, path: Path, value: Versioned, ttl: float) -> None:
        document: dict[str, object] = {
            "generation": value.generation,
            "expires_at": time.time() + ttl,
        }
        try:
            # Text stays text (Fernet tokens and JSON are): base64 would only obfuscate.
            document["payload"] = value.payload.decode("utf-8")
        except UnicodeDecodeError:
            document["payload_b64"] = base64.b64encode(value.payload).decode("ascii")
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(document).encode())
            # Same directory, so the rename is atomic: readers see old or new, never half.
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> Versioned | None:
        """Return the current value, or None when absent or expired (renames are atomic)."""
        return self._read(self._path(key, ".json"))

    def compare_and_set(
        self, key: str, expected_generation: int | None, value: Versioned, ttl: float
    ) -> bool:
        """Store ``value`` only if the generation is ``expected_generation`` (None: absent)."""
        path = self._path(key, ".json")
        with _mutex(self._path(key, ".mutex")):
            current = self._read(path)
            found = current.generation if current is not None else None
            if found != expected_generation:
                return False
            self._write(path, value, ttl)
            return True

    def delete_if(self, key: str, generation: int) -> bool:
        """Delete the value only if its generation is ``generation``."""
        path = self._path(key, ".json")
        with _mutex(self._path(key, ".mutex")):
            current = self._read(path)
            if current is None or current.generation != generation:
                return False
            path.unlink(missing_ok=True)
            return True

    @contextlib.contextmanager
    def lock(self, key: str, ttl: float, wait: float) -> Iterator[None]:
        """Hold ``key`` (``flock``) for at most ``ttl`` seconds; LockTimeout after ``wait``."""
        path = self._path(key, ".lock")
        guard = self._path(key, ".guard")
        token = secrets.token_hex(16)
        fd = -1

        def attempt() -> bool:
            nonlocal fd
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if self._try_take(fd, path, guard, token, ttl):
                return True
            os.close(fd)
            self._remove_if_expired(path, guard)
            return False

        retry_until(
            attempt,
            deadline=time.monotonic() + wait,
            message=f"lock {key!r} still held after {wait:g}s",
            first_delay=0.001,
        )
        try:
            yield
        finally:
            # Clear our record first: an unlocked file with an old record must not look
            # "expired but held" to a waiter. If our lock was taken from us after the ttl,
            # this descriptor names the removed file and touches nobody else's.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    @staticmethod
    def _try_take(fd: int, path: Path, guard: Path, token: str, ttl: float) -> bool:
        if not _try_flock(fd):
            return False
        with _mutex(guard):
            # A waiter may have removed an expired lock file between our open and flock:
            # then we hold a lock on a file nobody else sees, which is no lock at all.
            try:
                if path.stat().st_ino != os.fstat(fd).st_ino:
                    return False
            except FileNotFoundError:
                return False
            record = json.dumps(
                {"token": token, "pid": os.getpid(), "expires_at": time.time() + ttl}
            )
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        return True

    @staticmethod
    def _remove_if_expired(path: Path, guard: Path) -> None:
        """Remove the lock file of a holder that overran its ttl (hung, not dead)."""
        with _mutex(guard):
            try:
                data = json.loads(path.read_bytes() or b"{}")
            except (FileNotFoundError, ValueError):
                return
            expires_at = data.get("expires_at")
            if expires_at is None or time.time() < float(expires_at):
                return
            path.unlink(missing_ok=True)
            _log.warning(
                "legacy_api.session.lock_expired",
                lock=path.name,
                holder_pid=data.get("pid"),
                overdue=round(time.time() - float(expires_at), 3),
            )
