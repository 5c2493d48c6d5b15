"""Finding what a command talks about: the client for this project, a run by (short) id."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopml.core.config import DIR_NAME, load_config
from loopml.core.entities import Run
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.tracking.client import Client

MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


class ExperimentNames:
    """Experiment id → name, looked up once per id."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.names: dict[str, str] = {}

    def __call__(self, experiment_id: str) -> str:
        if experiment_id not in self.names:
            self.names[experiment_id] = self.client.get_experiment(experiment_id).name
        return self.names[experiment_id]


def open_client() -> Client:
    """The client for the nearest project (or ``LOOPML_*`` settings); never creates a project,
    so a command run in the wrong folder says "run loopml init" instead of making one."""
    return Client(create=False)


@contextmanager
def client_creating_project() -> Iterator[Client]:
    """The client for the nearest project, making ``.loopml/`` in the working directory when
    there is none; if the command then fails, the ``.loopml/`` it made is removed again, so a
    failed write outside a project leaves nothing behind."""
    config = load_config()
    made = None
    if config.server_url is None and config.store_uri is None:
        made = Path.cwd().resolve() / DIR_NAME
        if made.exists():  # a file or a broken folder named .loopml: not ours to remove
            made = None
    try:
        with Client(config=config, create=True) as client:
            yield client
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise


def resolve_run(client: Client, run_id: str) -> Run:
    """The run with id ``run_id``, or the only run whose id starts with it (as printed by
    ``loopml runs list``). Unknown or ambiguous ids raise an error naming them."""
    try:
        return client.get_run(run_id)
    except NotFoundError:
        pass
    prefix = run_id.lower()
    if len(prefix) >= MIN_PREFIX and _HEX.fullmatch(prefix):
        page = client.search_runs(filter=f"run_id like '{prefix}%'", max_results=3)
        if len(page) == 1:
            return page[0]
        if len(page) > 1:
            shown = ", ".join(run.id for run in page)
            raise InvalidInputError(
                f"Run id prefix {run_id!r} is ambiguous: it matches {shown}"
                f"{', …' if page.next_page_token else ''}. Give more characters."
            )
    raise NotFoundError(f"No run with id {run_id!r}. List runs with 'loopml runs list'.")
