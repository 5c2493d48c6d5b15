"""``loopml.Client``: the tracking API over a metadata store and an artifact store.

The same methods work embedded (SQLite/PostgreSQL + local/S3) and remote (a ``loopml server``
over HTTP), because both are just implementations of the same store interfaces.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from loopml.core.config import Config, init_project, load_config
from loopml.core.entities import (
    ArtifactEntry,
    ArtifactListing,
    Experiment,
    Metric,
    Page,
    Param,
    Run,
    RunStatus,
    Tag,
)
from loopml.core.errors import ConfigError, NotFoundError
from loopml.core.ids import format_ms, new_id, now_ms
from loopml.core.redaction import redact_uri
from loopml.core.suggest import did_you_mean
from loopml.core.validation import (
    normalize_artifact_path,
    validate_key,
    validate_metric_value,
    validate_name,
    validate_step,
    validate_value,
)
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import DEFAULT_MAX_RESULTS, MetadataStore, NewRun, RunQuery
from loopml.stores.metadata.new_runs import get_or_create_experiment
from loopml.stores.registry import open_artifact_store, open_loop_store, open_metadata_store
from loopml.tracking import artifacts as run_artifacts
from loopml.tracking.batcher import Batcher, BatcherLimits

DEFAULT_EXPERIMENT = "Default"
DROPPED_POINTS_TAG = "loopml.dropped_points"
"""Set on a run whose metrics or tags could not all be stored (how many were lost); such a
run ends FAILED instead of FINISHED."""


@dataclass(frozen=True)
class ClientSpec:
    """How to open a client on the same stores from another process (a pipeline worker, a
    Ray task): the store and artifact URIs, or the server and its token (never shown)."""

    store_uri: str | None = None
    artifact_uri: str | None = None
    server_url: str | None = None
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # a URI may carry user:password@ or ?password=…
        shown = ", ".join(
            f"{name}={redact_uri(value)!r}"
            for name, value in (
                ("store_uri", self.store_uri),
                ("artifact_uri", self.artifact_uri),
                ("server_url", self.server_url),
            )
            if value is not None
        )
        return f"ClientSpec({shown})"

    def open(self) -> Client:
        return Client(
            self.store_uri,
            self.artifact_uri,
            server_url=self.server_url,
            token=self.token,
            create=False,
        )


class Client:
    """Tracking client. With no arguments it uses the nearest ``.loopml/`` (creating one in the
    working directory if there is none), or the server named by ``LOOPML_SERVER_URL``.

    >>> client = Client()                                  # doctest: +SKIP
    >>> client.search_runs(experiment="iris", filter="metrics.acc > 0.9")  # doctest: +SKIP
    """

    def __init__(
        self,
        store_uri: str | None = None,
        artifact_uri: str | None = None,
        *,
        server_url: str | None = None,
        token: str | None = None,
        config: Config | None = None,
        create: bool = True,
    ) -> None:
        config = config or load_config()
        server_url = server_url or (None if store_uri else config.server_url)
        token = token or config.token
        if server_url:
            self.metadata: MetadataStore = open_metadata_store(server_url, token=token)
            self.artifacts: ArtifactStore = open_artifact_store(server_url, token=token)
            self.spec = ClientSpec(server_url=server_url, token=token)
        else:
            if store_uri is None and config.store_uri is None:
                if not create:
                    raise ConfigError(
                        "No loopml project here: no .loopml folder in this directory or its "
                        "parents. Run 'loopml init' or set LOOPML_STORE_URI."
                    )
                config = init_project(Path.cwd())
            store = store_uri or config.store_uri
            artifact_root = artifact_uri or config.artifact_uri
            if store is None or artifact_root is None:
                raise ConfigError("Set both a store URI and an artifact URI.")
            self.metadata = open_metadata_store(store)
            self.artifacts = open_artifact_store(artifact_root)
            if "://" not in artifact_root:  # a local folder: the same one from any directory
                artifact_root = str(Path(artifact_root).resolve())
            self.spec = ClientSpec(store, artifact_root)
        self.project_root: Path | None = config.root
        """The project's ``.loopml`` folder (where its caches live), or None outside one."""
        self.executor: str | None = config.executor
        """The configured executor for pipelines and tuning (``LOOPML_EXECUTOR``), if any."""
        self.batcher = Batcher(
            self.metadata, limits=BatcherLimits.from_env(), spool_dir=_spool_root(config.root)
        )
        # experiments are never renamed or deleted, so a name once resolved stays valid
        self._experiments_by_name: dict[str, Experiment] = {}
        self._experiment_ids: dict[str, str] = {}
        self._loop: LoopStore | None = None
        self._owns_stores = True

    @classmethod
    def over_stores(
        cls,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        *,
        loop: LoopStore | None = None,
        project_root: Path | None = None,
    ) -> Client:
        """A client over stores the caller opened and closes (a server's, the dashboard's), so
        capability functions that take a client run on them; closing it leaves them open."""
        client = cls.__new__(cls)
        client.metadata, client.artifacts = metadata, artifacts
        client.spec = ClientSpec()
        client.project_root, client.executor = project_root, None
        client.batcher = Batcher(metadata, limits=BatcherLimits.from_env())
        client._experiments_by_name, client._experiment_ids = {}, {}
        client._loop, client._owns_stores = loop, False
        return client

    def __repr__(self) -> str:  # the stores, credentials masked (ClientSpec's repr)
        return f"Client({self.spec!r})"

    @property
    def loop(self) -> LoopStore:
        """Deployments, leases and loop decisions, beside the metadata store (opened on first
        use)."""
        if self._loop is None:
            uri = self.spec.server_url or self.spec.store_uri
            if uri is None:  # a client over_stores given no loop store
                raise ConfigError("This client has no store to open the loop store on.")
            self._loop = open_loop_store(uri, token=self.spec.token)
        return self._loop

    # lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Flush pending logs and release the stores' connections."""
        try:
            self.batcher.close()
        finally:
            if self._owns_stores:
                if self._loop is not None:
                    self._loop.close()
                self.metadata.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # experiments ---------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        return self.metadata.create_experiment(validate_name("experiment", name), tags)

    def get_experiment(self, id_or_name: str) -> Experiment:
        """An experiment by id or by name; :class:`NotFoundError` names what was asked."""
        found = self.metadata.get_experiment_by_name(id_or_name)
        if found is not None:
            return found
        try:
            return self.metadata.get_experiment(id_or_name)
        except NotFoundError:
            known = (e.name for e in self.metadata.list_experiments(max_results=1000))
            hint = did_you_mean(id_or_name, known) or " List them with 'loopml experiments list'."
            raise NotFoundError(f"No experiment with name or id {id_or_name!r}.{hint}") from None

    def get_or_create_experiment(self, name: str) -> Experiment:
        cached = self._experiments_by_name.get(name)
        if cached is not None:
            return cached
        found = get_or_create_experiment(self.metadata, name)[0]
        self._experiments_by_name[name] = found
        self._experiment_ids[name] = found.id
        return found

    def list_experiments(
        self, *, max_results: int = DEFAULT_MAX_RESULTS, page_token: str | None = None
    ) -> Page[Experiment]:
        return self.metadata.list_experiments(max_results=max_results, page_token=page_token)

    # runs ----------------------------------------------------------------------------------
    def create_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        capture_system_info: bool = True,
    ) -> Run:
        """Start a RUNNING run in ``experiment`` (a name, created if needed).

        One store call: the experiment goes by name until its id is known, and the run's id is
        chosen here, so a create repeated after a lost answer finds the run it made.
        """
        experiment = validate_name("experiment", experiment)
        experiment_id = self._experiment_ids.get(experiment)
        start = now_ms()
        all_tags = {**(_system_tags() if capture_system_info else {}), **(tags or {})}
        run_name = validate_name("run", name) if name else _default_run_name(start)
        new_run = NewRun(
            experiment_id,
            run_name,
            start,
            parent_run_id=parent_run_id,
            tags=all_tags,
            run_id=new_id(),
            experiment_name=None if experiment_id else experiment,
        )
        run = self.metadata.create_run(new_run)
        self._experiment_ids[experiment] = run.experiment_id
        self.batcher.watch(run.id)  # heartbeats until the run is ended (or the client closed)
        return run

    def get_run(self, run_id: str) -> Run:
        return self.metadata.get_run(run_id)

    def set_terminated(self, run_id: str, status: RunStatus = RunStatus.FINISHED) -> None:
        """Flush what is pending for the run, then mark it ended with ``status`` (even when
        the flush reports a failed write, which is raised afterwards). If some of its
        metrics or tags could not be stored, the run gets the tag ``loopml.dropped_points``
        (how many), a warning goes to stderr, and FINISHED becomes FAILED: a run with holes
        never looks complete."""
        try:
            self.batcher.flush()
        finally:
            self.batcher.unwatch(run_id)
            dropped = self.batcher.dropped(run_id)
            if dropped:
                status = RunStatus.FAILED if status is RunStatus.FINISHED else status
                print(
                    f"loopml: {dropped} metrics/tags logged to run {run_id} could not be "
                    f"stored; the run is marked {status} with tag {DROPPED_POINTS_TAG}={dropped}.",
                    file=sys.stderr,
                )
                self.metadata.log_batch(run_id, tags=[Tag(DROPPED_POINTS_TAG, str(dropped))])
            self.metadata.set_run_status(run_id, status, now_ms())

    def delete_run(self, run_id: str) -> None:
        self.metadata.delete_run(run_id)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = DEFAULT_MAX_RESULTS,
        page_token: str | None = None,
    ) -> Page[Run]:
        """Runs of the named experiment(s) (names or ids; all when None) that match ``filter``,
        e.g. ``"metrics.auc > 0.9 and params.model = 'rf'"``, ordered by ``order_by``
        (``["metrics.auc DESC"]``)."""
        names = [experiment] if isinstance(experiment, str) else list(experiment or [])
        ids = [self.get_experiment(name).id for name in names]
        query = RunQuery(
            experiment_ids=ids,
            filter=filter,
            order_by=list(order_by or []),
            max_results=max_results,
            page_token=page_token,
        )
        return self.metadata.search_runs(query)

    # logging (params synchronous: a conflicting value must fail at the call) -----------------
    def log_param(self, run_id: str, key: str, value: object) -> None:
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, object]) -> None:
        items = [
            Param(validate_key("param", k), validate_value("param", k, v))
            for k, v in params.items()
        ]
        self.metadata.log_batch(run_id, params=items)

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Enqueue a metric; written in the background (see :meth:`flush`)."""
        metric = Metric(
            validate_key("metric", key),
            validate_metric_value(key, value),
            validate_step(key, step),
            timestamp if timestamp is not None else now_ms(),
        )
        self.batcher.add(run_id, metric)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        ts = timestamp if timestamp is not None else now_ms()
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step=step, timestamp=ts)

    def set_tag(self, run_id: str, key: str, value: object) -> None:
        tag = Tag(validate_key("tag", key), validate_value("tag", key, value))
        self.batcher.add(run_id, tag)

    def flush(self) -> None:
        """Block until every enqueued metric and tag is stored; re-raise a failed write."""
        self.batcher.flush()

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self.batcher.flush()
        return self.metadata.get_metric_history(run_id, key)

    # artifacts -----------------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        """Upload a file, or a folder with everything in it, to the run's artifacts."""
        return run_artifacts.upload(
            self.metadata, self.artifacts, run_id, local_path, artifact_path
        )

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactListing]:
        """Files and folders directly inside ``path`` of the run's artifacts."""
        path = normalize_artifact_path(path)
        self.metadata.get_run(run_id)
        entries = self.metadata.list_artifact_entries(run_id, path)
        return run_artifacts.list_children(entries, path)

    def download_artifacts(
        self, run_id: str, path: str = "", dst: str | os.PathLike[str] = "."
    ) -> Path:
        """Download an artifact file or folder into ``dst``; returns the local path."""
        return run_artifacts.download(self.metadata, self.artifacts, run_id, path, dst)


def _spool_root(project_root: Path | None) -> Path:
    """Where unsent metrics wait on disk: the project's cache, else the user's."""
    if project_root is not None:
        return project_root / "cache" / "spool"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loopml" / "spool"


def _default_run_name(start_ms: int) -> str:
    stamp = format_ms(start_ms)[:19].replace("-", "").replace(":", "").replace("T", "-")
    return f"run-{stamp}-{new_id()[:4]}"


@contextmanager
def client_scope(client: Client | None, *, create: bool = True) -> Iterator[Client]:
    """``client`` as is; else the client of the current run (so that library calls inside a
    run or a pipeline step, wherever it executes, use the run's stores); else a client for
    the nearest project that is closed afterwards (``create``: make the project if there is
    none)."""
    if client is not None:
        yield client
        return
    from loopml.tracking.fluent import active_run

    current = active_run()
    if current is not None:
        yield current.client
        return
    with Client(create=create) as owned:
        yield owned


def _system_tags() -> dict[str, str]:
    """The run's system tags (git, Python, host); their module (subprocess, platform, getpass)
    is imported by the commands that start runs, not by every command that reads them."""
    from loopml.tracking.system_info import system_tags

    return system_tags()
