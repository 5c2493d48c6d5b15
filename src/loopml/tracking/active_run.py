"""``ActiveRun``: a run being logged to, as yielded by ``loopml.start_run``."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from types import TracebackType

from loopml.core.entities import ArtifactEntry, DatasetVersion, Run, RunStatus
from loopml.core.refs import parse_dataset_ref
from loopml.tracking import lifecycle
from loopml.tracking.client import Client


class ActiveRun:
    """Logs to one run. Metrics and tags are batched in the background; params are written
    at once so that re-setting one to a different value fails right at the call."""

    def __init__(
        self, client: Client, run: Run, *, owns_client: bool = False, end_at_exit: bool = True
    ) -> None:
        self.client = client
        self.id = run.id
        self.experiment_id = run.experiment_id
        self.name = run.name
        self.parent_run_id = run.parent_run_id
        self._status = run.status
        self._owns_client = owns_client
        self._end_lock = threading.Lock()
        if end_at_exit:  # False for a run another process opened and will end
            lifecycle.register(self)

    @property
    def status(self) -> RunStatus:
        return self._status

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id} name={self.name!r} status={self._status}>"

    def log_param(self, key: str, value: object) -> None:
        self.client.log_param(self.id, key, value)

    def log_params(self, params: Mapping[str, object]) -> None:
        self.client.log_params(self.id, params)

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self.client.log_metric(self.id, key, value, step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        self.client.log_metrics(self.id, metrics, step=step)

    def set_tag(self, key: str, value: object) -> None:
        self.client.set_tag(self.id, key, value)

    def set_tags(self, tags: Mapping[str, object]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.id, key, value)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        return self.client.log_artifact(self.id, local_path, artifact_path)

    def use_dataset(self, ref: str) -> DatasetVersion:
        """Record that this run reads dataset version ``ref`` ("iris@3", "iris@latest" or
        "iris"; the latter two are pinned to the newest version now) and return it."""
        name, number = parse_dataset_ref(ref)
        version = self.client.metadata.get_dataset_version(name, number)
        self.client.metadata.add_dataset_inputs(self.id, [(version.dataset, version.version)])
        return version

    def flush(self) -> None:
        self.client.flush()

    def get(self) -> Run:
        """The run as stored now (after flushing what is pending)."""
        self.client.flush()
        return self.client.get_run(self.id)

    def end(self, status: RunStatus = RunStatus.FINISHED) -> None:
        """Flush and mark the run ended. Ending twice keeps the first status."""
        with self._end_lock:
            if self._status.is_terminal:
                return
            self._status = status
            lifecycle.unregister(self)
            try:
                self.client.set_terminated(self.id, status)
            finally:
                if self._owns_client:
                    self.client.close()

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED)
        else:
            self.end(RunStatus.FAILED)
