"""``loopml predict``'s progress bar: hidden (``--quiet``, ``--json``), it runs no refresh
thread (one that woke ten times a second to draw to nowhere, a sixth of the CPU samples of a
short ``predict -q`` under py-spy); shown, it does."""

from __future__ import annotations

import threading
import time

import pytest

from loopml.cli.predict import _RowProgress


def refreshing() -> bool:
    return any(type(thread).__name__ == "_RefreshThread" for thread in threading.enumerate())


@pytest.mark.parametrize("hidden", [True, False])
def test_only_a_shown_progress_bar_refreshes_in_a_thread(hidden: bool) -> None:
    with _RowProgress(hidden=hidden) as progress:
        progress.update(10, 100)
        assert refreshing() is not hidden
    deadline = time.monotonic() + 10  # Live.stop() tells its thread to end, without a join
    while refreshing() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not refreshing()
