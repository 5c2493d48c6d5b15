"""Deployments: a model server registers itself, beats, records each version it swaps in and
says goodbye (:class:`DeploymentReporter`); whoever watches the store marks the silent ones
gone and closes their serving runs (:func:`close_gone_deployments`); a prediction id leads
back to the deployment that made it (:func:`resolve_prediction_ids`).

The reporter never breaks serving: a store that is away is logged (once per problem) and the
next beat tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loopml.core.entities import RunStatus
from loopml.core.errors import LoopMLError, NotFoundError
from loopml.core.loop_records import Deployment, NewDeployment
from loopml.core.suggest import did_you_mean
from loopml.monitoring.prediction_ids import is_issued, origin_of
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.run_store import RunStore

__all__ = [
    "DeploymentReporter",
    "IdResolution",
    "close_gone_deployments",
    "end_deployment",
    "find_deployment",
    "resolve_prediction_ids",
]

log = logging.getLogger("loopml.serving")
STOPPED = "stopped"


class DeploymentReporter:
    """Keeps one deployment's record current: registered when its model is first loaded
    (:meth:`served`), beating every ``interval_s`` from then, the version updated at every
    swap, until :meth:`stop`."""

    def __init__(
        self,
        loop: LoopStore,
        deployment: NewDeployment,
        *,
        interval_s: float,
        close_store: bool = False,
    ) -> None:
        self._loop = loop
        self._close_store = close_store
        self._deployment = deployment
        self._interval_s = interval_s
        self._registered = False
        self._version: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: str | None = None
        self._lock = threading.Lock()

    @property
    def deployment_id(self) -> str:
        return self._deployment.id

    def served(self, version: int) -> None:
        """``version`` is serving now: register the deployment (first time) or record it.
        A registration the store refused (it was away) is tried again at every beat."""
        with self._lock:
            self._version = version
            self._call(self._sync_locked)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="loopml-deployment-heartbeat", daemon=True
                )
                self._thread.start()

    def beat(self) -> None:
        with self._lock:
            self._call(self._sync_locked)

    def _sync_locked(self) -> None:
        if not self._registered:
            self._loop.register_deployment(replace(self._deployment, version=self._version))
            self._registered = True
        # a repeated registration returns the stored record: the beat brings it up to date
        self._loop.heartbeat_deployment(self.deployment_id, version=self._version)

    def stop(self) -> None:
        """Stop beating, and close the store if it is the reporter's. The goodbye
        (:func:`end_deployment`) is said once per deployment, by whoever started the server."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._close_store:
            self._loop.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.beat()

    def _call(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except LoopMLError as exc:
            if exc.message != self._reported:  # once per problem, not once per beat
                self._reported = exc.message
                log.warning("deployment %s: %s", self.deployment_id, exc.message)
        else:
            self._reported = None


def end_deployment(loop: LoopStore, deployment_id: str, reason: str = STOPPED) -> None:
    """Say goodbye for a server; nothing to do if it never registered (its model never
    loaded) or the store is away (it will be marked gone instead)."""
    try:
        loop.end_deployment(deployment_id, reason)
    except NotFoundError:
        pass
    except LoopMLError as exc:
        log.warning("deployment %s: could not record its end: %s", deployment_id, exc.message)


def close_gone_deployments(loop: LoopStore, metadata: RunStore) -> list[Deployment]:
    """Mark gone the deployments whose heartbeat lapsed, and end each one's serving run
    KILLED at its last heartbeat (a run already ended, or deleted, is left as it is)."""
    gone = loop.mark_gone_deployments()
    for deployment in gone:
        if deployment.run_id is None:
            continue
        try:
            run = metadata.get_run(deployment.run_id)
        except NotFoundError:
            continue
        if run.status is RunStatus.RUNNING:
            metadata.set_run_status(run.id, RunStatus.KILLED, deployment.heartbeat_at)
    return gone


def find_deployment(loop: LoopStore, deployment_id: str) -> Deployment:
    """The deployment ``deployment_id``, or its unique prefix (as ``list`` shows ids short);
    NotFoundError with a "did you mean" otherwise."""
    try:
        return loop.get_deployment(deployment_id)
    except NotFoundError:
        pass
    known = [d.id for d in loop.list_deployments(max_results=1000)]
    matches = [each for each in known if each.startswith(deployment_id)] if deployment_id else []
    if len(matches) == 1:
        return loop.get_deployment(matches[0])
    hint = did_you_mean(deployment_id, known)
    several = f" It is the start of {len(matches)} ids; give more of it." if matches else ""
    raise NotFoundError(
        f"No deployment {deployment_id!r}.{several}{hint} 'loopml deployments list --all' "
        "lists them."
    )


@dataclass
class IdResolution:
    """Which model each prediction id belongs to (its positions in the input, per model), and
    the positions of the ids no deployment (of the model asked for) made."""

    by_model: dict[str, list[int]] = field(default_factory=dict)
    unknown: list[int] = field(default_factory=list)


def resolve_prediction_ids(
    loop: LoopStore | None, prediction_ids: Sequence[str], *, model: str | None = None
) -> IdResolution:
    """Group ``prediction_ids`` by the model whose deployment made them. An id that names a
    deployment must name a registered one, of ``model`` when given, whose check it passes; an
    id in the short form (from a server without a deployment) counts for ``model`` when it
    passes ``model``'s check, and is unknown when no model is given."""
    resolution = IdResolution()
    models: dict[str, str | None] = {}  # deployment id → its model (None: not registered)
    for index, pid in enumerate(prediction_ids):
        origin = origin_of(pid)
        owner: str | None
        if origin is None:
            owner = model
        else:
            if origin.deployment not in models:
                models[origin.deployment] = _model_of(loop, origin.deployment)
            owner = models[origin.deployment]
            if model is not None and owner != model:
                owner = None
        if owner is not None and is_issued(owner, pid):
            resolution.by_model.setdefault(owner, []).append(index)
        else:
            resolution.unknown.append(index)
    return resolution


def _model_of(loop: LoopStore | None, deployment_id: str) -> str | None:
    if loop is None:
        return None
    try:
        return loop.get_deployment(deployment_id).model
    except NotFoundError:
        return None
