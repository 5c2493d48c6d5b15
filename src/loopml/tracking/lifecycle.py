"""Ending open runs when the process ends: FINISHED at normal exit, FAILED on an uncaught
exception, KILLED on SIGTERM — after flushing what they logged.

This is the one piece of process-wide state in tracking, because ``atexit``, the exception
hook and signal handlers are process-wide themselves.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from loopml.core.entities import RunStatus

if TYPE_CHECKING:
    from loopml.tracking.active_run import ActiveRun


class _OpenRuns:
    def __init__(self) -> None:
        self.runs: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
        self.lock = threading.Lock()
        self.installed = False

    def end_all(self, status: RunStatus) -> None:
        with self.lock:
            runs = list(self.runs)
        for run in reversed(runs):  # children before parents
            try:
                run.end(status)
            except Exception as exc:  # at exit there is no caller left to raise to
                print(f"loopml: could not end run {run.id}: {exc}", file=sys.stderr)


_OPEN = _OpenRuns()


def register(run: ActiveRun) -> None:
    with _OPEN.lock:
        _OPEN.runs.add(run)
        if not _OPEN.installed:
            _install()
            _OPEN.installed = True


def unregister(run: ActiveRun) -> None:
    with _OPEN.lock:
        _OPEN.runs.discard(run)


def _install() -> None:
    atexit.register(_OPEN.end_all, RunStatus.FINISHED)
    previous_hook = sys.excepthook

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        status = RunStatus.KILLED if issubclass(exc_type, KeyboardInterrupt) else RunStatus.FAILED
        _OPEN.end_all(status)
        previous_hook(exc_type, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return  # someone else (a server, a framework) owns SIGTERM; don't take it over

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        _OPEN.end_all(RunStatus.KILLED)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
