"""An exclusive lock on a file, shared by every process (and thread) using one SQLite store.

Two uses: migrations hold it while they upgrade the schema, and write transactions hold it
around ``BEGIN IMMEDIATE … COMMIT``. The second matters for speed: when SQLite's own busy
handler finds the database locked it sleeps 1, 2, 5, 10, … up to 100 ms between retries, so
with a few processes writing at once most time is spent asleep. Waiting here instead retries
within a millisecond of the lock being released. SQLite's busy timeout still applies to
writers that do not use this lock (other tools).

A caller that must not wait (the server's event loop, see ``loopml.server.store_calls``) runs
the store call under :func:`writes_without_waiting`: a lock held by another writer then raises
:class:`WriteLockBusyError` before anything is written, and the caller waits elsewhere.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from loopml.core.errors import BackendUnavailableError

_FIRST_SLEEP_S = 0.0001
_MAX_SLEEP_S = 0.001
_NO_WAITING: ContextVar[bool] = ContextVar("loopml_writes_without_waiting", default=False)


class WriteLockBusyError(BackendUnavailableError):
    """Another writer holds the store's write lock, and this write was told not to wait
    (:func:`writes_without_waiting`); nothing was written. Never reaches a client: the
    server's store calls catch it and wait in the threadpool instead."""

    code = "write_lock_busy"


@contextmanager
def writes_without_waiting() -> Iterator[None]:
    """Writes in this block raise :class:`WriteLockBusyError` instead of waiting for the lock."""
    token = _NO_WAITING.set(True)
    try:
        yield
    finally:
        _NO_WAITING.reset(token)


def lock_file_for(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def exclusive_file_lock(path: Path | None, *, timeout_s: float | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; nothing to do for None or off POSIX.

    Each call opens its own descriptor, so threads of one process exclude each other too.
    After ``timeout_s`` seconds (None: wait forever) :class:`BackendUnavailableError`.
    """
    if path is None or sys.platform == "win32":
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if timeout_s is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        elif _NO_WAITING.get():
            _take_now(fd, path)
        else:
            _poll(fd, path, timeout_s)
        yield
    finally:
        os.close(fd)  # releases the lock


def _take_now(fd: int, path: Path) -> None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WriteLockBusyError(f"Another writer holds {path}.") from None


def _poll(fd: int, path: Path, timeout_s: float) -> None:
    import fcntl

    deadline = time.monotonic() + timeout_s
    sleep = _FIRST_SLEEP_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise BackendUnavailableError(
                    f"Another process has been writing to the store behind {path} for more "
                    f"than {timeout_s:.0f} s; retry, or stop the stuck process."
                ) from None
            time.sleep(sleep)
            sleep = min(sleep * 2, _MAX_SLEEP_S)
