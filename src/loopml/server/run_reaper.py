"""The server closes runs whose logging process died: every ``LOOPML_RUN_GC_INTERVAL_SECONDS``
(default 60; 0 turns it off) the RUNNING runs silent for longer than
``LOOPML_RUN_LAPSE_SECONDS`` (default 600) are ended KILLED at their last heartbeat, as
``loopml runs gc`` does, and each closure is recorded in the event log. Deployments whose
heartbeat lapsed are marked gone at the same pace, and their serving runs ended KILLED at
their last heartbeat (:func:`loopml.monitoring.deployments.close_gone_deployments`)."""

from __future__ import annotations

import logging
import os
import threading

from loopml.core.errors import ConfigError, LoopMLError
from loopml.monitoring.deployments import close_gone_deployments
from loopml.server.audit import lapsed_run
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore
from loopml.tracking.heartbeat import lapse_seconds

INTERVAL_ENV = "LOOPML_RUN_GC_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 60.0
ACTOR = "loopml-server"

log = logging.getLogger(__name__)


def interval_seconds() -> float:
    text = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_INTERVAL_SECONDS
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(
            f"{INTERVAL_ENV} must be a number of seconds >= 0 (0: off), got {text!r}."
        )
    return value


class RunReaper:
    """A daemon thread closing lapsed runs every ``interval_s`` seconds."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        interval_s: float,
        lapse_s: float,
        loop_store: LoopStore | None = None,
    ) -> None:
        self._store = store
        self._loop_store = loop_store
        self._interval_s = interval_s
        self._lapse_ms = int(lapse_s * 1000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, store: MetadataStore, loop_store: LoopStore | None = None) -> RunReaper:
        return cls(
            store, interval_s=interval_seconds(), lapse_s=lapse_seconds(), loop_store=loop_store
        )

    def start(self) -> None:
        if self._interval_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="loopml-run-gc", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def close_lapsed(self) -> int:
        """Close the lapsed runs now; how many were closed."""
        # each closure's event in the closing transaction
        closed = self._store.close_lapsed_runs(
            self._lapse_ms, event_of=lambda run: lapsed_run(ACTOR, run)
        )
        if self._loop_store is not None:
            for deployment in close_gone_deployments(self._loop_store, self._store):
                payload = {"heartbeat_at": deployment.heartbeat_at, "reason": deployment.end_reason}
                self._store.append_event(
                    actor=ACTOR,
                    action="deployment.gone",
                    target=f"deployment:{deployment.id}",
                    payload=payload,
                )
        return len(closed)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                count = self.close_lapsed()
            except LoopMLError as exc:  # the store is away: try again next time
                log.warning("Could not close lapsed runs: %s", exc)
                continue
            if count:
                log.warning("Closed %d run(s) whose heartbeat lapsed (KILLED).", count)
