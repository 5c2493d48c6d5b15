"""A step's log: what it prints and logs, copied to a file that becomes an artifact of its run
(``step.log``), while still showing where it would have anyway."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TextIO

__all__ = ["LOG_NAME", "captured", "write_exception"]

LOG_NAME = "step.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Tee:
    """A text stream writing to two others (the terminal and the log file)."""

    def __init__(self, shown: TextIO, copy: TextIO) -> None:
        self._shown = shown
        self._copy = copy

    def write(self, text: str) -> int:
        self._copy.write(text)
        return self._shown.write(text)

    def flush(self) -> None:
        self._copy.flush()
        self._shown.flush()

    def isatty(self) -> bool:
        return False


@contextmanager
def captured(path: Path) -> Iterator[TextIO]:
    """Copy stdout, stderr and the root logger's records into ``path`` inside the block
    (process-wide: the local executor runs one step at a time)."""
    with path.open("w", encoding="utf-8") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with redirect_stdout(_Tee(sys.stdout, log)), redirect_stderr(_Tee(sys.stderr, log)):
                yield log
        finally:
            root.removeHandler(handler)


def write_exception(log: TextIO, exc: BaseException) -> None:
    """The traceback of ``exc`` into the log only (the terminal gets the one-line error)."""
    log.write("".join(traceback.format_exception(exc)))
    log.flush()
