"""Temp folders for large files, and finding the ones a killed process left behind.

Short-lived scratch (a model being registered, a step's output being stored) goes into the
artifact store's own ``tmp/`` folder when it has one, where ``loopml gc`` finds it. Scratch
that must outlive that (a loaded model's files, a step's working folder, the spool of an S3
upload, a quickstart project) goes into the system temp folder, named
``loopml-<kind>-<pid>-…``: ``loopml gc`` removes such a folder only once the process that
made it has ended and it is older than the grace period.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from loopml.stores.artifacts.base import ArtifactStore, StoredObject, scratch_folder
from loopml.stores.artifacts.local_listing import size_and_newest_mtime

SYSTEM_SCRATCH = "scratch"
"""The kind of :class:`StoredObject` for a leftover in the system temp folder."""
_NAME = re.compile(r"^loopml-[a-z-]+?-(\d+)-")


def scratch_prefix(kind: str) -> str:
    """``loopml-<kind>-<pid>-``: the prefix of this process's temp files and folders."""
    return f"loopml-{kind}-{os.getpid()}-"


def scratch_directory(
    kind: str, store: ArtifactStore | None = None
) -> tempfile.TemporaryDirectory[str]:
    """A temp folder removed when the block exits: in ``store``'s scratch folder when it has
    one, else in the system temp folder."""
    folder = scratch_folder(store) if store is not None else None
    return tempfile.TemporaryDirectory(prefix=scratch_prefix(kind), dir=folder)


def list_system_scratch(folder: Path | None = None) -> Iterator[StoredObject]:
    """This user's ``loopml-<kind>-<pid>-…`` leftovers in the system temp folder (or
    ``folder``) whose process has ended; ``name`` is the full path."""
    root = Path(folder or tempfile.gettempdir())
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    uid = getattr(os, "getuid", lambda: None)()
    for entry in entries:
        found = _NAME.match(entry.name)
        if found is None or process_running(int(found.group(1))):
            continue
        with contextlib.suppress(OSError):
            stat = entry.stat(follow_symlinks=False)
            if uid is not None and stat.st_uid != uid:
                continue
            size, mtime = size_and_newest_mtime(Path(entry.path))
            yield StoredObject(SYSTEM_SCRATCH, entry.path, size, mtime)


def remove_system_scratch(item: StoredObject) -> None:
    """Remove one leftover listed by :func:`list_system_scratch`."""
    path = Path(item.name)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def process_running(pid: int) -> bool:
    """Whether process ``pid`` may still run (this one, another user's, or unknown: yes)."""
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no way to ask (then assume it runs)
        return True
    return True
