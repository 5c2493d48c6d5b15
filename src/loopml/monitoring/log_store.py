"""Where prediction logs live: each ``loopml serve`` is a run in the experiment ``serving``
(tags ``loopml.model`` and ``loopml.serving``), and its log parts are that run's artifacts,
so any store (embedded or remote) holds them with no table of their own and monitoring finds
them with a run search. Labels sent with ``loopml feedback`` are a run of their own there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from loopml.core.entities import Run
from loopml.tracking.client import Client

__all__ = [
    "EXPERIMENT",
    "KIND_TAG",
    "MODEL_TAG",
    "RunSink",
    "serving_runs",
    "spool_root",
    "start_log_run",
]

EXPERIMENT = "serving"
MODEL_TAG = "loopml.model"
KIND_TAG = "loopml.serving"  # "server" or "feedback"
TARGET_TAG = "loopml.serving.target"
SERVER, FEEDBACK_RUN = "server", "feedback"
SPOOL_ENV = "LOOPML_SPOOL_DIR"


class RunSink:
    """Stores log parts as artifacts of run ``run_id``."""

    def __init__(self, client: Client, run_id: str) -> None:
        self.client = client
        self._run_id = run_id

    @property
    def run_id(self) -> str:
        return self._run_id

    def put(self, file: Path, folder: str) -> None:
        self.client.log_artifact(self._run_id, file, folder)

    def for_run(self, run_id: str) -> RunSink:
        return RunSink(self.client, run_id)


def start_log_run(
    client: Client,
    *,
    model: str,
    kind: str,
    name: str,
    tags: Mapping[str, str] | None = None,
) -> Run:
    """A RUNNING run in ``serving`` for a server (``kind="server"``) or a feedback upload."""
    return client.create_run(
        EXPERIMENT, name=name, tags={MODEL_TAG: model, KIND_TAG: kind, **(tags or {})}
    )


def serving_runs(client: Client, model: str) -> list[Run]:
    """Every run holding a log of ``model`` (servers and feedback uploads), oldest first."""
    from loopml.core.errors import NotFoundError

    try:
        client.get_experiment(EXPERIMENT)
    except NotFoundError:
        return []
    found: list[Run] = []
    token: str | None = None
    quoted = model.replace("'", "''")
    while True:
        page = client.search_runs(
            EXPERIMENT,
            filter=f"tags.`{MODEL_TAG}` = '{quoted}'",
            order_by=["start_time ASC"],
            max_results=1000,
            page_token=token,
        )
        found.extend(run for run in page.items if KIND_TAG in run.tags)
        token = page.next_page_token
        if not token:
            return found


def spool_root(client: Client) -> Path:
    """The local folder for chunks not yet stored: ``LOOPML_SPOOL_DIR``, else the project's
    ``.loopml/spool``, else the user's cache (a server on a remote store)."""
    given = os.environ.get(SPOOL_ENV)
    if given:
        return Path(given)
    if client.project_root is not None:
        return client.project_root / "spool" / "serving"
    from loopml.data.versions import user_cache_dir

    return user_cache_dir() / "spool" / "serving"
