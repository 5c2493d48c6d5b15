"""A writer killed with SIGKILL mid-put never leaves a partial or corrupt blob behind."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loopml.core.hashing import Digest, hash_bytes
from loopml.stores.artifacts.local import BLOB_MODE, LocalArtifactStore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

WAIT_S = 30.0

# The child puts into a LocalArtifactStore and writes the marker file when it reaches the
# point where the parent should kill it:
#   stream          half-way through a large (endless) stream
#   before-publish  temp file complete and fsynced, os.replace not yet called
#   after-publish   os.replace done, the folder not yet fsynced
#   churn           after 20 puts of many differently sized blobs; the kill then lands at an
#                   arbitrary moment (mid-write, mid-fsync, mid-rename)
_WRITER = textwrap.dedent(
    """
    import io, os, sys, time
    from pathlib import Path
    from loopml.stores.artifacts.local import LocalArtifactStore

    root, mode, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    store = LocalArtifactStore(root)

    def stop_here(why):
        marker.write_text(why)
        time.sleep(60)  # the parent kills us now

    class Endless(io.RawIOBase):
        def __init__(self):
            self.sent = 0
        def readable(self):
            return True
        def readinto(self, buffer):
            if self.sent >= 8 << 20 and not marker.exists():
                marker.write_text("half-way")
            n = len(buffer)
            buffer[:n] = bytes([self.sent % 251]) * n
            self.sent += n
            return n

    real_replace = os.replace
    def replace(src, dst):
        if mode == "before-publish":
            stop_here(mode)
        real_replace(src, dst)
        if mode == "after-publish":
            stop_here(mode)

    os.replace = replace
    if mode == "stream":
        store.put(Endless())  # never ends
    elif mode in ("before-publish", "after-publish"):
        store.put(io.BytesIO(b"published or not, never partial" * 100_000))
    else:
        i = 0
        while True:
            store.put(io.BytesIO(i.to_bytes(8, "big") * (1 + (i * 7919) % 300_000)))
            if i == 20:
                marker.write_text("churning")
            i += 1
    """
)


def _run_and_kill(root: Path, mode: str, tmp_path: Path, extra_delay: float) -> None:
    marker = tmp_path / f"{mode}.marker"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), mode, str(marker)])
    try:
        deadline = time.monotonic() + WAIT_S
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"the writer exited early with code {child.returncode}")
            if time.monotonic() > deadline:
                pytest.fail(f"the writer did not reach its kill point within {WAIT_S} s")
            time.sleep(0.01)
        time.sleep(extra_delay)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL


def _assert_every_blob_verifies(store: LocalArtifactStore) -> int:
    blobs = sorted(p for p in (store.root / "blobs").rglob("*") if p.is_file())
    for path in blobs:
        digest = Digest.parse(path.parent.name + path.name)
        with store.open(digest) as reader:
            for _chunk in reader:  # IntegrityError at the end if the blob is partial
                pass
        assert path.stat().st_mode & 0o777 == BLOB_MODE
    return len(blobs)


def test_killed_mid_stream_leaves_no_blob_and_the_store_still_works(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    _run_and_kill(store.root, "stream", tmp_path, extra_delay=0.05)

    assert _assert_every_blob_verifies(store) == 0
    leftovers = list((store.root / "tmp").iterdir())
    assert leftovers, "the killed put should have left its temp file (outside blobs/)"
    digest = store.put(io.BytesIO(b"after the crash"))
    assert digest == hash_bytes(b"after the crash")
    assert store.open(digest).read() == b"after the crash"


def test_killed_before_publish_leaves_no_blob(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    _run_and_kill(store.root, "before-publish", tmp_path, extra_delay=0.0)

    assert _assert_every_blob_verifies(store) == 0
    data = b"published or not, never partial" * 100_000
    assert store.put(io.BytesIO(data)) == hash_bytes(data)
    assert _assert_every_blob_verifies(store) == 1


def test_killed_right_after_publish_leaves_a_whole_blob(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    _run_and_kill(store.root, "after-publish", tmp_path, extra_delay=0.0)

    assert _assert_every_blob_verifies(store) == 1
    data = b"published or not, never partial" * 100_000
    assert store.exists(hash_bytes(data))
    assert store.put(io.BytesIO(data)) == hash_bytes(data)  # dedups against it


@pytest.mark.parametrize("delay", [0.0, 0.017, 0.043])
def test_killed_at_an_arbitrary_moment_leaves_only_whole_blobs(
    tmp_path: Path, delay: float
) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    _run_and_kill(store.root, "churn", tmp_path, extra_delay=delay)

    assert _assert_every_blob_verifies(store) >= 20
    digest = store.put(io.BytesIO(b"after the crash"))
    assert store.open(digest).read() == b"after the crash"
